"""After-sales refunds told to the order's platform: ChannelTransport.push_refund against the sandbox
marketplaces over HTTP (the sandbox app over ASGI), and the push_refund_to_channel activity in Temporal's
ActivityEnvironment against the sandbox running as its own process."""

from __future__ import annotations

import uuid

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.channels import ADAPTERS
from activities.channels.transport import ChannelCallError
from channelkit import sandbox_market
from models.channel import PushRefundInput
from models.db import session_scope
from models.tables import Shop

CHANNELS = sorted(ADAPTERS)
ROUTER = ["douyin", "jd", "pinduoduo", "taobao"]
SIGN_ERRORS = {"taobao": "25", "jd": "14", "pinduoduo": "10016", "douyin": "isv.signature-invalid"}
AUTH_ERRORS = {"taobao": "invalid-sessionkey", "jd": "19", "pinduoduo": "10019", "douyin": "isv.access-token-expired",
               "shopify": "401", "own_store": "UNAUTHORIZED"}
NOT_FOUND = {"taobao": "isv.trade-not-exist", "jd": "10100", "pinduoduo": "50001",
             "douyin": "isv.business-failed:order-not-exist", "shopify": "404"}


@pytest.fixture
async def market():
    async with sandbox_market(hub_url="http://127.0.0.1:9") as market:  # nothing listens: webhooks go nowhere
        yield market


async def refund(market, channel: str, external_id: str, refund_id: str = "AS-1", amount: int = 450,
                 status: str = "REFUNDED", reason: str = "damaged in transit", **access_changes: str) -> None:
    await market.transport.push_refund(market.access(channel, **access_changes), external_id=external_id,
                                       refund_id=refund_id, amount=amount, status=status, reason=reason)


@pytest.mark.parametrize("channel", CHANNELS)
async def test_refund_is_recorded_once_with_its_amount_in_fen(market, channel):
    [external_id] = await market.create(channel)
    before = await market.order(channel, external_id)
    for _ in range(2):  # a retried activity
        await refund(market, channel, external_id)
    [record] = await market.records("channel_refund", channel=channel)
    assert record["key"] == f"{channel}/default/{external_id}/AS-1"
    assert {k: record["body"][k] for k in ("external_id", "refund_id", "amount", "status", "reason")} == {
        "external_id": external_id, "refund_id": "AS-1", "amount": 450, "status": "REFUNDED",
        "reason": "damaged in transit"}
    # Shopify: the transport finds its own refund and does not post again; the others dedupe at the platform
    assert record["received"] == (1 if channel == "shopify" else 2)
    order = await market.order(channel, external_id)
    assert order["refunds"] == [{"refund_id": "AS-1", "status": "REFUNDED", "amount": 450}]
    # the platform status stays as it was: a hub-made refund does not come back as a channel-side cancel
    assert (order["status"], order["modified"]) == (before["status"], before["modified"])

    # a second ticket on the same order is a second refund, up to what was paid (at least 490 fen here)
    await refund(market, channel, external_id, refund_id="AS-2", amount=1)
    assert len(await market.records("channel_refund", channel=channel)) == 2


@pytest.mark.parametrize("channel", CHANNELS)
async def test_refused_refund_is_told_except_to_shopify(market, channel):
    [external_id] = await market.create(channel)
    for _ in range(2):
        await refund(market, channel, external_id, refund_id="AS-9", amount=500, status="REJECTED",
                     reason="no defect found")
    records = await market.records("channel_refund", channel=channel)
    if channel == "shopify":  # nothing to decline at Shopify: nothing sent
        assert records == []
        return
    [record] = records
    assert (record["body"]["status"], record["body"]["amount"], record["received"]) == ("REJECTED", 500, 2)


@pytest.mark.parametrize("channel", ROUTER)
async def test_bad_signature_is_refused_and_records_nothing(market, channel):
    [external_id] = await market.create(channel)
    with pytest.raises(ChannelCallError) as err:
        await refund(market, channel, external_id, app_secret="not-the-secret")
    assert (err.value.kind, err.value.code) == ("refused", SIGN_ERRORS[channel])
    assert await market.records("channel_refund") == []


@pytest.mark.parametrize("channel", CHANNELS)
async def test_expired_token_is_auth(market, channel):
    [external_id] = await market.create(channel)
    await market.control("POST", f"/{channel}/shops/default/token", json={"action": "expire"})
    with pytest.raises(ChannelCallError) as err:
        await refund(market, channel, external_id)
    assert (err.value.kind, err.value.code) == ("auth", AUTH_ERRORS[channel])
    assert "sandbox-token" not in str(err.value)
    assert await market.records("channel_refund") == []


@pytest.mark.parametrize("channel", CHANNELS)
async def test_unknown_order_is_refused(market, channel):
    if channel == "own_store":  # like its shipments: orders posted to the hub directly are taken too
        await refund(market, channel, "WEB-404")
        [record] = await market.records("channel_refund")
        assert record["body"]["external_id"] == "WEB-404"
        return
    with pytest.raises(ChannelCallError) as err:
        await refund(market, channel, "9999999999999")
    assert (err.value.kind, err.value.code) == ("refused", NOT_FOUND[channel])
    assert await market.records("channel_refund") == []


@pytest.mark.parametrize("channel", CHANNELS)
async def test_more_than_was_paid_and_unpaid_orders_are_refused(market, channel):
    [external_id] = await market.create(channel)
    [unpaid] = await market.create(channel, paid=False)
    with pytest.raises(ChannelCallError) as err:
        await refund(market, channel, external_id, amount=10_000_000)
    assert err.value.kind == "refused"
    with pytest.raises(ChannelCallError) as err:
        await refund(market, channel, unpaid, refund_id="AS-3")
    assert err.value.kind == "refused"
    assert await market.records("channel_refund") == []


async def test_bad_arguments_never_leave_the_hub(market):
    [external_id] = await market.create("jd")
    for changes in ({"amount": -1}, {"amount": 1.5}, {"status": "DONE"}, {"refund_id": " "}):
        with pytest.raises(ValueError):
            await refund(market, "jd", external_id, **{"refund_id": "AS-1", **changes})
    assert await market.records("channel_refund") == []


@pytest.mark.parametrize("channel", CHANNELS)
async def test_lost_answer_is_unavailable_and_the_retry_refunds_once(market, channel):
    [external_id] = await market.create(channel)
    await market.client.put("/_sandbox/faults", json={"endpoint": f"{channel}.refund", "failure_rate": 1.0,
                                                       "failure_mode": "after"})
    with pytest.raises(ChannelCallError) as err:
        await refund(market, channel, external_id)
    assert (err.value.kind, err.value.code) == ("unavailable", "503")
    await market.client.delete("/_sandbox/faults")
    await refund(market, channel, external_id)
    [record] = await market.records("channel_refund", channel=channel)
    assert record["body"]["amount"] == 450


async def test_platform_units_on_the_wire(market):
    """Yuan strings for Taobao, JD, Pinduoduo and Shopify, fen for Douyin and the own store."""
    adapters = {c: ADAPTERS[c] for c in CHANNELS}
    params = {c: adapters[c].refund_params("E1", "AS-1", 1205, status="REFUNDED", reason="r") for c in CHANNELS}
    assert params["taobao"]["refund_fee"] == "12.05" and params["taobao"]["result"] == "true"
    assert params["jd"]["applyRefundSum"] == "12.05" and params["jd"]["status"] == 1
    assert params["pinduoduo"]["refund_amount"] == "12.05" and params["pinduoduo"]["type"] == "pdd.refund.agree"
    assert params["douyin"]["refund_amount"] == 1205 and params["douyin"]["method"] == "afterSale.operate"
    assert params["shopify"]["amount"] == "12.05" and params["shopify"]["refund"]["note"] == "[AS-1] r"
    assert params["own_store"] == {"refund_id": "AS-1", "amount": 1205, "status": "REFUNDED", "reason": "r"}
    assert adapters["pinduoduo"].refund_params("E1", "AS-1", 0, status="REJECTED", reason="")["type"] \
        == "pdd.refund.refuse"
    assert adapters["shopify"].refund_params("E1", "AS-1", 0, status="REJECTED", reason="") is None


# --- the activity ------------------------------------------------------------------------------------




async def new_shop(sandbox: httpx.AsyncClient, db_url: str, channel: str) -> str:
    """A shop of this test's own on the shared sandbox, registered in the hub's database too."""
    shop = f"t{uuid.uuid4().hex[:10]}"
    credentials = {"app_key": f"key-{shop}", "app_secret": f"secret-{shop}", "access_token": f"token-{shop}"}
    (await sandbox.put(f"/_sandbox/platforms/{channel}/shops/{shop}", json=credentials)).raise_for_status()
    async with session_scope(db_url) as session:
        session.add(Shop(channel=channel, shop=shop, status="ACTIVE", sync_interval_s=300, **credentials))
    return shop


async def new_order(sandbox: httpx.AsyncClient, channel: str, shop: str) -> str:
    response = await sandbox.post(f"/_sandbox/platforms/{channel}/shops/{shop}/orders", json={"count": 1})
    response.raise_for_status()
    return response.json()["created"][0]


def refund_input(channel: str, shop: str, external_id: str, **changes) -> PushRefundInput:
    return PushRefundInput(**{"channel": channel, "shop": shop, "external_id": external_id,
                              "refund_id": f"AS-{external_id}", "amount": 480, "status": "REFUNDED",
                              "reason": "wrong size", **changes})


async def channel_refunds(sandbox: httpx.AsyncClient, channel: str, shop: str) -> list[dict]:
    response = await sandbox.get("/_sandbox/records", params={"kind": "channel_refund", "channel": channel,
                                                              "shop": shop})
    return response.json()["items"]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_activity_tells_the_channel_once(sandbox, activities, sqlite_url, channel):
    shop = await new_shop(sandbox, sqlite_url, channel)
    external_id = await new_order(sandbox, channel, shop)
    env = ActivityEnvironment()
    for _ in range(2):  # a retried activity
        await env.run(activities.push_refund_to_channel, refund_input(channel, shop, external_id))
    [record] = await channel_refunds(sandbox, channel, shop)
    assert (record["body"]["refund_id"], record["body"]["amount"]) == (f"AS-{external_id}", 480)


async def test_activity_maps_platform_failures(sandbox, activities, sqlite_url):
    env = ActivityEnvironment()
    shop = await new_shop(sandbox, sqlite_url, "taobao")
    with pytest.raises(ApplicationError) as err:  # unknown order: the platform's own code, not retried
        await env.run(activities.push_refund_to_channel, refund_input("taobao", shop, "123456789"))
    assert err.value.type == "isv.trade-not-exist" and err.value.non_retryable

    external_id = await new_order(sandbox, "taobao", shop)
    try:
        await sandbox.put("/_sandbox/faults", json={"endpoint": "taobao.refund", "failure_rate": 1.0})
        with pytest.raises(ApplicationError) as err:
            await env.run(activities.push_refund_to_channel, refund_input("taobao", shop, external_id))
        assert err.value.type == "platform_unavailable" and not err.value.non_retryable
    finally:
        await sandbox.put("/_sandbox/faults", json={"endpoint": "taobao.refund", "failure_rate": 0.0})

    await sandbox.post(f"/_sandbox/platforms/taobao/shops/{shop}/token", json={"action": "expire"})
    with pytest.raises(ApplicationError) as err:
        await env.run(activities.push_refund_to_channel, refund_input("taobao", shop, external_id))
    assert err.value.type == "shop_auth_expired" and err.value.non_retryable
    assert f"token-{shop}" not in str(err.value)

    with pytest.raises(ApplicationError) as err:
        await env.run(activities.push_refund_to_channel, refund_input("jd", "nope", "1"))
    assert err.value.type == "shop_not_registered" and err.value.non_retryable
    assert await channel_refunds(sandbox, "taobao", shop) == []
