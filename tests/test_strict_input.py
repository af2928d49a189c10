"""Public input is strict: a number is a number (not "2", not true), a flag is a flag, a key a body does
not know is refused with its name (an internal field such as `replaces`, an actor field such as
`resolved_by`, a typo), and what is valid still passes: times and enums as strings. The hub's own
order (the workflow's input, in recorded histories) keeps ignoring keys it does not know. Lists name
their item model in the OpenAPI document."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from apikit import api_client
from models.after_sales import AfterSalesRequest
from models.config import Settings
from models.db import session_scope
from models.order import Order, OrderIn
from models.tables import OrderRecord
from orderkit import BUYER, running_worker, settings_for


@pytest.fixture
async def api(sqlite_url, ts_env):
    async with api_client(Settings(database_url=sqlite_url), ts_env.client) as client:
        yield client


def auth(api, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.tokens[role]}"}


def order_body(**overrides: Any) -> dict[str, Any]:
    return {"channel": "own_store", "shop": "default", "external_id": "S1001", "paid": False, "buyer": dict(BUYER),
            "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": 1999}], **overrides}


def fields_of(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


async def orders_written(db_url: str) -> int:
    async with session_scope(db_url) as session:
        return await session.scalar(select(func.count()).select_from(OrderRecord)) or 0


def line(**changes: Any) -> Any:
    return lambda body: body["lines"][0].update(changes)


@pytest.mark.parametrize("mutate, field", [
    (line(quantity="2"), "lines[0].quantity"),
    (line(quantity=True), "lines[0].quantity"),
    (line(quantity=2.0), "lines[0].quantity"),
    (line(unit_price="1999"), "lines[0].unit_price"),
    (line(unit_price=True), "lines[0].unit_price"),
    (line(paid_amount="3998"), "lines[0].paid_amount"),
    (lambda b: b.update(shipping_fee="0"), "shipping_fee"),
    (lambda b: b.update(discount=False), "discount"),
    (lambda b: b.update(paid="true"), "paid"),
    (lambda b: b.update(paid=1), "paid"),
    # internal: an exchange's outbound order names the order it replaces; only the hub sets it
    (lambda b: b.update(replaces="own_store:default:A1"), "replaces"),
    (lambda b: b.update(priority="urgent"), "priority"),  # a typo of priority_tags, not dropped
    (lambda b: b["buyer"].update(nickname="z3"), "buyer.nickname"),
    (line(colour="red"), "lines[0].colour"),
])
async def test_an_order_with_a_loose_or_unknown_field_is_422_naming_it(api, mutate, field):
    body = copy.deepcopy(order_body())
    mutate(body)
    response = await api.post("/v1/orders", json=body, headers=auth(api, "channel"))
    assert response.status_code == 422, response.text
    assert field in fields_of(response)
    assert await orders_written(api.db_url) == 0


async def test_a_presale_plan_names_every_loose_field(api):
    body = order_body(presale={"deposit": "1000", "balance": True, "balance_due_by": "2026-11-10T23:59:59+08:00",
                               "deposit_paid": "yes", "note": "x"})
    response = await api.post("/v1/orders", json=body, headers=auth(api, "channel"))
    assert response.status_code == 422
    assert set(fields_of(response)) == {"presale.deposit", "presale.balance", "presale.deposit_paid", "presale.note"}


async def test_a_valid_order_with_times_and_enums_as_strings_is_accepted(api, ts_env, sandbox_url):
    body = order_body(external_id="S-OK", priority_tags=["presale"], ship_not_before="2030-01-01T00:00:00+08:00",
                      placed_at="2026-11-01T10:00:00Z", buyer_message="  周末送  ",
                      presale={"deposit": 1000, "balance": 2998, "balance_due_by": "2029-12-31T23:59:59+08:00",
                               "deposit_paid": True})
    settings = settings_for(api.db_url, sandbox_url)
    api.app_settings.task_queue = settings.task_queue
    async with running_worker(ts_env.client, settings):
        accepted = await api.post("/v1/orders", json=body, headers=auth(api, "channel"))
        assert accepted.status_code == 201, accepted.text
        order_id = accepted.json()["order_id"]
        detail = (await api.get(f"/v1/orders/{order_id}", headers=auth(api, "operator"))).json()
        assert detail["priority_tags"] == ["presale"] and detail["presale"]["deposit"]["paid"] is True
        assert (await api.post(f"/v1/orders/{order_id}/cancel", headers=auth(api, "operator"))).status_code == 200


@pytest.mark.parametrize("path, body, field", [
    ("/v1/orders/own_store:default:X1/payment", {"amount": "3998"}, "amount"),
    ("/v1/orders/own_store:default:X1/payment", {"amount": True}, "amount"),
    ("/v1/orders/own_store:default:X1/payment", {"paid_by": "op-1"}, "paid_by"),
    ("/v1/orders/own_store:default:X1/cancel", {"reason": "asked", "requested_by": "op-1"}, "requested_by"),
    ("/v1/orders/own_store:default:X1/shipment", {"scanned_by": "wh-1"}, "scanned_by"),
    ("/v1/orders/own_store:default:X1/resolve", {"action": "release", "resolved_by": "op-7"}, "resolved_by"),
    ("/v1/orders/own_store:default:X1/resolve",
     {"action": "update_address", "address": {**BUYER, "floor": 6}}, "address.floor"),
    ("/v1/after-sales/as-x/approve", {"approver": "sl-3"}, "approver"),
    ("/v1/after-sales/as-x/reject", {"comment": "no", "approver": "sl-3"}, "approver"),
    ("/v1/after-sales/as-x/resolve-refund", {"action": "retry", "approver": "fin-1"}, "approver"),
    ("/v1/after-sales/as-x/inspection", {"passed": "true"}, "passed"),
    ("/v1/after-sales/as-x/inspection", {"passed": 1}, "passed"),
    ("/v1/after-sales/as-x/inspection", {"passed": True, "accepted_quantity": "1"}, "accepted_quantity"),
    ("/v1/after-sales/as-x/inspection", {"passed": True, "inspected_by": "wh-1"}, "inspected_by"),
    ("/v1/after-sales/as-x/return-shipped", {"waybill_no": "YT1", "scanned": True}, "scanned"),
    ("/v1/after-sales/as-x/return-received", {"scanned_by": "wh-1"}, "scanned_by"),
    ("/v1/after-sales", {"order_id": "own_store:default:X1", "type": "refund_only", "reason": "quality",
                         "amount": "100"}, "amount"),
    ("/v1/after-sales", {"order_id": "own_store:default:X1", "type": "refund_only", "reason": "quality",
                         "goods_intact": 1}, "goods_intact"),
    ("/v1/after-sales", {"order_id": "own_store:default:X1", "type": "refund_only", "reason": "quality",
                         "lines": [{"sku": "SKU-1", "quantity": True}]}, "lines[0].quantity"),
    ("/v1/after-sales", {"order_id": "own_store:default:X1", "type": "refund_only", "reason": "quality",
                         "lines": [{"sku": "SKU-1", "quantity": 1, "price": 5}]}, "lines[0].price"),
    ("/v1/after-sales", {"order_id": "own_store:default:X1", "type": "refund_only", "reason": "quality",
                         "platform_request_id": "RF-1"}, "platform_request_id"),
    ("/v1/quarantine/1/retry", {"payload": {}, "force": True}, "force"),
    ("/v1/shops", {"channel": "taobao", "shop": "s1", "sync_interval_s": "60",
                   "credentials": {"app_key": "k", "app_secret": "s", "access_token": "t"}}, "sync_interval_s"),
    ("/v1/shops", {"channel": "taobao", "shop": "s1", "credentials": {"app_key": "k", "app_secret": "s",
                                                                      "access_token": "t", "scope": "all"}},
     "credentials.scope"),
])
async def test_every_body_refuses_loose_and_unknown_fields(api, path, body, field):
    response = await api.post(path, json=body, headers=auth(api, "admin"))
    assert response.status_code == 422, response.text
    assert field in fields_of(response)


async def test_put_bodies_are_strict_too(api):
    stock = await api.put("/v1/stock/SKU-1", json={"warehouse": "WH-SH", "on_hand": "5"}, headers=auth(api, "admin"))
    assert stock.status_code == 422 and fields_of(stock) == ["on_hand"]
    safety = await api.put("/v1/stock/SKU-1", json={"warehouse": "WH-SH", "on_hand": 5, "safety_stock": True},
                           headers=auth(api, "admin"))
    assert safety.status_code == 422 and fields_of(safety) == ["safety_stock"]
    shop = await api.put("/v1/shops/taobao/s1", json={"sync_interval_s": 60, "paused": True}, headers=auth(api, "admin"))
    assert shop.status_code == 422 and fields_of(shop) == ["paused"]


def test_the_hubs_order_keeps_its_internal_field_and_ignores_what_it_does_not_know():
    """The workflow's input: a history recorded with a key the model no longer has still replays."""
    posted = OrderIn.model_validate(order_body())
    order = posted.to_order()
    assert type(order) is Order and order.replaces is None and order.order_id == "own_store:default:S1001"
    assert order.model_dump() == {**posted.model_dump(), "replaces": None}
    recorded = Order.model_validate({**order_body(), "replaces": "own_store:default:A1", "gone_field": 1,
                                     "buyer": {**BUYER, "gone": 1}, "lines": [{"sku": "SKU-1", "quantity": 1,
                                                                              "unit_price": 1, "gone": 1}]})
    assert recorded.replaces == "own_store:default:A1" and "gone_field" not in recorded.model_dump()
    with pytest.raises(ValidationError) as loose:  # numbers are strict for the hub's order too
        Order.model_validate(order_body(shipping_fee="10"))
    assert [e["loc"] for e in loose.value.errors()] == [("shipping_fee",)]


def test_a_ticket_request_has_no_field_only_the_hub_sets():
    assert set(AfterSalesRequest.model_fields) == {"order_id", "type", "reason", "description", "lines", "amount",
                                                   "goods_intact", "request_id"}
    assert "replaces" not in OrderIn.model_fields and "replaces" in Order.model_fields


LISTS = {"/v1/orders": "OrderSummary", "/v1/after-sales": "TicketSummary", "/v1/quarantine": "QuarantineItem",
         "/v1/exceptions": "ExceptionItem", "/v1/sla/breaches": "SlaBreachOut",
         "/v1/reconciliation": "ReconciliationDayOut"}


async def test_every_list_names_its_item_model(api):
    spec = (await api.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for path, item in LISTS.items():
        ref = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = schemas[ref.rsplit("/", 1)[1]]
        assert page["properties"]["items"]["items"] == {"$ref": f"#/components/schemas/{item}"}, path
    for path in ("/v1/orders", "/v1/after-sales", "/v1/quarantine", "/v1/sla/breaches"):
        listed = await api.get(path, headers=auth(api, "admin"))
        assert listed.status_code == 200 and listed.json() == {"items": [], "total": 0, "page": 1,
                                                               "page_size": listed.json()["page_size"]}
    days = await api.get("/v1/reconciliation", headers=auth(api, "admin"))
    assert days.status_code == 200 and days.json() == {"items": []}


def test_posted_bodies_are_declared_strict_in_the_schema():
    """What a generated client sees: no extra keys, integers as integers."""
    schema = OrderIn.model_json_schema()
    assert schema["additionalProperties"] is False and "replaces" not in schema["properties"]
    line_schema = schema["$defs"]["OrderLineIn"]
    assert line_schema["additionalProperties"] is False and line_schema["properties"]["quantity"]["type"] == "integer"
