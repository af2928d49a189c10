"""ChannelActivities (ship-back and stock push) in Temporal's ActivityEnvironment against the sandbox
running as its own process, with the shop's credentials read from the hub's database."""

from __future__ import annotations

import uuid

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.channels import ADAPTERS
from models.channel import PushStockInput
from models.db import session_scope
from models.shipping import PushShipmentInput
from models.tables import Shop

CHANNELS = sorted(ADAPTERS)




async def new_shop(sandbox: httpx.AsyncClient, db_url: str, channel: str, status: str = "ACTIVE") -> str:
    """A shop of this test's own on the shared sandbox, registered in the hub's database too."""
    shop = f"t{uuid.uuid4().hex[:10]}"
    credentials = {"app_key": f"key-{shop}", "app_secret": f"secret-{shop}", "access_token": f"token-{shop}"}
    (await sandbox.put(f"/_sandbox/platforms/{channel}/shops/{shop}", json=credentials)).raise_for_status()
    async with session_scope(db_url) as session:
        session.add(Shop(channel=channel, shop=shop, status=status, sync_interval_s=300, **credentials))
    return shop


async def new_order(sandbox: httpx.AsyncClient, channel: str, shop: str) -> str:
    response = await sandbox.post(f"/_sandbox/platforms/{channel}/shops/{shop}/orders", json={"count": 1})
    response.raise_for_status()
    return response.json()["created"][0]


def shipment(channel: str, shop: str, external_id: str, **changes) -> PushShipmentInput:
    return PushShipmentInput(**{"order_id": f"{channel}-{external_id}", "channel": channel, "shop": shop,
                                "external_id": external_id, "shipment_id": f"{channel}-{external_id}-WH-SH",
                                "waybill_no": "SF998877665544", "carrier": "SF", **changes})


async def records(sandbox: httpx.AsyncClient, kind: str, channel: str, shop: str) -> list[dict]:
    response = await sandbox.get("/_sandbox/records", params={"kind": kind, "channel": channel, "shop": shop})
    return response.json()["items"]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_ship_back_reaches_the_channel_once(sandbox, activities, sqlite_url, channel):
    shop = await new_shop(sandbox, sqlite_url, channel)
    external_id = await new_order(sandbox, channel, shop)
    env = ActivityEnvironment()
    for _ in range(2):  # a retried activity
        await env.run(activities.push_shipment_to_channel, shipment(channel, shop, external_id))
    [record] = await records(sandbox, "shipback", channel, shop)
    assert record["body"]["external_id"] == external_id
    assert record["body"]["waybill_no"] == "SF998877665544"
    assert record["body"]["carrier"] == ADAPTERS[channel].carrier_codes["SF"]
    order = (await sandbox.get(f"/_sandbox/platforms/{channel}/shops/{shop}/orders/{external_id}")).json()
    assert order["shipments"] == [{"waybill_no": "SF998877665544", "carrier": ADAPTERS[channel].carrier_codes["SF"]}]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_stock_push_sets_the_shop_stock(sandbox, activities, sqlite_url, channel):
    shop = await new_shop(sandbox, sqlite_url, channel)
    paused = await new_shop(sandbox, sqlite_url, channel, status="PAUSED")
    env = ActivityEnvironment()
    await env.run(activities.push_stock_to_shop, PushStockInput(channel=channel, shop=shop, sku="SKU-4", quantity=12))
    await env.run(activities.push_stock_to_shop, PushStockInput(channel=channel, shop=paused, sku="SKU-4", quantity=12))
    assert (await sandbox.get(f"/_sandbox/platforms/{channel}/shops/{shop}/stock")).json() == {"SKU-4": 12}
    assert (await sandbox.get(f"/_sandbox/platforms/{channel}/shops/{paused}/stock")).json() == {}
    assert [r["body"]["quantity"] for r in await records(sandbox, "stock", channel, shop)] == [12]
    assert await records(sandbox, "stock", channel, paused) == []


@pytest.mark.parametrize("channel", ["taobao", "shopify"])
async def test_expired_token_is_shop_auth_expired(sandbox, activities, sqlite_url, channel):
    shop = await new_shop(sandbox, sqlite_url, channel)
    external_id = await new_order(sandbox, channel, shop)
    await sandbox.post(f"/_sandbox/platforms/{channel}/shops/{shop}/token", json={"action": "expire"})
    env = ActivityEnvironment()
    for call in (env.run(activities.push_shipment_to_channel, shipment(channel, shop, external_id)),
                 env.run(activities.push_stock_to_shop, PushStockInput(channel=channel, shop=shop, sku="SKU-1",
                                                                       quantity=1))):
        with pytest.raises(ApplicationError) as err:
            await call
        assert err.value.type == "shop_auth_expired" and err.value.non_retryable
        assert f"token-{shop}" not in str(err.value)


async def test_unregistered_shop_is_not_retried(activities):
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(activities.push_shipment_to_channel, shipment("jd", "nope", "1"))
    assert err.value.type == "shop_not_registered" and err.value.non_retryable
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(activities.push_stock_to_shop,
                                        PushStockInput(channel="jd", shop="nope", sku="SKU-1", quantity=1))
    assert err.value.type == "shop_not_registered"


async def test_refusal_carries_the_platform_code(sandbox, activities, sqlite_url):
    shop = await new_shop(sandbox, sqlite_url, "taobao")
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(activities.push_shipment_to_channel, shipment("taobao", shop, "123456789"))
    assert err.value.type == "isv.trade-not-exist" and err.value.non_retryable


async def test_rate_limit_and_outage_are_retryable(sandbox, activities, sqlite_url):
    shop = await new_shop(sandbox, sqlite_url, "douyin")
    stock = PushStockInput(channel="douyin", shop=shop, sku="SKU-1", quantity=1)
    env = ActivityEnvironment()
    try:
        await sandbox.put("/_sandbox/platforms/douyin/rate_limit", json={"per_s": 0.01, "burst": 1})
        await env.run(activities.push_stock_to_shop, stock)
        with pytest.raises(ApplicationError) as err:
            await env.run(activities.push_stock_to_shop, stock)
        assert err.value.type == "platform_rate_limited" and not err.value.non_retryable
    finally:
        await sandbox.put("/_sandbox/platforms/douyin/rate_limit", json={"per_s": 50, "burst": 100})
    try:
        await sandbox.put("/_sandbox/faults", json={"endpoint": "douyin.stock", "failure_rate": 1.0})
        with pytest.raises(ApplicationError) as err:
            await env.run(activities.push_stock_to_shop, stock)
        assert err.value.type == "platform_unavailable" and not err.value.non_retryable
    finally:
        await sandbox.put("/_sandbox/faults", json={"endpoint": "douyin.stock", "failure_rate": 0.0})
