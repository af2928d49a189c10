"""The /_sandbox/platforms control API: shops and tokens, simulated orders and their events, shown stock,
record filters and reset."""

import pytest

from activities.channels import adapter_for
from models.regions import region_of

CHANNELS = ["taobao", "jd", "pinduoduo", "douyin", "shopify", "own_store"]
BASE = "/_sandbox/platforms"


@pytest.mark.parametrize("channel", CHANNELS)
async def test_created_orders_are_native_paid_and_map(sandbox, channel):
    response = await sandbox.client.post(f"{BASE}/{channel}/shops/default/orders",
                                         json={"count": 5, "skus": ["SKU-1", "SKU-9"]})
    assert response.status_code == 200
    created = response.json()["created"]
    assert len(set(created)) == 5

    listing = (await sandbox.client.get(f"{BASE}/{channel}/shops/default/orders")).json()
    assert listing["total"] == 5 and {o["external_id"] for o in listing["items"]} == set(created)
    for view in listing["items"]:
        assert set(view) == {"external_id", "status", "modified", "shipments", "refunds", "after_sales", "payload"}
        mapped = adapter_for(channel).map_order(view["payload"], shop="default")
        assert mapped.order.external_id == view["external_id"] and mapped.order.paid
        assert {line.sku for line in mapped.order.lines} <= {"SKU-1", "SKU-9"}
        assert region_of(mapped.order.buyer.province) is not None
        assert view["shipments"] == [] and view["refunds"] == [] and view["after_sales"] == []


@pytest.mark.parametrize("channel", CHANNELS)
async def test_events_change_the_platform_status(sandbox, channel):
    [external_id] = (await sandbox.client.post(f"{BASE}/{channel}/shops/default/orders",
                                               json={"count": 1, "paid": False})).json()["created"]
    url = f"{BASE}/{channel}/shops/default/orders/{external_id}"
    before = (await sandbox.client.get(url)).json()
    assert (await sandbox.client.post(f"{url}/events", json={"event": "refund"})).status_code == 409
    paid = (await sandbox.client.post(f"{url}/events", json={"event": "pay"})).json()
    assert paid["status"] != before["status"] and paid["modified"] >= before["modified"]
    assert adapter_for(channel).map_order(paid["payload"], shop="default").state.value == "PAID"
    cancelled = (await sandbox.client.post(f"{url}/events", json={"event": "cancel"})).json()
    assert adapter_for(channel).map_order(cancelled["payload"], shop="default").state.value in ("CANCELLED",
                                                                                               "REFUNDED")
    assert (await sandbox.client.post(f"{url}/events", json={"event": "pay"})).status_code == 409
    assert (await sandbox.client.post(f"{url}/events", json={"event": "explode"})).status_code == 400


async def test_shops_and_tokens(sandbox):
    body = {"app_key": "k1", "app_secret": "s1", "access_token": "t1", "skus": ["TEA-1"]}
    registered = await sandbox.client.put(f"{BASE}/taobao/shops/flagship", json=body)
    assert registered.status_code == 200 and "TEA-1" in registered.json()["skus"]
    issued = await sandbox.client.post(f"{BASE}/taobao/shops/flagship/token", json={"action": "issue"})
    assert issued.json()["access_token"] not in ("t1", "")
    expired = await sandbox.client.post(f"{BASE}/taobao/shops/flagship/token", json={"action": "expire"})
    assert expired.json() == {"ok": True}
    assert (await sandbox.client.post(f"{BASE}/taobao/shops/nope/token", json={"action": "issue"})).status_code == 404
    assert (await sandbox.client.post(f"{BASE}/taobao/shops/nope/orders", json={"count": 1})).status_code == 404
    assert (await sandbox.client.put(f"{BASE}/wechat/shops/x", json=body)).status_code == 400
    assert (await sandbox.client.get(f"{BASE}/taobao/shops/flagship/stock")).json() == {}


async def test_records_filter_by_channel_and_reset_forgets_everything(sandbox):
    token = {"Authorization": "Bearer sandbox-token-own_store"}
    await sandbox.client.post("/own_store/default/stock", json={"sku": "SKU-1", "quantity": 4}, headers=token)
    await sandbox.client.post("/own_store/default/stock", json={"sku": "SKU-1", "quantity": 4}, headers=token)
    await sandbox.client.put(f"{BASE}/jd/shops/other", json={"app_key": "a", "app_secret": "b", "access_token": "c"})
    await sandbox.client.post(f"{BASE}/jd/shops/default/orders", json={"count": 2})

    stock = await sandbox.records(kind="stock")
    assert [r["body"] for r in stock] == [{"channel": "own_store", "shop": "default", "sku": "SKU-1",
                                           "quantity": 4}] * 2
    assert (await sandbox.client.get("/_sandbox/records", params={"kind": "stock", "channel": "jd"})).json() == \
        {"items": [], "total": 0}

    assert (await sandbox.client.post("/_sandbox/reset")).json() == {"ok": True}
    assert await sandbox.records() == []
    assert (await sandbox.client.get(f"{BASE}/jd/shops/default/orders")).json() == {"items": [], "total": 0}
    assert (await sandbox.client.get(f"{BASE}/own_store/shops/default/stock")).json() == {}
    assert (await sandbox.client.get(f"{BASE}/jd/shops/other/orders")).status_code == 404


async def test_bad_control_bodies_name_the_field(sandbox):
    response = await sandbox.client.post(f"{BASE}/taobao/shops/default/orders", json={"count": 0})
    assert response.status_code == 400 and response.json()["fields"] == ["count"]
    response = await sandbox.client.post(f"{BASE}/taobao/shops/default/orders", json={"count": 1, "duplicates": 2})
    assert response.status_code == 400 and response.json()["fields"] == ["duplicates"]
