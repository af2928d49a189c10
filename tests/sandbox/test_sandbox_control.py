"""Sandbox control API: record filters, reset, health."""

REFUND = {"out_request_no": "RF-1", "refund_amount": "1.00"}


async def test_records_filter_by_kind_and_key(sandbox):
    await sandbox.create_waybill("w-1")
    await sandbox.create_waybill("w-2")
    await sandbox.client.post("/gateway/refund", json={**REFUND, "trade_no": await sandbox.pay()})

    assert len(await sandbox.records()) == 4
    assert [r["key"] for r in await sandbox.records(kind="waybill")] == ["w-1", "w-2"]
    [refund] = await sandbox.records(key="RF-1")
    assert refund["kind"] == "refund"
    assert set(refund) == {"kind", "key", "at", "received", "body", "result"}
    assert await sandbox.records(kind="shipback") == []
    bad_kind = await sandbox.client.get("/_sandbox/records", params={"kind": "parcel"})
    assert bad_kind.status_code == 400


async def test_reset_forgets_effects(sandbox):
    await sandbox.create_waybill("w-1")
    trade_no = await sandbox.pay()
    await sandbox.client.post("/gateway/refund", json={**REFUND, "trade_no": trade_no})
    assert (await sandbox.client.post("/_sandbox/reset")).json() == {"ok": True}

    assert await sandbox.records() == []
    query = await sandbox.client.post("/gateway/refund/query", json={"trade_no": trade_no, "out_request_no": "RF-1"})
    assert query.json()["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    # The payments went too: the old trade is unknown, and paying again is a new trade.
    forgotten = await sandbox.client.post("/gateway/refund", json={**REFUND, "trade_no": trade_no})
    assert forgotten.json()["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    again = await sandbox.client.post("/gateway/refund", json={**REFUND, "trade_no": await sandbox.pay()})
    assert again.json()["fund_change"] == "Y"


async def test_apps_do_not_share_state(make_sandbox):
    first = await make_sandbox()
    second = await make_sandbox()
    await first.create_waybill("w-1")
    assert len(await first.records()) == 1
    assert await second.records() == []


async def test_healthz(sandbox):
    response = await sandbox.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
