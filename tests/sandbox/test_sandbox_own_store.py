"""Own web store ship-back: bearer token, idempotency by request_id, shipments for orders the store
did not create here (posted to the hub directly) are recorded too. Payment: through the gateway's ledger."""

import json

from activities.channels import adapter_for

SHIPBACK = {
    "request_id": "ship-order-9-1",
    "order_id": "WEB-10009",
    "waybill_no": "SF123456789012",
    "carrier": "SF",
    "lines": [{"sku": "SKU-1", "quantity": 1}],
}
TOKEN = {"Authorization": "Bearer sandbox-token-own_store"}
URL = "/own_store/default/shipments"


async def test_same_request_id_records_one_shipment(sandbox):
    first = await sandbox.client.post(URL, json=SHIPBACK, headers=TOKEN)
    second = await sandbox.client.post(URL, json=SHIPBACK, headers=TOKEN)

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["ok"] is True
    assert first.json()["request_id"] == "ship-order-9-1"
    assert first.json()["shipment_id"]
    [record] = await sandbox.records(kind="shipback")
    assert record["received"] == 2
    assert record["key"] == "own_store/default/ship-order-9-1"
    assert record["body"] == {"channel": "own_store", "shop": "default", "external_id": "WEB-10009",
                              "waybill_no": "SF123456789012", "carrier": "SF", "request_id": "ship-order-9-1",
                              "lines": [{"sku": "SKU-1", "quantity": 1}]}


async def test_other_request_ids_are_other_shipments(sandbox):
    first = await sandbox.client.post(URL, json=SHIPBACK, headers=TOKEN)
    second = await sandbox.client.post(URL, json={**SHIPBACK, "request_id": "ship-2"}, headers=TOKEN)
    assert first.json()["shipment_id"] != second.json()["shipment_id"]
    assert len(await sandbox.records(kind="shipback")) == 2


async def test_lines_are_optional(sandbox):
    body = {k: v for k, v in SHIPBACK.items() if k != "lines"}
    response = await sandbox.client.post(URL, json=body, headers=TOKEN)
    assert response.status_code == 200


async def test_missing_fields_are_invalid_request(sandbox):
    body = {**SHIPBACK, "waybill_no": ""}
    del body["order_id"]
    response = await sandbox.client.post(URL, json=body, headers=TOKEN)
    assert response.status_code == 400
    error = response.json()
    assert error["error_code"] == "INVALID_REQUEST"
    assert set(error["fields"]) == {"order_id", "waybill_no"}
    assert "order_id" in error["message"]
    assert await sandbox.records(kind="shipback") == []


async def test_token_is_required(sandbox):
    missing = await sandbox.client.post(URL, json=SHIPBACK)
    wrong = await sandbox.client.post(URL, json=SHIPBACK, headers={"Authorization": "Bearer nope"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error_code"] == "UNAUTHORIZED"
    unknown_shop = await sandbox.client.post("/own_store/nope/shipments", json=SHIPBACK, headers=TOKEN)
    assert unknown_shop.status_code == 404
    assert await sandbox.records(kind="shipback") == []


# --- payment: own-store buyers pay through the sandbox gateway's ledger -------------------------------

CONTROL = "/_sandbox/platforms/own_store/shops/default/orders"


async def payments(sandbox) -> list[dict]:
    return (await sandbox.client.get("/_sandbox/records", params={"kind": "payment"})).json()["items"]


async def test_pay_event_pays_once_at_the_gateway_and_the_webhook_carries_the_trade(make_sandbox, receiver):
    sandbox = await make_sandbox(hub_url=receiver.base_url, webhook_backoff_s=0.01)
    [external_id] = (await sandbox.client.post(CONTROL, json={"count": 1, "paid": False})).json()["created"]
    assert await payments(sandbox) == []

    paid = await sandbox.client.post(f"{CONTROL}/{external_id}/events", json={"event": "pay"})
    assert paid.status_code == 200
    again = await sandbox.client.post(f"{CONTROL}/{external_id}/events", json={"event": "pay"})
    assert again.status_code == 409

    [payment] = await payments(sandbox)
    order = paid.json()["payload"]
    assert order["trade_no"] == payment["key"]
    assert payment["body"]["out_trade_no"] == f"default-{external_id}"
    assert payment["body"]["total_amount"] == f"{order['paid_amount'] / 100:.2f}"
    calls = await receiver.wait_for_accepted(2)  # orders/create, then orders/paid
    await sandbox.app.state.webhooks.idle()
    hook = json.loads(next(c for c in calls if c.headers["x-ownstore-topic"] == "orders/paid").body)
    assert (hook["trade_no"], hook["paid_amount"]) == (payment["key"], order["paid_amount"])
    created = json.loads(next(c for c in calls if c.headers["x-ownstore-topic"] == "orders/create").body)
    assert (created["trade_no"], created["paid_amount"]) == (None, None)
    # the hub keeps the gateway's trade number, and the amount it took is what the order comes to
    mapped = adapter_for("own_store").map_order(hook, shop="default").order
    assert (mapped.trade_no, mapped.total_amount) == (payment["key"], hook["paid_amount"])


async def test_orders_created_paid_are_paid_at_the_gateway_and_refundable_up_to_what_was_paid(sandbox):
    created = (await sandbox.client.post(CONTROL, json={"count": 3})).json()["created"]
    by_trade = {p["key"]: p for p in await payments(sandbox)}
    listed = (await sandbox.client.get("/own_store/default/orders", headers=TOKEN, params={
        "updated_at_min": "2000-01-01T00:00:00Z", "updated_at_max": "2100-01-01T00:00:00Z"})).json()["orders"]
    assert sorted(o["external_id"] for o in listed) == sorted(created)
    assert set(by_trade) == {o["trade_no"] for o in listed}
    for order in listed:
        assert by_trade[order["trade_no"]]["body"]["out_trade_no"] == f"default-{order['external_id']}"
        assert by_trade[order["trade_no"]]["body"]["total_amount"] == f"{order['paid_amount'] / 100:.2f}"

    order = listed[0]
    whole = f"{order['paid_amount'] / 100:.2f}"
    refund = {"trade_no": order["trade_no"], "out_request_no": "AS-1", "refund_amount": whole}
    assert (await sandbox.client.post("/gateway/refund", json=refund)).json()["fund_change"] == "Y"
    more = await sandbox.client.post("/gateway/refund", json={**refund, "out_request_no": "AS-2", "refund_amount": "0.01"})
    assert more.json()["sub_code"] == "ACQ.REASON_TRADE_REFUND_FEE_ERR"
