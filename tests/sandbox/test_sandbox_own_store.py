"""Own web store ship-back: bearer token, idempotency by request_id, shipments for orders the store
did not create here (posted to the hub directly) are recorded too."""

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
