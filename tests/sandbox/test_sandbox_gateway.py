"""Payment gateway: payments in a ledger, refunds against them (idempotency by out_request_no, never more
than what is left of the trade), mismatches, async settlement."""

import asyncio
import re

import pytest

REFUND = {"out_request_no": "RF-order-7-1", "refund_amount": "19.99", "refund_reason": "缺货"}


def refused(response, sub_code: str) -> None:
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["msg"], body["sub_code"]) == ("40004", "Business Failed", sub_code), body
    assert body["sub_msg"]


@pytest.fixture
async def refund(sandbox) -> dict:
    """A refund request against a 100-yuan trade the buyer paid."""
    return {**REFUND, "trade_no": await sandbox.pay("100.00", out_trade_no="default-WS1")}


async def test_payment_is_one_trade_per_out_trade_no_and_listed(sandbox):
    body = {"out_trade_no": "default-WS1", "total_amount": "59.97", "subject": "order WS1"}
    first = await sandbox.client.post("/gateway/trade/pay", json=body)
    again = await sandbox.client.post("/gateway/trade/pay", json=body)

    paid = first.json()
    assert paid["code"] == "10000" and re.fullmatch(r"\d{28}", paid["trade_no"])
    assert (paid["out_trade_no"], paid["total_amount"]) == ("default-WS1", "59.97")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", paid["gmt_payment"])
    assert again.json() == paid  # the first trade again, no second payment
    [record] = (await sandbox.client.get("/_sandbox/records", params={"kind": "payment"})).json()["items"]
    assert record["key"] == paid["trade_no"] and record["received"] == 2
    assert record["body"]["out_trade_no"] == "default-WS1" and record["body"]["total_amount"] == "59.97"
    [payment] = sandbox.app.state.gateway.payments.values()
    assert (payment.trade_no, str(payment.amount), payment.paid_at.tzinfo is not None) == (paid["trade_no"], "59.97", True)

    other = await sandbox.client.post("/gateway/trade/pay", json={**body, "total_amount": "10.00"})
    refused(other, "ACQ.TRADE_HAS_SUCCESS")
    assert len(sandbox.app.state.gateway.payments) == 1


@pytest.mark.parametrize("amount", ["0", "-1", "1.999", "abc", 19.99])
async def test_bad_payment_amount_is_invalid_parameter(sandbox, amount):
    refused(await sandbox.client.post("/gateway/trade/pay", json={"out_trade_no": "X", "total_amount": amount}),
            "ACQ.INVALID_PARAMETER")
    assert await sandbox.records(kind="payment") == []


async def test_pay_then_refund(sandbox, refund):
    response = await sandbox.client.post("/gateway/refund", json=refund)
    assert response.json() == {
        "code": "10000",
        "msg": "Success",
        "trade_no": refund["trade_no"],
        "out_trade_no": "default-WS1",
        "out_request_no": "RF-order-7-1",
        "refund_amount": "19.99",
        "fund_change": "Y",
        "refund_status": "REFUND_SUCCESS",
    }
    [accepted] = sandbox.app.state.gateway.refunds_of(refund["trade_no"])
    assert (accepted.out_request_no, str(accepted.amount)) == ("RF-order-7-1", "19.99")


async def test_refund_of_a_trade_never_paid_is_refused(sandbox):
    refused(await sandbox.client.post("/gateway/refund", json={**REFUND, "trade_no": "2024T0001"}),
            "ACQ.TRADE_NOT_EXIST")
    assert await sandbox.records(kind="refund") == []


async def test_refunds_beyond_what_is_left_of_the_trade_are_refused(sandbox, refund):
    first = await sandbox.client.post("/gateway/refund", json={**refund, "out_request_no": "RF-1",
                                                               "refund_amount": "60.00"})
    assert first.json()["fund_change"] == "Y"
    # 60 + 40.01 > 100: the second partial refund is refused and leaves nothing behind
    second = await sandbox.client.post("/gateway/refund", json={**refund, "out_request_no": "RF-2",
                                                                "refund_amount": "40.01"})
    refused(second, "ACQ.REASON_TRADE_REFUND_FEE_ERR")
    assert "40.00" in second.json()["sub_msg"]
    assert [r["key"] for r in await sandbox.records(kind="refund")] == ["RF-1"]
    # what is left, exactly, is still refundable - under the refused request's own number
    rest = await sandbox.client.post("/gateway/refund", json={**refund, "out_request_no": "RF-2",
                                                              "refund_amount": "40.00"})
    assert rest.json()["fund_change"] == "Y"
    refused(await sandbox.client.post("/gateway/refund", json={**refund, "out_request_no": "RF-3",
                                                               "refund_amount": "0.01"}),
            "ACQ.REASON_TRADE_REFUND_FEE_ERR")
    # a replay of an accepted refund still answers its first result, though nothing is left now
    replay = await sandbox.client.post("/gateway/refund", json={**refund, "out_request_no": "RF-1",
                                                                "refund_amount": "60.00"})
    assert (replay.json()["code"], replay.json()["fund_change"], replay.json()["refund_amount"]) == ("10000", "N", "60.00")


async def test_one_refund_beyond_the_whole_trade_is_refused(sandbox, refund):
    refused(await sandbox.client.post("/gateway/refund", json={**refund, "refund_amount": "100.01"}),
            "ACQ.REASON_TRADE_REFUND_FEE_ERR")
    assert (await sandbox.client.post("/gateway/refund", json={**refund, "refund_amount": "100"})).json()["code"] == "10000"


async def test_repeated_refund_moves_money_once(sandbox, refund):
    first = await sandbox.client.post("/gateway/refund", json=refund)
    second = await sandbox.client.post("/gateway/refund", json=refund)

    assert first.status_code == second.status_code == 200
    assert first.json()["fund_change"] == "Y"
    assert second.json() == {**first.json(), "fund_change": "N"}
    [record] = await sandbox.records(kind="refund")
    assert record["key"] == "RF-order-7-1"
    assert record["received"] == 2
    assert record["result"]["fund_change"] == "Y"


async def test_equal_amount_in_another_spelling_is_the_same_refund(sandbox, refund):
    await sandbox.client.post("/gateway/refund", json={**refund, "refund_amount": "20"})
    again = await sandbox.client.post("/gateway/refund", json={**refund, "refund_amount": "20.00"})
    assert again.json()["code"] == "10000"
    assert again.json()["refund_amount"] == "20.00"
    assert again.json()["fund_change"] == "N"


@pytest.mark.parametrize(
    ("change", "sub_code"),
    [({"refund_amount": "10.00"}, "ACQ.REQUEST_AMOUNT_MISMATCH"), ({"trade_no": "2024T0002"}, "ACQ.TRADE_NO_MISMATCH")],
)
async def test_same_key_with_other_request_is_refused(sandbox, refund, change, sub_code):
    await sandbox.client.post("/gateway/refund", json=refund)
    refused(await sandbox.client.post("/gateway/refund", json={**refund, **change}), sub_code)
    [record] = await sandbox.records(kind="refund")
    assert record["result"]["refund_amount"] == "19.99"


@pytest.mark.parametrize("amount", ["0", "0.00", "-1", "1.999", "abc", "1e3", "", 19.99])
async def test_bad_amount_is_invalid_parameter(sandbox, refund, amount):
    refused(await sandbox.client.post("/gateway/refund", json={**refund, "refund_amount": amount}),
            "ACQ.INVALID_PARAMETER")
    assert await sandbox.records(kind="refund") == []


async def test_missing_field_is_invalid_parameter_naming_it(sandbox):
    response = await sandbox.client.post("/gateway/refund", json={"trade_no": "T", "refund_amount": "1.00"})
    assert response.json()["sub_code"] == "ACQ.INVALID_PARAMETER"
    assert "out_request_no" in response.json()["sub_msg"]


async def test_query_known_and_unknown_refunds(sandbox, refund):
    unknown = await sandbox.client.post("/gateway/refund/query", json={"trade_no": "T", "out_request_no": "nope"})
    refused(unknown, "ACQ.TRADE_NOT_EXIST")

    await sandbox.client.post("/gateway/refund", json=refund)
    wrong_trade = await sandbox.client.post(
        "/gateway/refund/query", json={"trade_no": "other", "out_request_no": refund["out_request_no"]}
    )
    assert wrong_trade.json()["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    found = await sandbox.client.post(
        "/gateway/refund/query", json={"trade_no": refund["trade_no"], "out_request_no": refund["out_request_no"]}
    )
    assert found.json() == {
        "code": "10000",
        "msg": "Success",
        "trade_no": refund["trade_no"],
        "out_request_no": "RF-order-7-1",
        "refund_amount": "19.99",
        "refund_status": "REFUND_SUCCESS",
    }


async def test_async_refund_settles_after_delay(make_sandbox):
    sandbox = await make_sandbox(refund_async_delay_s=0.2)
    refund = {**REFUND, "trade_no": await sandbox.pay("19.99")}
    query = {"trade_no": refund["trade_no"], "out_request_no": refund["out_request_no"]}

    accepted = await sandbox.client.post("/gateway/refund", json=refund)
    assert accepted.json()["refund_status"] == "REFUND_PROCESSING"
    assert accepted.json()["fund_change"] == "Y"
    pending = await sandbox.client.post("/gateway/refund/query", json=query)
    assert pending.json()["refund_status"] == "REFUND_PROCESSING"

    await asyncio.sleep(0.25)
    settled = await sandbox.client.post("/gateway/refund/query", json=query)
    assert settled.json()["refund_status"] == "REFUND_SUCCESS"
    replay = await sandbox.client.post("/gateway/refund", json=refund)
    assert (replay.json()["refund_status"], replay.json()["fund_change"]) == ("REFUND_SUCCESS", "N")
    assert len(await sandbox.records(kind="refund")) == 1
