"""Carrier waybills: idempotency by request_id, privacy labels, permanent validation errors."""

import re

import pytest


async def test_same_request_id_creates_one_waybill(sandbox):
    body = sandbox.waybill_body("order-42-ship-1")
    first = await sandbox.client.post("/carrier/waybills", json=body)
    second = await sandbox.client.post("/carrier/waybills", json=body)

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert re.fullmatch(r"SF\d{12}", first.json()["waybill_no"])
    [record] = await sandbox.records(kind="waybill")
    assert record["key"] == "order-42-ship-1"
    assert record["received"] == 2
    assert record["result"] == first.json()
    assert record["body"]["parcels"] == [{"sku": "SKU-1", "quantity": 2}]


async def test_different_request_ids_get_different_waybills(sandbox):
    numbers = {await sandbox.create_waybill(f"req-{i}", carrier="ZTO") for i in range(20)}
    assert len(numbers) == 20
    assert all(re.fullmatch(r"ZTO\d{12}", n) for n in numbers)
    assert len(await sandbox.records(kind="waybill")) == 20


async def test_label_masks_receiver_name_and_phone(sandbox):
    response = await sandbox.client.post("/carrier/waybills", json=sandbox.waybill_body())
    assert response.json()["label"] == {
        "receiver_name": "张*",
        "receiver_phone": "138****1234",
        "receiver_address": "浙江省 杭州市 西湖区 文三路 100 号",
    }


async def test_landline_phone_is_accepted_and_masked(sandbox):
    body = sandbox.waybill_body(receiver={"phone": "0571-88886666"})
    response = await sandbox.client.post("/carrier/waybills", json=body)
    assert response.status_code == 200
    assert response.json()["label"]["receiver_phone"] == "0571-****6666"


@pytest.mark.parametrize(
    "receiver",
    [{"address": "   "}, {"name": None}, {"city": ""}, {"province": ""}],
    ids=["blank-address", "null-name", "empty-city", "empty-province"],
)
async def test_incomplete_address_is_a_permanent_error(sandbox, receiver):
    response = await sandbox.client.post("/carrier/waybills", json=sandbox.waybill_body(receiver=receiver))
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_ADDRESS"
    assert await sandbox.records(kind="waybill") == []


async def test_address_without_district_is_accepted(sandbox):
    """Shopify and foreign addresses have no district; the city routes the parcel."""
    response = await sandbox.client.post("/carrier/waybills", json=sandbox.waybill_body(receiver={"district": ""}))
    assert response.status_code == 200


async def test_masked_phone_only_on_a_privacy_waybill(sandbox):
    """Pinduoduo and Douyin hand out 138****1234: printable only through the platform's order."""
    plain = sandbox.waybill_body("m1", receiver={"phone": "138****1234"})
    assert (await sandbox.client.post("/carrier/waybills", json=plain)).json()["error_code"] == "INVALID_PHONE"
    privacy = {**sandbox.waybill_body("m2", receiver={"phone": "138****1234"}),
               "platform_order": {"channel": "pinduoduo", "external_id": "261122-0001"}}
    response = await sandbox.client.post("/carrier/waybills", json=privacy)
    assert response.status_code == 200
    assert response.json()["label"]["receiver_phone"] == "138****1234"


async def test_missing_receiver_is_invalid_address(sandbox):
    body = sandbox.waybill_body()
    del body["receiver"]
    response = await sandbox.client.post("/carrier/waybills", json=body)
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_ADDRESS"


@pytest.mark.parametrize("phone", ["1381234123", "138123412345", "138****1234", "", "1381234abcd", "021 12345678"])
async def test_bad_phone_is_a_permanent_error(sandbox, phone):
    response = await sandbox.client.post("/carrier/waybills", json=sandbox.waybill_body(receiver={"phone": phone}))
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "INVALID_PHONE"
    assert not phone or phone not in body["message"]  # no receiver data echoed back


async def test_rejected_request_id_can_be_retried_with_fixed_data(sandbox):
    bad = await sandbox.client.post("/carrier/waybills", json=sandbox.waybill_body("r", receiver={"phone": "1"}))
    assert bad.status_code == 400
    good = await sandbox.client.post("/carrier/waybills", json=sandbox.waybill_body("r"))
    assert good.status_code == 200
    [record] = await sandbox.records(kind="waybill", key="r")
    assert record["received"] == 1


async def test_unknown_carrier(sandbox):
    response = await sandbox.client.post("/carrier/waybills", json=sandbox.waybill_body(carrier="DHL"))
    assert response.status_code == 400
    assert response.json()["error_code"] == "UNKNOWN_CARRIER"


async def test_malformed_body_names_the_field(sandbox):
    body = sandbox.waybill_body()
    del body["request_id"]
    body["parcels"] = [{"sku": "A", "quantity": 0}]
    response = await sandbox.client.post("/carrier/waybills", json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["error_code"] == "INVALID_REQUEST"
    assert set(error["fields"]) == {"request_id", "parcels.0.quantity"}


async def test_tracking_of_unknown_and_unsubscribed_waybills(sandbox):
    missing = await sandbox.client.get("/carrier/tracking/SF000000000000")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "WAYBILL_NOT_FOUND"

    waybill_no = await sandbox.create_waybill()
    tracking = await sandbox.client.get(f"/carrier/tracking/{waybill_no}")
    assert tracking.json() == {"waybill_no": waybill_no, "carrier": "SF", "events": []}


async def test_subscribing_unknown_waybill_is_404(sandbox):
    response = await sandbox.client.post(
        "/carrier/subscriptions", json={"waybill_no": "SF000000000000", "callback_url": "http://127.0.0.1:9/cb"}
    )
    assert response.status_code == 404
    assert response.json()["error_code"] == "WAYBILL_NOT_FOUND"
    assert await sandbox.records(kind="subscription") == []


async def test_subscription_needs_an_http_callback_url(sandbox):
    waybill_no = await sandbox.create_waybill()
    response = await sandbox.client.post(
        "/carrier/subscriptions", json={"waybill_no": waybill_no, "callback_url": "ftp://example"}
    )
    assert response.status_code == 400
    assert response.json()["fields"] == ["callback_url"]
