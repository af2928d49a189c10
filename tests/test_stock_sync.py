"""Stock push: every change of reserved or on-hand stock reaches every active shop of every channel
as the sku's available-to-sell quantity, over each platform's own stock API (observed at the
sandbox). At or below the safety stock the shops show 0; a paused shop is skipped."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from sqlalchemy import update

from activities.clients.stock_sync import StockChangeNotifier
from activities.inventory import available_to_sell, set_stock_level
from models.db import session_scope
from models.order import CHANNELS
from models.tables import Shop
from orderkit import end_long_running_workflows, make_order, running_worker, settings_for, submit, wait_until
from workers import stack


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def platforms() -> AsyncIterator[str]:
    async with stack.sandbox_process(delivery_delay_s="0", hub_url="http://127.0.0.1:9") as url:
        yield url


async def open_shops(http: httpx.AsyncClient, db_url: str) -> dict[str, str]:
    """One new shop per channel, at the platform and in the hub."""
    shops = {}
    for channel in CHANNELS:
        shop = f"s{uuid.uuid4().hex[:8]}"
        creds = {"app_key": f"key-{shop}", "app_secret": f"secret-{shop}", "access_token": f"token-{shop}"}
        assert (await http.put(f"/_sandbox/platforms/{channel}/shops/{shop}", json=creds)).status_code == 200
        async with session_scope(db_url) as session:
            session.add(Shop(channel=channel, shop=shop, sync_interval_s=300, **creds))
        shops[channel] = shop
    return shops


async def shown(http: httpx.AsyncClient, shops: dict[str, str], sku: str) -> dict[str, int | None]:
    result = {}
    for channel, shop in shops.items():
        stock = (await http.get(f"/_sandbox/platforms/{channel}/shops/{shop}/stock")).json()
        result[channel] = stock.get(sku)
    return result


async def test_a_sale_lowers_the_stock_every_shop_shows(dev_env, platforms, sqlite_url):
    settings = settings_for(sqlite_url, platforms, push_stock=True, stock_push_debounce_s=0.2)
    async with httpx.AsyncClient(base_url=platforms) as http, running_worker(dev_env.client, settings):
        shops = await open_shops(http, sqlite_url)
        # SKU-3: 80 units in WH-GZ, safety stock 0. A sale of 3 on the own store...
        order = make_order(lines=[("SKU-3", 3)], paid=True)
        snapshot, handle = await submit(dev_env.client, settings, order)
        assert snapshot.reservation.status == "reserved"
        # ... and every shop, on every channel, shows 77 within seconds.
        assert await available_to_sell(sqlite_url, "SKU-3") == 77
        await wait_until(lambda: shown(http, shops, "SKU-3"), lambda s: set(s.values()) == {77}, attempts=200)

        pushes = (await http.get("/_sandbox/records", params={"kind": "stock"})).json()["items"]
        channels_pushed = {r["body"]["channel"] for r in pushes if r["body"]["shop"] in shops.values()}
        assert channels_pushed == set(CHANNELS)

        # A restock down to the safety stock: the shops show 0, not the units kept back.
        await set_stock_level(sqlite_url, "SKU-3", "WH-GZ", 13, 10)  # 13 on hand - 3 reserved = 10 = safety
        # A paused shop is not called (its token is gone); the others are.
        paused = shops.pop("taobao")
        async with session_scope(sqlite_url) as session:
            await session.execute(update(Shop).where(Shop.channel == "taobao", Shop.shop == paused)
                                  .values(status="PAUSED", status_reason="token expired"))
        notify = StockChangeNotifier(dev_env.client, settings.task_queue, debounce_s=0.2)
        await notify(["SKU-3"], "stock set")
        await wait_until(lambda: shown(http, shops, "SKU-3"), lambda s: set(s.values()) == {0}, attempts=200)
        assert (await shown(http, {"taobao": paused}, "SKU-3")) == {"taobao": 77}

        await handle.cancel()
        await end_long_running_workflows(dev_env.client, settings.task_queue)
