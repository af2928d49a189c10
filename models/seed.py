"""Demo data for a newcomer's first `make dev`: warehouses in three regions and a few SKUs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

from sqlalchemy import func
from sqlmodel import col, select

from models.db import session_scope
from models.order import CHANNELS
from models.tables import Shop, Sku, StockLevel, Warehouse


class DemoWarehouse(TypedDict):
    code: str
    name: str
    region: str
    province: str
    city: str
    address: str


class DemoSku(TypedDict):
    code: str
    name: str


DEMO_WAREHOUSES: list[DemoWarehouse] = [
    DemoWarehouse(code="WH-SH", name="Shanghai Jiading DC", region="east",
                  province="上海", city="上海市", address="嘉定区 1 号库"),
    DemoWarehouse(code="WH-GZ", name="Guangzhou Baiyun DC", region="south",
                  province="广东", city="广州市", address="白云区 2 号库"),
    DemoWarehouse(code="WH-BJ", name="Beijing Daxing DC", region="north",
                  province="北京", city="北京市", address="大兴区 3 号库"),
]
DEMO_SKUS: list[DemoSku] = [
    DemoSku(code="SKU-1", name="Cotton T-shirt, white, M"),
    DemoSku(code="SKU-2", name="Insulated bottle 500 ml"),
    DemoSku(code="SKU-3", name="Wireless earbuds"),
    DemoSku(code="SKU-4", name="Phone case, clear"),
]
# (sku, warehouse, on_hand, safety_stock)
DEMO_STOCK = [
    ("SKU-1", "WH-SH", 500, 10), ("SKU-1", "WH-GZ", 300, 10), ("SKU-1", "WH-BJ", 200, 10),
    ("SKU-2", "WH-SH", 200, 5), ("SKU-2", "WH-GZ", 100, 5),
    ("SKU-3", "WH-GZ", 80, 0),
    ("SKU-4", "WH-BJ", 1000, 20),
]


async def seed_demo(db_url: str) -> bool:
    """Seed when there are no warehouses yet. Returns True when it seeded."""
    async with session_scope(db_url) as session:
        if await session.scalar(select(func.count()).select_from(Warehouse)):
            return False
        session.add_all(Warehouse(**w) for w in DEMO_WAREHOUSES)
        session.add_all(Sku(**s) for s in DEMO_SKUS)
        await session.flush()
        session.add_all(
            StockLevel(sku=sku, warehouse=wh, on_hand=on_hand, safety_stock=safety)
            for sku, wh, on_hand, safety in DEMO_STOCK
        )
    return True


# Sandbox shops poll every 10 s (a real shop's default is 5 min) so simulated orders show up at once.
SANDBOX_SYNC_INTERVAL_S = 10


async def seed_sandbox_shops(db_url: str, channels: Iterable[str] = CHANNELS,
                             sync_interval_s: int = SANDBOX_SYNC_INTERVAL_S) -> bool:
    """Shop "default" on each channel with the sandbox platforms' credentials, where it is missing.
    Returns True when it added one."""
    async with session_scope(db_url) as session:
        existing = set(await session.exec(select(Shop.channel).where(col(Shop.shop) == "default")))
        missing = [c for c in channels if c not in existing]
        session.add_all(
            Shop(channel=channel, shop="default", app_key=f"sandbox-{channel}",
                 app_secret=f"sandbox-secret-{channel}", access_token=f"sandbox-token-{channel}",
                 sync_interval_s=sync_interval_s)
            for channel in missing
        )
    return bool(missing)
