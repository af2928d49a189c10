"""API contract: authentication and roles, bad input answered with the field and reason and kept
in quarantine, nothing half-written, stock endpoints."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from api.auth import issue_token
from apikit import api_client
from models.channel_sync import channel_sync_id, stock_sync_id
from models.config import Settings
from models.db import session_scope
from models.principals import principal_by_token, revoke_principal
from models.tables import OrderRecord, QuarantinedPayload, Reservation, utcnow
from orderkit import BUYER, running_worker, settings_for
from problemkit import code_of, is_problem
from workers import stack


@pytest.fixture
async def api(sqlite_url, ts_env):
    async with api_client(Settings(database_url=sqlite_url), ts_env.client) as client:
        client.ts_env = ts_env  # type: ignore[attr-defined]
        yield client


def auth(api, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.tokens[role]}"}


def order_body(**overrides) -> dict:
    return {"channel": "own_store", "shop": "default", "external_id": "A1001", "paid": False, "buyer": BUYER,
            "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": 1999}], **overrides}


async def count(db_url: str, model) -> int:
    async with session_scope(db_url) as session:
        return await session.scalar(select(func.count()).select_from(model))


async def test_health_and_openapi(api):
    assert (await api.get("/healthz")).json() == {"ok": True}
    spec = (await api.get("/openapi.json")).json()
    assert {"/v1/orders", "/v1/orders/{order_id}", "/v1/orders/{order_id}/payment", "/v1/orders/{order_id}/cancel",
            "/v1/orders/{order_id}/shipment", "/v1/warehouses", "/v1/stock/{sku}"} <= set(spec["paths"])
    assert (await api.get("/docs")).status_code == 200


async def test_token_and_role_required(api):
    assert (await api.get("/v1/warehouses")).status_code == 401
    assert (await api.get("/v1/warehouses", headers={"Authorization": "Bearer nope"})).status_code == 401
    refused = await api.post("/v1/orders", json=order_body(), headers=auth(api, "operator"))
    assert refused.status_code == 403 and "channel" in refused.json()["detail"] and is_problem(refused)
    stock = await api.put("/v1/stock/SKU-1", json={"warehouse": "WH-SH", "on_hand": 1}, headers=auth(api, "channel"))
    assert stock.status_code == 403


async def test_principals_issued_and_revoked_over_http_are_audited_and_take_effect_at_once(api):
    issued = await api.post("/v1/principals", json={"role": "channel", "name": "douyin-app", "channel": "douyin",
                                                    "shop": "default"}, headers=auth(api, "admin"))
    assert issued.status_code == 201, issued.text
    token, principal_id = issued.json()["token"], issued.json()["id"]
    scoped = {"Authorization": f"Bearer {token}"}
    assert (await api.get("/v1/orders", headers=scoped)).status_code == 200
    revoked = await api.delete(f"/v1/principals/{principal_id}", headers=auth(api, "admin"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    refused = await api.get("/v1/orders", headers=scoped)
    assert refused.status_code == 401 and refused.json()["detail"] == "token revoked"
    trail = (await api.get("/v1/audit", params={"object_type": "principal", "object_id": principal_id},
                           headers=auth(api, "admin"))).json()["items"]
    assert [(e["action"], e["before"], e["after"] and sorted(e["after"])) for e in trail] == [
        ("token.revoke", {"revoked_at": None}, ["revoked_at"]),
        ("token.issue", None, ["expires_at", "name", "role", "scopes"]),
    ]
    assert trail[1]["after"]["scopes"] == [{"channel": "douyin", "shop": "default"}]
    assert all("token" not in str(e["after"]) or "oh_" not in str(e["after"]) for e in trail)


async def test_a_revoked_token_stops_working_on_the_next_request(api):
    """No cache: every request looks its token up, so a revoke holds at once; a new token works at once."""
    headers = auth(api, "operator")
    assert (await api.get("/v1/warehouses", headers=headers)).status_code == 200
    principal, _ = await principal_by_token(api.db_url, api.tokens["operator"], utcnow())
    await revoke_principal(api.db_url, principal.id, utcnow())
    assert (await api.get("/v1/warehouses", headers=headers)).status_code == 401
    fresh = await issue_token(api.db_url, "operator")
    assert (await api.get("/v1/warehouses", headers={"Authorization": f"Bearer {fresh}"})).status_code == 200


@pytest.mark.parametrize("mutate, field", [
    (lambda b: b.pop("external_id"), "external_id"),
    (lambda b: b.update(external_id="A/1"), "external_id"),
    (lambda b: b.update(channel="ebay"), "channel"),
    (lambda b: b["buyer"].pop("phone"), "buyer.phone"),
    (lambda b: b.update(lines=[]), "lines"),
    (lambda b: b["lines"][0].update(quantity=0), "lines[0].quantity"),
    (lambda b: b["lines"][0].update(unit_price=19.99), "lines[0].unit_price"),
    (lambda b: b.update(lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": 1}] * 2), "lines"),
    # money and quantities past what the database holds (2**63 was accepted and overflowed for ever)
    (lambda b: b.update(shipping_fee=2**63), "shipping_fee"),
    (lambda b: b.update(discount=2**63), "discount"),
    (lambda b: b["lines"][0].update(unit_price=2**31), "lines[0].unit_price"),
    (lambda b: b["lines"][0].update(quantity=10_001), "lines[0].quantity"),
    (lambda b: b["lines"][0].update(quantity=10_000, unit_price=200_001), "lines"),
])
async def test_bad_order_is_422_naming_the_field_and_quarantined(api, mutate, field):
    body = json.loads(json.dumps(order_body()))
    body["buyer"] = dict(BUYER)
    mutate(body)
    response = await api.post("/v1/orders", json=body, headers=auth(api, "channel"))
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]
    async with session_scope(api.db_url) as session:
        kept = await session.get(QuarantinedPayload, response.json()["quarantine_id"])
    assert json.loads(kept.payload) == body and field in kept.reason
    assert await count(api.db_url, OrderRecord) == 0


async def test_unknown_sku_is_refused_and_nothing_is_written(api, ts_env):
    body = order_body(lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": 1},
                             {"sku": "NO-SUCH", "quantity": 1, "unit_price": 1}])
    response = await api.post("/v1/orders", json=body, headers=auth(api, "channel"))
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "lines[1].sku", "reason": "unknown sku NO-SUCH"}]
    assert await count(api.db_url, OrderRecord) == 0 and await count(api.db_url, Reservation) == 0
    with pytest.raises(RPCError) as missing:
        await ts_env.client.get_workflow_handle("order-own_store:default:A1001").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_a_payment_amount_past_its_bound_is_422_naming_it(api):
    response = await api.post("/v1/orders/own_store:default:NOPE/payment", json={"amount": 2**63}, headers=auth(api, "channel"))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["amount"]


async def test_an_order_for_a_shop_not_registered_is_refused_and_kept(api, ts_env):
    """Refused at intake (422 naming `shop`), not at ship-back after the goods have left."""
    body = order_body(shop="nowhere", external_id="U1")
    response = await api.post("/v1/orders", json=body, headers=auth(api, "channel"))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "shop", "reason": "no shop own_store/nowhere is registered (POST /v1/shops)"}]
    async with session_scope(api.db_url) as session:
        kept = await session.get(QuarantinedPayload, response.json()["quarantine_id"])
    assert json.loads(kept.payload) == body and "own_store/nowhere" in kept.reason
    assert await count(api.db_url, OrderRecord) == 0
    with pytest.raises(RPCError):
        await ts_env.client.get_workflow_handle("order-own_store:nowhere:U1").describe()


async def test_a_pushed_order_for_a_shop_no_longer_registered_stays_in_quarantine(api):
    """The webhook and pull hand-off check the shop too: a stored webhook payload of a shop removed
    since is not started when retried, and stays quarantined with the reason."""
    payload = {**order_body(external_id="G1"), "shop": "gone", "updated_at": "2026-11-11T00:00:00+08:00"}
    async with session_scope(api.db_url) as session:
        item = QuarantinedPayload(source="webhook:own_store/gone", payload=json.dumps(payload), reason="earlier")
        session.add(item)
        await session.flush()
        qid = item.id
    retried = await api.post(f"/v1/quarantine/{qid}/retry", headers=auth(api, "operator"))
    assert retried.status_code == 422 and retried.json()["errors"][0]["field"] == "shop"
    async with session_scope(api.db_url) as session:
        kept = await session.get(QuarantinedPayload, qid)
    assert kept.status == "QUARANTINED" and "own_store/gone" in kept.reason
    assert await count(api.db_url, OrderRecord) == 0


async def test_unknown_order_is_404(api):
    assert (await api.get("/v1/orders/own_store:default:NOPE", headers=auth(api, "operator"))).status_code == 404
    response = await api.post("/v1/orders/own_store:default:NOPE/cancel", headers=auth(api, "operator"))
    assert response.status_code == 404


async def test_warehouses_and_stock(api):
    warehouses = (await api.get("/v1/warehouses", headers=auth(api, "operator"))).json()
    assert len({w["region"] for w in warehouses}) >= 2
    stock = (await api.get("/v1/stock/SKU-1", headers=auth(api, "channel"))).json()
    assert stock["available_to_sell"] == 490 + 290 + 190
    assert {w["warehouse"]: w["available"] for w in stock["warehouses"]}["WH-SH"] == 490

    created = await api.put("/v1/stock/NEW-1", json={"warehouse": "WH-BJ", "on_hand": 7, "safety_stock": 2},
                            headers=auth(api, "admin"))
    assert created.status_code == 200
    assert created.json()["warehouses"] == [{"warehouse": "WH-BJ", "on_hand": 7, "reserved": 0, "safety_stock": 2,
                                             "available": 5, "awaiting_inspection": 0, "damaged": 0}]
    updated = await api.put("/v1/stock/NEW-1", json={"warehouse": "WH-BJ", "on_hand": 9}, headers=auth(api, "admin"))
    assert updated.json()["warehouses"][0]["safety_stock"] == 2 and updated.json()["available_to_sell"] == 7
    # The audit trail holds both changes, old and new on_hand and safety_stock, and who made them.
    trail = (await api.get("/v1/audit", params={"object_type": "stock", "object_id": "NEW-1@WH-BJ"},
                           headers=auth(api, "admin"))).json()
    admin, _ = await principal_by_token(api.db_url, api.tokens["admin"], utcnow())
    assert [(e["action"], e["before"], e["after"], e["actor_id"], e["outcome"]) for e in trail["items"]] == [
        ("put_stock", {"on_hand": 7, "safety_stock": 2}, {"on_hand": 9, "safety_stock": 2}, admin.id, "ok"),
        ("put_stock", None, {"on_hand": 7, "safety_stock": 2}, admin.id, "ok"),
    ]

    # Each change was handed to the sku's stock push (no worker here: the workflow waits, and is removed).
    push = api.ts_env.client.get_workflow_handle(stock_sync_id("NEW-1"))
    history = [e async for e in push.fetch_history_events()]
    assert sum(e.HasField("workflow_execution_signaled_event_attributes") for e in history) == 2
    await push.terminate("test over")


async def test_stock_bad_input(api):
    unknown = await api.put("/v1/stock/SKU-1", json={"warehouse": "WH-XX", "on_hand": 1}, headers=auth(api, "admin"))
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "warehouse"
    negative = await api.put("/v1/stock/SKU-1", json={"warehouse": "WH-SH", "on_hand": -1}, headers=auth(api, "admin"))
    assert negative.status_code == 422 and negative.json()["errors"][0]["field"] == "on_hand"
    assert (await api.get("/v1/stock/NOPE", headers=auth(api, "admin"))).status_code == 404


async def test_orders_list_filters_and_pages(api):
    listing = await api.get("/v1/orders", params={"status": "SHIPPED", "channel": "own_store", "page": 1},
                            headers=auth(api, "operator"))
    assert listing.status_code == 200 and listing.json()["items"] == [] and listing.json()["total"] == 0
    bad = await api.get("/v1/orders", params={"status": "LOST"}, headers=auth(api, "operator"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


async def test_shops_register_list_masked_and_update(api, ts_env):
    body = {"channel": "taobao", "shop": "flagship", "sync_interval_s": 120,
            "credentials": {"app_key": "12345678", "app_secret": "s3cr3t-app-secret", "access_token": "6201f7a9tokenvalue"}}
    created = await api.post("/v1/shops", json=body, headers=auth(api, "admin"))
    assert created.status_code == 201
    assert created.json()["app_secret"] == "s3****et" and created.json()["access_token"] == "62****ue"
    assert (await api.post("/v1/shops", json=body, headers=auth(api, "admin"))).status_code == 409
    assert (await api.post("/v1/shops", json=body, headers=auth(api, "operator"))).status_code == 403
    bad = await api.post("/v1/shops", json={**body, "channel": "ebay"}, headers=auth(api, "admin"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "channel"

    listed = (await api.get("/v1/shops", headers=auth(api, "operator"))).json()
    assert [(s["channel"], s["shop"], s["status"]) for s in listed if s["channel"] == "taobao"] == [
        ("taobao", "flagship", "ACTIVE")]
    assert "s3cr3t-app-secret" not in json.dumps(listed) and "6201f7a9tokenvalue" not in json.dumps(listed)

    updated = await api.put("/v1/shops/taobao/flagship", json={"access_token": "new-token-123456"},
                            headers=auth(api, "admin"))
    assert updated.status_code == 200 and updated.json()["access_token"] == "ne****56"
    assert (await api.put("/v1/shops/jd/nope", json={}, headers=auth(api, "admin"))).status_code == 404

    # Registering started the shop's ChannelSync workflow (no worker here: it waits, and is removed).
    sync = ts_env.client.get_workflow_handle(channel_sync_id("taobao", "flagship"))
    assert (await sync.describe()).workflow_type == "ChannelSyncWorkflow"
    await sync.terminate("test over")


async def test_quarantined_order_is_listed_and_processed_after_a_fix(api, ts_env, sandbox_url):
    body = order_body(external_id="Q1", lines=[{"sku": "SKU-9", "quantity": 1, "unit_price": 100}])
    refused = await api.post("/v1/orders", json=body, headers=auth(api, "channel"))
    assert refused.status_code == 422
    qid = refused.json()["quarantine_id"]
    listing = (await api.get("/v1/quarantine", headers=auth(api, "operator"))).json()
    assert [i["id"] for i in listing["items"]] == [qid] and "unknown sku SKU-9" in listing["items"][0]["reason"]

    still_bad = await api.post(f"/v1/quarantine/{qid}/retry", headers=auth(api, "operator"))
    assert still_bad.status_code == 422 and still_bad.json()["errors"][0]["field"] == "lines[0].sku"

    fixed = {**body, "lines": [{"sku": "SKU-2", "quantity": 1, "unit_price": 100}]}
    settings = settings_for(api.db_url, sandbox_url)
    api.app_settings.task_queue = settings.task_queue
    async with running_worker(ts_env.client, settings):
        processed = await api.post(f"/v1/quarantine/{qid}/retry", json={"payload": fixed},
                                   headers=auth(api, "operator"))
        assert processed.status_code == 201 and processed.json()["order_id"] == "own_store:default:Q1"
        await api.post("/v1/orders/own_store:default:Q1/cancel", headers=auth(api, "operator"))
    resolved = (await api.get("/v1/quarantine", params={"status": "RESOLVED"}, headers=auth(api, "operator"))).json()
    assert resolved["items"][0]["resolution"] == "order own_store:default:Q1" and resolved["items"][0]["retries"] == 2
    again = await api.post(f"/v1/quarantine/{qid}/retry", headers=auth(api, "operator"))
    assert again.status_code == 409


async def test_engine_unreachable_is_503_and_writes_nothing(sqlite_url):
    from workers.stack import free_port

    app = create_app(Settings(database_url=sqlite_url, temporal_address=f"127.0.0.1:{free_port()}"), migrate=False)
    token = await issue_token(sqlite_url, "channel")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        response = await client.post("/v1/orders", json=order_body(), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503 and "unreachable" in response.json()["detail"] and is_problem(response)
    assert code_of(response) == "workflow_engine_unavailable"
    assert await count(sqlite_url, OrderRecord) == 0


async def test_database_outage_is_a_503_to_retry_not_a_500(ts_env):
    """A database that refuses connections (down, or the link cut) is an outage the caller retries."""
    app = create_app(Settings(database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{stack.free_port()}/x"),
                     migrate=False)
    app.state.temporal = ts_env.client
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        response = await client.get("/v1/orders", headers={"Authorization": "Bearer some-token"})
    assert response.status_code == 503, response.text
    assert code_of(response) == "database_unavailable" and response.headers["Retry-After"] == "1"


async def test_money_arriving_for_a_cancelled_order_is_held_and_shown_never_lost(api, ts_env, sandbox_url):
    settings = settings_for(api.db_url, sandbox_url)
    api.app_settings.task_queue = settings.task_queue
    async with running_worker(ts_env.client, settings):
        created = await api.post("/v1/orders", json=order_body(external_id="LATE1"), headers=auth(api, "channel"))
        order_id = created.json()["order_id"]
        cancelled = await api.post(f"/v1/orders/{order_id}/cancel", headers=auth(api, "operator"))
        assert cancelled.json()["status"] == "CANCELLED"
        late = {"trade_no": "PAY-LATE-1", "amount": 3998}
        for _ in range(2):  # the gateway's callback, delivered twice
            refused = await api.post(f"/v1/orders/{order_id}/payment", json=late, headers=auth(api, "channel"))
            # order_closed once its workflow has ended, order_cancelled while it is still winding up
            assert refused.status_code == 409 and code_of(refused) in ("order_closed", "order_cancelled")
    money = (await api.get(f"/v1/orders/{order_id}", headers=auth(api, "operator"))).json()["money"]
    assert (money["received_fen"], money["held_fen"], money["refundable_fen"]) == (0, 3998, 0)
    assert [(e["direction"], e["reference"], e["amount"], e["status"], e["source"]) for e in money["entries"]] == \
        [("in", "PAY-LATE-1", 3998, "held", "late_payment")]


@pytest.mark.parametrize("path", ["/v1/orders", "/v1/after-sales"])
async def test_nothing_is_kept_from_a_caller_without_the_right_token(api, path):
    """A body that fails to parse used to be quarantined before the route's token check ran: anyone
    could write to the database."""
    broken = b'{"channel": "own_store", "lines": [' + b"x" * 1000
    for headers, status in (({}, 401), ({"Authorization": "Bearer not-a-token"}, 401), (auth(api, "finance"), 403)):
        refused = await api.post(path, content=broken, headers={"content-type": "application/json", **headers})
        assert refused.status_code == status, refused.text
    assert await count(api.db_url, QuarantinedPayload) == 0
    allowed = await api.post(path, content=broken, headers={"content-type": "application/json", **auth(api, "admin")})
    assert allowed.status_code == 422 and allowed.json()["quarantine_id"]
    assert await count(api.db_url, QuarantinedPayload) == 1


async def test_a_body_over_the_limit_is_413_and_kept_nowhere(api):
    big = b'{"channel": "' + b"x" * (api.app_settings.api_max_body_bytes + 1) + b'"}'
    declared = await api.post("/v1/orders", content=big, headers={"content-type": "application/json", **auth(api, "channel")})
    assert (declared.status_code, code_of(declared)) == (413, "payload_too_large")

    async def chunks():  # no Content-Length: counted as it streams
        for at in range(0, len(big), 65536):
            yield big[at:at + 65536]
    streamed = await api.post("/v1/orders", content=chunks(), headers={"content-type": "application/json",
                                                                          **auth(api, "channel")})
    assert (streamed.status_code, code_of(streamed)) == (413, "payload_too_large")
    assert await count(api.db_url, QuarantinedPayload) == 0
