"""Money goes back the way it came (RefundActivities.refund_order in Temporal's ActivityEnvironment,
against the sandbox process): a marketplace order's refund is made through that platform's refund API
and never reaches the payment gateway; an own-store order's goes through the gateway, keyed by the
request, and never tells a platform it refunded. Each exactly once, however often retried."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.channel import ChannelActivities
from activities.channels.transport import ChannelTransport
from activities.http import PartnerHttp
from activities.orders import register_order
from activities.payment import PaymentActivities
from activities.refunds import RefundActivities
from models.ledger import RefundOrderInput
from models.order import CHANNELS, workflow_id_for
from models.order_workflow import RegisterOrderInput
from models.seed import seed_sandbox_shops
from orderkit import make_order

MARKETPLACES = [c for c in CHANNELS if c != "own_store"]


@pytest.fixture
async def refunds(sqlite_url, sandbox_url):
    await seed_sandbox_shops(sqlite_url, channels=CHANNELS)
    http, transport = PartnerHttp(sandbox_url), ChannelTransport(sandbox_url)
    try:
        yield RefundActivities(sqlite_url, PaymentActivities(http), ChannelActivities(sqlite_url, transport))
    finally:
        await http.aclose()
        await transport.aclose()


async def records(sandbox_url: str, kind: str, **params: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        return (await client.get("/_sandbox/records", params={"kind": kind, **params})).json()["items"]


async def hub_order(db_url: str, channel: str, external_id: str, trade_no: str | None = None,
                    unit_price: int = 1999) -> str:
    order = make_order([("SKU-1", 1)], paid=True, channel=channel, external_id=external_id, trade_no=trade_no,
                       unit_price=unit_price)
    await register_order(db_url, RegisterOrderInput(order=order, workflow_id=workflow_id_for(order.order_id),
                                                    received_at=datetime.now(UTC)))
    return order.order_id  # one unit's price received


async def marketplace_order(sandbox_url: str, channel: str) -> str:
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        created = await client.post(f"/_sandbox/platforms/{channel}/shops/default/orders",
                                    json={"count": 1, "skus": ["SKU-1"], "paid": True})
        return created.json()["created"][0]


def refund(order_id: str, amount: int | None, source: str = "ticket") -> RefundOrderInput:
    channel, shop, external_id = order_id.split(":")
    return RefundOrderInput(order_id=order_id, channel=channel, shop=shop, external_id=external_id, request_no=f"as-{uuid.uuid4().hex[:12]}", amount=amount, source=source,
                            reason="quality")


@pytest.mark.parametrize("channel", MARKETPLACES)
async def test_a_marketplace_refund_is_made_at_the_platform_and_never_at_the_gateway(refunds, sqlite_url,
                                                                                     sandbox_url, channel):
    external_id = await marketplace_order(sandbox_url, channel)
    order_id = await hub_order(sqlite_url, channel, external_id)
    request = refund(order_id, 400)  # the sandbox's order was paid at least 4.90 yuan
    env = ActivityEnvironment()
    first = await env.run(refunds.refund_order, request)
    again = await env.run(refunds.refund_order, request)  # a retry after a lost answer
    assert first == again and first.amount == 400
    (made,) = await records(sandbox_url, "channel_refund", key=f"{channel}/default/{external_id}/{request.request_no}")
    assert (made["body"]["amount"], made["body"]["status"], made["received"]) == (400, "REFUNDED", 1)
    assert await records(sandbox_url, "refund", key=request.request_no) == []  # the gateway never heard of it


async def test_an_own_store_refund_is_paid_once_by_the_gateway_and_no_platform_is_told(refunds, sqlite_url,
                                                                                        sandbox_url):
    external_id = f"OS{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        paid = (await client.post("/gateway/trade/pay", json={"out_trade_no": external_id,
                                                              "total_amount": "19.99"})).json()
    order_id = await hub_order(sqlite_url, "own_store", external_id, trade_no=paid["trade_no"])
    request = refund(order_id, 1999)
    env = ActivityEnvironment()
    assert (await env.run(refunds.refund_order, request)).amount == 1999
    assert (await env.run(refunds.refund_order, request)).amount == 1999
    (made,) = await records(sandbox_url, "refund", key=request.request_no)
    assert (made["body"]["trade_no"], made["body"]["refund_amount"], made["received"]) == (paid["trade_no"], "19.99", 1)
    assert await records(sandbox_url, "channel_refund", key=f"own_store/default/{external_id}/{request.request_no}") == []


@pytest.mark.parametrize("channel", ["taobao", "own_store"])
async def test_a_refund_beyond_what_is_left_is_refused_for_good_and_moves_nothing(refunds, sqlite_url, sandbox_url,
                                                                                 channel):
    external_id = await marketplace_order(sandbox_url, channel) if channel != "own_store" else f"OS{uuid.uuid4().hex[:8]}"
    order_id = await hub_order(sqlite_url, channel, external_id, trade_no="PAY-NEVER-USED", unit_price=400)
    env = ActivityEnvironment()
    await env.run(refunds.refund_order, refund(order_id, 300)) if channel != "own_store" else None
    too_much = refund(order_id, 300 if channel != "own_store" else 500)
    with pytest.raises(ApplicationError) as refused:
        await env.run(refunds.refund_order, too_much)
    assert (refused.value.type, refused.value.non_retryable) == ("refund_exceeds_received", True)
    assert await records(sandbox_url, "channel_refund", key=f"{channel}/default/{external_id}/{too_much.request_no}") == []
    assert await records(sandbox_url, "refund", key=too_much.request_no) == []


@pytest.mark.parametrize("channel", ["jd", "pinduoduo", "douyin"])
async def test_a_lost_platform_answer_is_retried_into_the_same_one_refund(refunds, sqlite_url, sandbox_url, channel):
    """The platform makes the refund and its answer is lost (503 after the effect): the retry with
    the same request number finds the refund made, and the platform holds exactly one."""
    external_id = await marketplace_order(sandbox_url, channel)
    order_id = await hub_order(sqlite_url, channel, external_id)
    request = refund(order_id, 300)
    env = ActivityEnvironment()
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        await client.put("/_sandbox/faults", json={"endpoint": f"{channel}.refund", "failure_rate": 1.0,
                                                   "failure_mode": "after"})
        try:
            with pytest.raises(ApplicationError) as lost:
                await env.run(refunds.refund_order, request)
            assert not lost.value.non_retryable
        finally:
            await client.delete("/_sandbox/faults")
    assert (await env.run(refunds.refund_order, request)).amount == 300
    (made,) = await records(sandbox_url, "channel_refund", key=f"{channel}/default/{external_id}/{request.request_no}")
    assert made["received"] == 2 and made["body"]["amount"] == 300
