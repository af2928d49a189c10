"""Webhooks of the pushing marketplaces (Shopify, own store): signed, at least once, retried with backoff,
duplicates and out-of-order delivery on demand, payloads the hub's adapters map.

Signatures are checked by hand here (hashlib/hmac, from the reference), not with the hub's verifiers."""

import asyncio
import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest

from activities.channels import adapter_for
from sandbox.app import create_app
from sandbox.config import SandboxSettings

PUSHERS = ["shopify", "own_store"]
FAST = {"webhook_backoff_s": 0.01, "webhook_backoff_max_s": 0.05, "webhook_reorder_hold_s": 0.5}


def shopify_hmac(body: bytes, secret: str) -> str:
    """Reference: `X-Shopify-Hmac-SHA256` = base64 HMAC-SHA256 of the raw body keyed with the app secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verified(channel: str, call) -> bool:
    secret = f"sandbox-secret-{channel}"
    if channel == "shopify":
        return call.headers.get("x-shopify-hmac-sha256") == shopify_hmac(call.body, secret)
    # Own store (our contract): the same HMAC-SHA256 of the body, as lowercase hex.
    return call.headers.get("x-ownstore-hmac-sha256") == hmac.new(secret.encode(), call.body,
                                                                  hashlib.sha256).hexdigest()


def event_id(channel: str, call) -> str:
    return call.headers["x-shopify-event-id" if channel == "shopify" else "x-ownstore-event-id"]


def topic(channel: str, call) -> str:
    return call.headers["x-shopify-topic" if channel == "shopify" else "x-ownstore-topic"]


async def create(sandbox, channel: str, **body) -> list[str]:
    response = await sandbox.client.post(f"/_sandbox/platforms/{channel}/shops/default/orders", json=body)
    assert response.status_code == 200, response.text
    return response.json()["created"]


@pytest.mark.parametrize("channel", PUSHERS)
async def test_new_orders_are_pushed_signed_to_the_hub(make_sandbox, receiver, channel):
    sandbox = await make_sandbox(hub_url=receiver.base_url, **FAST)
    created = await create(sandbox, channel, count=3)
    per_order = 2 if channel == "shopify" else 1  # Shopify: orders/create and orders/paid
    calls = await receiver.wait_for_accepted(3 * per_order)
    await sandbox.app.state.webhooks.idle()
    assert len(receiver.calls) == 3 * per_order
    assert {c.path for c in calls} == {f"/v1/webhooks/{channel}/default"}
    assert all(verified(channel, c) for c in calls)
    assert len({event_id(channel, c) for c in calls}) == len(calls)
    mapped = [adapter_for(channel).map_order(json.loads(c.body), shop="default") for c in calls]
    assert sorted({m.order.external_id for m in mapped}) == sorted(created)
    assert all(m.order.paid for m in mapped)
    if channel == "shopify":
        assert {topic(channel, c) for c in calls} == {"orders/create", "orders/paid"}
        assert {c.headers["x-shopify-shop-domain"] for c in calls} == {"default.myshopify.com"}
    records = (await sandbox.client.get("/_sandbox/records", params={"kind": "webhook"})).json()["items"]
    assert len(records) == 3 * per_order and all(r["result"]["delivered"] == 1 for r in records)


@pytest.mark.parametrize("channel", PUSHERS)
async def test_order_events_follow_in_order(make_sandbox, receiver, channel):
    sandbox = await make_sandbox(hub_url=receiver.base_url, **FAST)
    [external_id] = await create(sandbox, channel, count=1, paid=False)
    for event in ("pay", "refund"):
        response = await sandbox.client.post(
            f"/_sandbox/platforms/{channel}/shops/default/orders/{external_id}/events", json={"event": event})
        assert response.status_code == 200
    calls = await receiver.wait_for_accepted(3)
    expected = {"shopify": ["orders/create", "orders/paid", "orders/updated"],
                "own_store": ["orders/create", "orders/paid", "orders/refunded"]}[channel]
    assert [topic(channel, c) for c in calls] == expected
    states = [adapter_for(channel).map_order(json.loads(c.body), shop="default").state.value for c in calls]
    assert states == ["AWAITING_PAYMENT", "PAID", "REFUNDED"]


@pytest.mark.parametrize("channel", PUSHERS)
async def test_duplicates_repeat_the_event_id(make_sandbox, receiver, channel):
    sandbox = await make_sandbox(hub_url=receiver.base_url, **FAST)
    await create(sandbox, channel, count=2, paid=False, duplicates=1.0)
    calls = await receiver.wait_for_accepted(4)
    ids = [event_id(channel, c) for c in calls]
    assert len(set(ids)) == 2 and all(ids.count(i) == 2 for i in ids)

    # the same through the fault rule
    receiver.calls.clear()
    await sandbox.set_fault(endpoint=f"{channel}.webhook", duplicate_rate=1.0)
    await create(sandbox, channel, count=1, paid=False)
    calls = await receiver.wait_for_accepted(2)
    assert event_id(channel, calls[0]) == event_id(channel, calls[1]) and calls[0].body == calls[1].body


async def test_failed_deliveries_are_retried_with_backoff(make_sandbox, receiver):
    receiver.fail_first = 2
    sandbox = await make_sandbox(hub_url=receiver.base_url, **FAST)
    await create(sandbox, "own_store", count=1)
    await receiver.wait_for_accepted(1)
    assert [c.status for c in receiver.calls] == [500, 500, 200]
    assert receiver.calls[1].at - receiver.calls[0].at >= 0.01  # backoff 0.01 s, then doubled
    assert receiver.calls[2].at - receiver.calls[1].at >= 0.02
    await sandbox.app.state.webhooks.idle()
    [record] = (await sandbox.client.get("/_sandbox/records", params={"kind": "webhook"})).json()["items"]
    assert record["result"]["attempts"] == 3 and record["result"]["delivered"] == 1


async def test_injected_delivery_failures_are_retried(make_sandbox, receiver):
    sandbox = await make_sandbox(hub_url=receiver.base_url, seed=7, **FAST)
    await sandbox.set_fault(endpoint="shopify.webhook", failure_rate=0.5)
    await create(sandbox, "shopify", count=4, paid=False)
    await receiver.wait_for_accepted(4)
    await sandbox.app.state.webhooks.idle()
    records = (await sandbox.client.get("/_sandbox/records", params={"kind": "webhook"})).json()["items"]
    assert all(r["result"]["delivered"] == 1 for r in records)
    assert sum(r["result"]["attempts"] for r in records) > 4


async def test_a_4xx_answer_is_final_except_408_and_429(make_sandbox, receiver):
    receiver.status = 401
    sandbox = await make_sandbox(hub_url=receiver.base_url, **FAST)
    await create(sandbox, "own_store", count=1)
    await sandbox.app.state.webhooks.idle()
    assert [c.status for c in receiver.calls] == [401]
    [record] = (await sandbox.client.get("/_sandbox/records", params={"kind": "webhook"})).json()["items"]
    assert record["result"]["final"] is True and record["result"]["delivered"] == 0

    receiver.calls.clear()
    receiver.status = 429
    sandbox = await make_sandbox(hub_url=receiver.base_url, webhook_max_attempts=3, **FAST)
    await create(sandbox, "own_store", count=1)
    await sandbox.app.state.webhooks.idle()
    assert [c.status for c in receiver.calls] == [429, 429, 429]


async def test_out_of_order_delivers_a_later_event_first(make_sandbox, receiver):
    sandbox = await make_sandbox(hub_url=receiver.base_url, **FAST)
    await sandbox.set_fault(endpoint="own_store.webhook", out_of_order=True)
    [external_id] = await create(sandbox, "own_store", count=1, paid=False)
    await sandbox.client.post(f"/_sandbox/platforms/own_store/shops/default/orders/{external_id}/events",
                              json={"event": "pay"})
    calls = await receiver.wait_for_accepted(2)
    assert [topic("own_store", c) for c in calls] == ["orders/paid", "orders/create"]
    bodies = [json.loads(c.body) for c in calls]
    assert bodies[0]["updated_at"] >= bodies[1]["updated_at"]  # the hub can tell the older one by its time


async def test_pull_platforms_push_nothing_and_a_shop_can_name_its_webhook_url(make_sandbox, receiver):
    sandbox = await make_sandbox(hub_url="http://127.0.0.1:9", **FAST)
    for channel in ("taobao", "jd", "pinduoduo", "douyin"):
        await create(sandbox, channel, count=2)
    await sandbox.client.put("/_sandbox/platforms/shopify/shops/s2", json={
        "app_key": "k2", "app_secret": "s2-secret", "access_token": "t2", "webhook_url": receiver.url})
    response = await sandbox.client.post("/_sandbox/platforms/shopify/shops/s2/orders", json={"count": 1,
                                                                                            "paid": False})
    assert response.status_code == 200
    [call] = await receiver.wait_for_accepted(1)
    assert call.path == "/carrier-callbacks"
    assert call.headers["x-shopify-hmac-sha256"] == shopify_hmac(call.body, "s2-secret")
    records = (await sandbox.client.get("/_sandbox/records", params={"kind": "webhook"})).json()["items"]
    assert [r["body"]["channel"] for r in records] == ["shopify"]


async def test_shutdown_does_not_wait_for_pending_retries(receiver):
    receiver.status = 503
    app = create_app(SandboxSettings(hub_url=receiver.base_url, webhook_backoff_s=30))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as client:
            await client.post("/_sandbox/platforms/own_store/shops/default/orders", json={"count": 3})
            deadline = time.monotonic() + 5
            while len(receiver.calls) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    assert len(receiver.calls) == 3
