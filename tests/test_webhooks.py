"""POST /v1/webhooks/{channel}/{shop}: signature, once per event id, durable hand-off to the order's
workflow, bad payloads quarantined and re-processable. Order ids name the shop: a shop's webhook
reaches that shop's orders only, and two shops' orders with one external id are two orders."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from api.app import create_app
from api.auth import ROLES, issue_token
from models.config import Settings
from models.db import session_scope
from models.order import OrderIn
from models.seed import seed_sandbox_shops
from models.tables import Shop, WebhookEvent
from orderkit import running_worker, settings_for, wait_until
from problemkit import code_of
from workers.scenarios import order_total, pay_at_gateway
from workflows.order import OrderWorkflow

GOLDEN = Path(__file__).parent / "channels" / "golden"
OWN_SECRET = "sandbox-secret-own_store"
SHOPIFY_SECRET = "sandbox-secret-shopify"


@pytest.fixture
async def hub(sqlite_url, ts_env, sandbox_url):
    await seed_sandbox_shops(sqlite_url)
    settings = settings_for(sqlite_url, sandbox_url)
    app = create_app(Settings(database_url=sqlite_url, task_queue=settings.task_queue), migrate=False)
    app.state.temporal = ts_env.client
    tokens = {role: await issue_token(sqlite_url, role) for role in ROLES}
    async with running_worker(ts_env.client, settings), \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        client.tokens, client.sandbox_url = tokens, sandbox_url  # type: ignore[attr-defined]
        yield client


def own_store_order(external_id: str = "W1", **changes) -> dict:
    order = json.loads((GOLDEN / "own_store_order.json").read_text())
    order.update({"shop": "default", "external_id": external_id,
                  "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": 1990}], "discount": 0, **changes})
    return order


async def paid(hub, order: dict) -> dict:
    """The order with a trade its buyer paid at the sandbox gateway (a cancel refunds it there)."""
    out_trade_no = f"{order['shop']}-{order['external_id']}-{uuid.uuid4().hex[:8]}"
    return {**order, "trade_no": await pay_at_gateway(hub.sandbox_url, out_trade_no, order_total(order))}


def unified(own_store: dict) -> dict:
    """The own store's order as POST /v1/orders takes it: without the store's own keys (status,
    paid_amount, updated_at), which the API refuses as unknown."""
    return {key: value for key, value in own_store.items() if key in OrderIn.model_fields}


def signed_own_store(body: bytes, event_id: str, secret: str = OWN_SECRET) -> dict[str, str]:
    return {"X-OwnStore-Hmac-SHA256": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "X-OwnStore-Event-Id": event_id, "content-type": "application/json"}


async def settle(hub, ts_env, order_id: str) -> None:
    """Cancel an order this test started, so no activity is left scheduled when its worker stops."""
    handle = ts_env.client.get_workflow_handle(f"order-{order_id}")
    await wait_until(lambda: handle.query(OrderWorkflow.state), lambda s: s.status != "RECEIVED")
    await hub.post(f"/v1/orders/{order_id}/cancel", headers={"Authorization": f"Bearer {hub.tokens['operator']}"})
    await wait_until(lambda: handle.query(OrderWorkflow.state), lambda s: s.status == "CANCELLED")


async def test_own_store_webhook_starts_the_order_once(hub, ts_env):
    body = json.dumps(await paid(hub, own_store_order("W1"))).encode()
    first = await hub.post("/v1/webhooks/own_store/default", content=body, headers=signed_own_store(body, "evt-1"))
    assert first.status_code == 202 and first.json() == {"accepted": True, "order_id": "own_store:default:W1",
                                                          "outcome": "handed_off"}
    again = await hub.post("/v1/webhooks/own_store/default", content=body, headers=signed_own_store(body, "evt-1"))
    assert again.status_code == 200 and again.json()["duplicate"] is True

    handle = ts_env.client.get_workflow_handle("order-own_store:default:W1")
    state = await wait_until(lambda: handle.query(OrderWorkflow.state), lambda s: s.status == "AWAITING_SCAN")
    assert state.paid and state.reservation.allocations[0].warehouse == "WH-SH"  # 江苏 -> east
    async with session_scope(hub._transport.app.state.settings.db_url) as session:
        event = (await session.execute(select(WebhookEvent))).scalars().one()
    assert (event.status, event.deliveries, event.order_id) == ("HANDED_OFF", 2, "own_store:default:W1")

    # the same order posted to the API afterwards is an order seen before
    posted = await hub.post("/v1/orders", json=unified(json.loads(body)),
                            headers={"Authorization": f"Bearer {hub.tokens['channel']}"})
    assert posted.status_code == 200 and posted.json()["order_id"] == "own_store:default:W1"

    # a later event about the same order reaches the running workflow: the store cancelled it
    cancelled = json.dumps(own_store_order("W1", status="CANCELLED")).encode()
    await hub.post("/v1/webhooks/own_store/default", content=cancelled, headers=signed_own_store(cancelled, "evt-2"))
    state = await wait_until(lambda: handle.query(OrderWorkflow.state), lambda s: s.status == "CANCELLED")
    assert state.cancel_reason.startswith("cancelled on the channel")


async def test_forged_or_misdirected_webhooks_are_refused(hub):
    body = json.dumps(own_store_order("W2")).encode()
    forged = await hub.post("/v1/webhooks/own_store/default", content=body,
                            headers=signed_own_store(body, "evt-f", secret="not-the-secret"))
    assert forged.status_code == 401
    tampered = await hub.post("/v1/webhooks/own_store/default", content=body + b" ",
                              headers=signed_own_store(body, "evt-t"))
    assert tampered.status_code == 401
    # An unknown shop gets the answer a bad signature gets: shop names cannot be probed.
    unknown_shop = await hub.post("/v1/webhooks/own_store/elsewhere", content=body, headers=signed_own_store(body, "e"))
    assert (unknown_shop.status_code, unknown_shop.json()) == (forged.status_code, forged.json())
    pulled = await hub.post("/v1/webhooks/taobao/default", content=body, headers=signed_own_store(body, "e"))
    assert pulled.status_code == 404 and code_of(pulled) == "no_webhooks"


async def test_shopify_webhook_verified_by_base64_hmac(hub, ts_env):
    order = json.loads((GOLDEN / "shopify_order.json").read_text())
    for item in order["line_items"]:
        item["sku"] = "SKU-2"
    order["line_items"] = order["line_items"][:1]
    # Unpaid: the clean-up cancel then owes Shopify no refund for an order only this test knows.
    order["financial_status"] = "pending"
    body = json.dumps(order).encode()
    digest = base64.b64encode(hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    response = await hub.post("/v1/webhooks/shopify/default", content=body, headers={
        "X-Shopify-Hmac-SHA256": digest, "X-Shopify-Event-Id": "sh-1", "X-Shopify-Topic": "orders/create"})
    assert response.status_code == 202, response.text
    assert response.json()["order_id"] == f"shopify:default:{order['id']}"
    await settle(hub, ts_env, response.json()["order_id"])
    forged = await hub.post("/v1/webhooks/shopify/default", content=body, headers={
        "X-Shopify-Hmac-SHA256": base64.b64encode(b"x" * 32).decode(), "X-Shopify-Event-Id": "sh-2"})
    assert forged.status_code == 401


async def test_unmappable_webhook_is_quarantined_and_processed_after_a_fix(hub, ts_env):
    broken = own_store_order("W3")
    del broken["buyer"]["phone"]
    body = json.dumps(broken).encode()
    refused = await hub.post("/v1/webhooks/own_store/default", content=body, headers=signed_own_store(body, "evt-b"))
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "buyer.phone"
    operator = {"Authorization": f"Bearer {hub.tokens['operator']}"}
    listed = (await hub.get("/v1/quarantine", headers=operator)).json()["items"]
    assert [(i["id"], i["source"]) for i in listed] == [(refused.json()["quarantine_id"], "webhook:own_store/default")]

    retried = await hub.post(f"/v1/quarantine/{refused.json()['quarantine_id']}/retry",
                             json={"payload": await paid(hub, own_store_order("W3"))}, headers=operator)
    assert retried.status_code == 202 and retried.json()["order_id"] == "own_store:default:W3"
    await settle(hub, ts_env, "own_store:default:W3")


async def register_own_store_shop(hub, shop: str, secret: str) -> None:
    async with session_scope(hub._transport.app.state.settings.db_url) as session:
        session.add(Shop(channel="own_store", shop=shop, sync_interval_s=300, app_key=f"key-{shop}", app_secret=secret,
                         access_token=f"token-{shop}"))


async def order_detail(hub, order_id: str) -> dict:
    response = await hub.get(f"/v1/orders/{order_id}", headers={"Authorization": f"Bearer {hub.tokens['operator']}"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_two_shops_with_the_same_external_id_are_two_orders(hub, ts_env):
    """Once the second was answered 200 'seen before' and its buyer and lines were dropped."""
    for shop in ("north", "south"):
        await register_own_store_shop(hub, shop, f"secret-{shop}")
    north = own_store_order("D1", shop="north", buyer={**own_store_order()["buyer"], "name": "北方买家"},
                            lines=[{"sku": "SKU-1", "quantity": 1, "unit_price": 1990}])
    south = own_store_order("D1", shop="south", buyer={**own_store_order()["buyer"], "name": "南方买家"},
                            lines=[{"sku": "SKU-2", "quantity": 2, "unit_price": 990}])
    channel = {"Authorization": f"Bearer {hub.tokens['channel']}"}
    first = await hub.post("/v1/orders", json=unified(await paid(hub, north)), headers=channel)
    second = await hub.post("/v1/orders", json=unified(await paid(hub, south)), headers=channel)
    assert (first.status_code, first.json()["order_id"]) == (201, "own_store:north:D1"), first.text
    assert (second.status_code, second.json()["order_id"]) == (201, "own_store:south:D1"), second.text

    for order_id, buyer, lines in (("own_store:north:D1", "北方买家", [("SKU-1", 1)]),
                                   ("own_store:south:D1", "南方买家", [("SKU-2", 2)])):
        detail = await order_detail(hub, order_id)
        assert (detail["shop"], detail["external_id"], detail["buyer"]["name"]) == (order_id.split(":")[1], "D1", buyer)
        assert [(line["sku"], line["quantity"]) for line in detail["lines"]] == lines
        await settle(hub, ts_env, order_id)


async def test_a_webhook_reaches_only_the_orders_of_the_shop_that_signed_it(hub, ts_env):
    """Once a webhook signed with one own-store shop's secret, carrying another shop's external id,
    cancelled that other shop's paid order."""
    for shop in ("north", "south"):
        await register_own_store_shop(hub, shop, f"secret-{shop}")
    south_paid = json.dumps(await paid(hub, own_store_order("S1", shop="south"))).encode()
    handed = await hub.post("/v1/webhooks/own_store/south", content=south_paid,
                            headers=signed_own_store(south_paid, "evt-s1", secret="secret-south"))
    assert handed.status_code == 202 and handed.json()["order_id"] == "own_store:south:S1"
    south = ts_env.client.get_workflow_handle("order-own_store:south:S1")
    await wait_until(lambda: south.query(OrderWorkflow.state), lambda s: s.status == "AWAITING_SCAN")

    # North signs a cancel of external id S1: it speaks for north's orders only.
    cancel = await paid(hub, own_store_order("S1", status="CANCELLED"))  # north's buyer paid, then cancelled
    del cancel["shop"]
    body = json.dumps(cancel).encode()
    answered = await hub.post("/v1/webhooks/own_store/north", content=body,
                              headers=signed_own_store(body, "evt-n1", secret="secret-north"))
    assert answered.status_code == 202 and answered.json()["order_id"] == "own_store:north:S1"
    # Signed by north, sent to south's address: not south's signature.
    misdirected = await hub.post("/v1/webhooks/own_store/south", content=body,
                                 headers=signed_own_store(body, "evt-n2", secret="secret-north"))
    assert misdirected.status_code == 401
    # Signed by north, the payload naming south: refused, kept in quarantine.
    naming_south = json.dumps({**cancel, "shop": "south"}).encode()
    refused = await hub.post("/v1/webhooks/own_store/north", content=naming_south,
                             headers=signed_own_store(naming_south, "evt-n3", secret="secret-north"))
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "shop"

    north = ts_env.client.get_workflow_handle("order-own_store:north:S1")
    await wait_until(lambda: north.query(OrderWorkflow.state), lambda s: s.status == "CANCELLED")
    state = await south.query(OrderWorkflow.state)
    assert (state.status, state.paid, state.cancel_reason) == ("AWAITING_SCAN", True, None)
    assert (await order_detail(hub, "own_store:south:S1"))["status"] == "AWAITING_SCAN"
    await settle(hub, ts_env, "own_store:south:S1")
