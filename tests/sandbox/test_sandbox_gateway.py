"""Payment gateway refunds: idempotency by out_request_no, mismatches, async settlement."""

import asyncio

import pytest

REFUND = {"trade_no": "2024T0001", "out_request_no": "RF-order-7-1", "refund_amount": "19.99", "refund_reason": "缺货"}


async def test_repeated_refund_moves_money_once(sandbox):
    first = await sandbox.client.post("/gateway/refund", json=REFUND)
    second = await sandbox.client.post("/gateway/refund", json=REFUND)

    assert first.status_code == second.status_code == 200
    assert first.json() == {
        "code": "10000",
        "msg": "Success",
        "trade_no": "2024T0001",
        "out_request_no": "RF-order-7-1",
        "refund_amount": "19.99",
        "fund_change": "Y",
        "refund_status": "REFUND_SUCCESS",
    }
    assert second.json() == {**first.json(), "fund_change": "N"}
    [record] = await sandbox.records(kind="refund")
    assert record["key"] == "RF-order-7-1"
    assert record["received"] == 2
    assert record["result"]["fund_change"] == "Y"


async def test_equal_amount_in_another_spelling_is_the_same_refund(sandbox):
    await sandbox.client.post("/gateway/refund", json={**REFUND, "refund_amount": "20"})
    again = await sandbox.client.post("/gateway/refund", json={**REFUND, "refund_amount": "20.00"})
    assert again.json()["code"] == "10000"
    assert again.json()["refund_amount"] == "20.00"
    assert again.json()["fund_change"] == "N"


@pytest.mark.parametrize(
    ("change", "sub_code"),
    [({"refund_amount": "10.00"}, "ACQ.REQUEST_AMOUNT_MISMATCH"), ({"trade_no": "2024T0002"}, "ACQ.TRADE_NO_MISMATCH")],
)
async def test_same_key_with_other_request_is_refused(sandbox, change, sub_code):
    await sandbox.client.post("/gateway/refund", json=REFUND)
    response = await sandbox.client.post("/gateway/refund", json={**REFUND, **change})
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["msg"], body["sub_code"]) == ("40004", "Business Failed", sub_code)
    assert body["sub_msg"]
    [record] = await sandbox.records(kind="refund")
    assert record["result"]["refund_amount"] == "19.99"


@pytest.mark.parametrize("amount", ["0", "0.00", "-1", "1.999", "abc", "1e3", "", 19.99])
async def test_bad_amount_is_invalid_parameter(sandbox, amount):
    response = await sandbox.client.post("/gateway/refund", json={**REFUND, "refund_amount": amount})
    assert response.status_code == 200
    assert response.json()["code"] == "40004"
    assert response.json()["sub_code"] == "ACQ.INVALID_PARAMETER"
    assert await sandbox.records(kind="refund") == []


async def test_missing_field_is_invalid_parameter_naming_it(sandbox):
    response = await sandbox.client.post("/gateway/refund", json={"trade_no": "T", "refund_amount": "1.00"})
    assert response.json()["sub_code"] == "ACQ.INVALID_PARAMETER"
    assert "out_request_no" in response.json()["sub_msg"]


async def test_query_known_and_unknown_refunds(sandbox):
    unknown = await sandbox.client.post("/gateway/refund/query", json={"trade_no": "T", "out_request_no": "nope"})
    assert unknown.json()["code"] == "40004"
    assert unknown.json()["sub_code"] == "ACQ.TRADE_NOT_EXIST"

    await sandbox.client.post("/gateway/refund", json=REFUND)
    wrong_trade = await sandbox.client.post(
        "/gateway/refund/query", json={"trade_no": "other", "out_request_no": REFUND["out_request_no"]}
    )
    assert wrong_trade.json()["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    found = await sandbox.client.post(
        "/gateway/refund/query", json={"trade_no": REFUND["trade_no"], "out_request_no": REFUND["out_request_no"]}
    )
    assert found.json() == {
        "code": "10000",
        "msg": "Success",
        "trade_no": "2024T0001",
        "out_request_no": "RF-order-7-1",
        "refund_amount": "19.99",
        "refund_status": "REFUND_SUCCESS",
    }


async def test_async_refund_settles_after_delay(make_sandbox):
    sandbox = await make_sandbox(refund_async_delay_s=0.2)
    query = {"trade_no": REFUND["trade_no"], "out_request_no": REFUND["out_request_no"]}

    accepted = await sandbox.client.post("/gateway/refund", json=REFUND)
    assert accepted.json()["refund_status"] == "REFUND_PROCESSING"
    assert accepted.json()["fund_change"] == "Y"
    pending = await sandbox.client.post("/gateway/refund/query", json=query)
    assert pending.json()["refund_status"] == "REFUND_PROCESSING"

    await asyncio.sleep(0.25)
    settled = await sandbox.client.post("/gateway/refund/query", json=query)
    assert settled.json()["refund_status"] == "REFUND_SUCCESS"
    replay = await sandbox.client.post("/gateway/refund", json=REFUND)
    assert (replay.json()["refund_status"], replay.json()["fund_change"]) == ("REFUND_SUCCESS", "N")
    assert len(await sandbox.records(kind="refund")) == 1
