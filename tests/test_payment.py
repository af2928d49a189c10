"""PaymentActivities.refund_payment in Temporal's ActivityEnvironment against the sandbox gateway, running as
its own process: a lost answer is confirmed by the query, and a query outage does not hold the refund up.
The gateway keeps a ledger, so every refund here is against a trade the buyer paid there first."""

from __future__ import annotations

import dataclasses
import uuid

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.http import PartnerHttp
from activities.payment import PaymentActivities
from models.order_workflow import RefundPaymentInput


@pytest.fixture
async def sandbox(sandbox_url):
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        try:
            yield client
        finally:
            await client.delete("/_sandbox/faults")


@pytest.fixture
async def payments(sandbox_url):
    http = PartnerHttp(sandbox_url)
    try:
        yield PaymentActivities(http)
    finally:
        await http.aclose()


def attempt(n: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=n)
    return env


def refund_request(trade_no: str | None = None) -> RefundPaymentInput:
    no = f"RF-{uuid.uuid4().hex[:10]}"
    return RefundPaymentInput(order_id="own_store-P1", trade_no=trade_no or f"T-{no}", amount=1999,
                              out_request_no=no, reason="quality")


async def paid_trade(sandbox: httpx.AsyncClient, total_amount: str = "19.99") -> str:
    """The buyer pays at the gateway: the trade a refund goes back to."""
    answer = (await sandbox.post("/gateway/trade/pay", json={"out_trade_no": f"P-{uuid.uuid4().hex[:10]}",
                                                              "total_amount": total_amount})).json()
    assert answer["code"] == "10000", answer
    return answer["trade_no"]


async def refunds(sandbox: httpx.AsyncClient, key: str) -> list[dict]:
    return (await sandbox.get("/_sandbox/records", params={"kind": "refund", "key": key})).json()["items"]


async def test_a_lost_answer_is_confirmed_by_the_query_on_the_retry(sandbox, payments):
    request = refund_request(await paid_trade(sandbox))
    await sandbox.put("/_sandbox/faults", json={"endpoint": "gateway.refund", "failure_rate": 1.0,
                                                "failure_mode": "after"})
    with pytest.raises(ApplicationError) as lost:
        await attempt(1).run(payments.refund_payment, request)
    assert lost.value.type == "partner_unavailable" and not lost.value.non_retryable

    # The refund endpoint still fails, so only the query can answer the retry.
    result = await attempt(2).run(payments.refund_payment, request)
    assert (result.out_request_no, result.amount, result.status) == (request.out_request_no, 1999, "REFUND_SUCCESS")
    [refund] = await refunds(sandbox, request.out_request_no)
    assert refund["body"]["refund_amount"] == "19.99"


async def test_a_query_outage_sends_the_refund_again_and_money_moves_once(sandbox, payments):
    request = refund_request(await paid_trade(sandbox))
    await sandbox.put("/_sandbox/faults", json={"endpoint": "gateway.refund", "failure_rate": 1.0,
                                                "failure_mode": "after"})
    with pytest.raises(ApplicationError):
        await attempt(1).run(payments.refund_payment, request)
    await sandbox.delete("/_sandbox/faults")
    await sandbox.put("/_sandbox/faults", json={"endpoint": "gateway.refund_query", "failure_rate": 1.0})

    result = await attempt(2).run(payments.refund_payment, request)
    assert (result.amount, result.status) == (1999, "REFUND_SUCCESS")
    [refund] = await refunds(sandbox, request.out_request_no)
    assert refund["received"] == 2  # asked twice, paid once


async def test_a_refusal_is_permanent(sandbox, payments):
    request = refund_request(await paid_trade(sandbox)).model_copy(update={"amount": 0})
    with pytest.raises(ApplicationError) as refused:
        await attempt(1).run(payments.refund_payment, request)
    assert refused.value.non_retryable


async def test_the_gateway_refuses_an_unknown_trade_and_more_than_is_left_for_good(sandbox, payments):
    with pytest.raises(ApplicationError) as unknown:
        await attempt(1).run(payments.refund_payment, refund_request("2026120322000000000000000000"))
    assert (unknown.value.type, unknown.value.non_retryable) == ("ACQ.TRADE_NOT_EXIST", True)

    trade_no = await paid_trade(sandbox, "30.00")
    await attempt(1).run(payments.refund_payment, refund_request(trade_no))  # 19.99 of 30.00
    with pytest.raises(ApplicationError) as beyond:  # another 19.99: 10.01 is left
        await attempt(1).run(payments.refund_payment, refund_request(trade_no))
    assert (beyond.value.type, beyond.value.non_retryable) == ("ACQ.REASON_TRADE_REFUND_FEE_ERR", True)
    refunded = [r for r in (await sandbox.get("/_sandbox/records", params={"kind": "refund"})).json()["items"]
                if r["body"]["trade_no"] == trade_no]
    assert len(refunded) == 1


@pytest.mark.parametrize(("answer", "type_", "non_retryable"), [
    ({"code": "10000", "refund_status": "REFUND_PROCESSING"}, "refund_pending", False),
    ({"code": "40004"}, "refund_refused", True),
    ({"code": "40004", "sub_code": "ACQ.TRADE_HAS_CLOSE", "sub_msg": "closed"}, "ACQ.TRADE_HAS_CLOSE", True),
])
async def test_the_gateways_answers_are_typed_errors(answer, type_, non_retryable):
    """Still processing is retried (refund_pending); a refusal is not, typed by the gateway's own code
    when it sends one (refund_refused when it does not)."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
    http = PartnerHttp("http://gateway", client=httpx.AsyncClient(base_url="http://gateway", transport=transport))
    try:
        with pytest.raises(ApplicationError) as failed:
            await attempt(1).run(PaymentActivities(http).refund_payment, refund_request())
    finally:
        await http.aclose()
    assert (failed.value.type, failed.value.non_retryable) == (type_, non_retryable)
