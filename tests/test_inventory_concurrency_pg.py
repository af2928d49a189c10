"""Concurrent reservations on PostgreSQL: many orders race for little stock and none oversells.

Every test runs hundreds of reserve/release/commit calls at once through the real activities
(asyncio.gather over the engine's connection pool), while a monitor keeps reading the stock
level to check that reserved never exceeds what may be sold.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from contextlib import asynccontextmanager

from sqlalchemy import func, select, text

from activities.inventory import commit_stock, release_stock, reserve_stock, set_stock_level
from models.db import dispose_engines, session_scope
from models.inventory import CommitStockInput, ReleaseStockInput, ReservationResult, ReserveStockInput, StockRequest
from models.tables import Reservation, StockLevel
from orderkit import sampled

PROVINCES = ["上海", "广东", "北京", "四川", "浙江省", "新疆维吾尔自治区"]


async def reserve(url: str, order_id: str, lines: list[tuple[str, int]], province: str = "上海") -> ReservationResult:
    return await reserve_stock(url, ReserveStockInput(
        order_id=order_id, buyer_province=province,
        lines=[StockRequest(sku=sku, quantity=qty) for sku, qty in lines],
    ))


async def levels_of(url: str, sku: str) -> dict[str, tuple[int, int, int]]:
    """warehouse -> (on_hand, reserved, safety_stock)."""
    async with session_scope(url) as session:
        rows = await session.execute(
            select(StockLevel.warehouse, StockLevel.on_hand, StockLevel.reserved, StockLevel.safety_stock)
            .where(StockLevel.sku == sku))
        return {r.warehouse: (r.on_hand, r.reserved, r.safety_stock) for r in rows}


async def rows_of(url: str, sku: str) -> dict[str, tuple[str, int, str]]:
    """order_id -> (warehouse, quantity, status) of the sku's reservation rows (one per order here)."""
    async with session_scope(url) as session:
        rows = (await session.execute(
            select(Reservation.order_id, Reservation.warehouse, Reservation.quantity, Reservation.status)
            .where(Reservation.sku == sku))).all()
    result = {r.order_id: (r.warehouse, r.quantity, r.status) for r in rows}
    assert len(result) == len(rows), "an order holds more than one reservation row of one sku"
    return result


@asynccontextmanager
async def never_oversold(url: str, sku: str):
    """Reads the sku's levels in a loop while the block runs; fails if any warehouse ever had
    more units reserved than on_hand minus safety stock."""
    async with sampled(lambda: levels_of(url, sku), 0.002) as samples:
        yield samples
    for sample in samples:
        for warehouse, (on_hand, reserved, safety) in sample.items():
            assert 0 <= reserved <= on_hand - safety, f"{sku}@{warehouse} oversold: {sample}"


# --- one warehouse, one unit each -----------------------------------------------------------------


async def test_flash_sale_sells_exactly_the_stock(pg_url):
    await set_stock_level(pg_url, "FLASH-1", "WH-SH", 50, 0)
    orders = [f"flash-{i:03d}" for i in range(200)]

    async with never_oversold(pg_url, "FLASH-1") as samples:
        results = await asyncio.gather(*(
            reserve(pg_url, order_id, [("FLASH-1", 1)], PROVINCES[i % len(PROVINCES)])
            for i, order_id in enumerate(orders)
        ))
    assert len(samples) >= 2

    assert Counter(r.status for r in results) == {"reserved": 50, "short": 150}
    winners = {o for o, r in zip(orders, results, strict=False) if r.status == "reserved"}
    for result in results:
        if result.status == "reserved":
            assert [(a.sku, a.warehouse, a.quantity) for a in result.allocations] == [("FLASH-1", "WH-SH", 1)]
            assert result.short == []
        else:
            assert result.allocations == []
            assert [(s.sku, s.requested) for s in result.short] == [("FLASH-1", 1)]
            assert 0 <= result.short[0].available <= 50

    assert await levels_of(pg_url, "FLASH-1") == {"WH-SH": (50, 50, 0)}
    rows = await rows_of(pg_url, "FLASH-1")
    assert set(rows) == winners
    assert set(rows.values()) == {("WH-SH", 1, "RESERVED")}
    async with session_scope(pg_url) as session:
        assert await session.scalar(select(func.count()).select_from(Reservation)) == 50

    # Sold out: the next buyer is told so, and nothing moves.
    late = await reserve(pg_url, "flash-late", [("FLASH-1", 1)])
    assert late.status == "short" and late.short[0].available == 0
    assert await levels_of(pg_url, "FLASH-1") == {"WH-SH": (50, 50, 0)}


# --- two warehouses, 1-3 units each, then duplicate releases -------------------------------------


async def test_random_quantities_two_warehouses_then_duplicate_releases(pg_url):
    rng = random.Random(20240611)
    sku = "FLASH-2"
    await set_stock_level(pg_url, sku, "WH-SH", 32, 2)   # 30 sellable
    await set_stock_level(pg_url, sku, "WH-GZ", 20, 0)   # 20 sellable
    orders = {f"rq-{i:03d}": (rng.randint(1, 3), rng.choice(PROVINCES)) for i in range(200)}

    async with never_oversold(pg_url, sku):
        results = dict(zip(orders, await asyncio.gather(*(
            reserve(pg_url, order_id, [(sku, qty)], province) for order_id, (qty, province) in orders.items()
        )), strict=False))

    won: dict[str, tuple[str, int]] = {}
    for order_id, result in results.items():
        qty = orders[order_id][0]
        if result.status == "reserved":
            assert len(result.allocations) == 1
            a = result.allocations[0]
            assert (a.sku, a.quantity) == (sku, qty) and a.warehouse in ("WH-SH", "WH-GZ")
            won[order_id] = (a.warehouse, qty)
        else:
            assert [(s.sku, s.requested) for s in result.short] == [(sku, qty)]

    stock = await levels_of(pg_url, sku)
    per_warehouse = defaultdict(int)
    for warehouse, qty in won.values():
        per_warehouse[warehouse] += qty
    assert {w: reserved for w, (_, reserved, _) in stock.items()} == {
        "WH-SH": per_warehouse["WH-SH"], "WH-GZ": per_warehouse["WH-GZ"]}
    assert sum(qty for _, qty in won.values()) == sum(reserved for _, reserved, _ in stock.values())
    assert stock["WH-SH"][0] == 32 and stock["WH-GZ"][0] == 20
    sellable = {w: on_hand - reserved - safety for w, (on_hand, reserved, safety) in stock.items()}
    assert all(0 <= s for s in sellable.values())
    # No order was turned away that the final stock could still have served: stock only went
    # down during the race, so a short order saw less than it asked for everywhere.
    for order_id, result in results.items():
        if result.status == "short":
            assert all(s < orders[order_id][0] for s in sellable.values()), (order_id, orders[order_id], sellable)
    # The one-unit orders alone asked for more than the 50 units, so some of them were short:
    # nothing sellable can be left.
    assert sum(qty for qty, _ in orders.values() if qty == 1) > 50
    assert sellable == {"WH-SH": 0, "WH-GZ": 0}

    assert await rows_of(pg_url, sku) == {o: (w, q, "RESERVED") for o, (w, q) in won.items()}

    # Release half of the winners, every release sent twice, all at once.
    to_release = sorted(won)[::2]
    calls = [o for o in to_release for _ in range(2)]
    rng.shuffle(calls)
    async with never_oversold(pg_url, sku):
        changes = await asyncio.gather(*(
            release_stock(pg_url, ReleaseStockInput(order_id=o, reason="duplicate release")) for o in calls
        ))
    units_by_order = defaultdict(list)
    for order_id, change in zip(calls, changes, strict=False):
        assert change.order_id == order_id
        units_by_order[order_id].append(change.units)
    for order_id in to_release:
        assert sorted(units_by_order[order_id]) == [0, won[order_id][1]], order_id

    released_per_warehouse = defaultdict(int)
    for order_id in to_release:
        released_per_warehouse[won[order_id][0]] += won[order_id][1]
    after = await levels_of(pg_url, sku)
    for warehouse in ("WH-SH", "WH-GZ"):
        on_hand, reserved, safety = stock[warehouse]
        assert after[warehouse] == (on_hand, reserved - released_per_warehouse[warehouse], safety), warehouse
    rows = await rows_of(pg_url, sku)
    for order_id, (warehouse, qty) in won.items():
        assert rows[order_id] == (warehouse, qty, "RELEASED" if order_id in to_release else "RESERVED")

    # The released units are sellable again: a second wave of one-unit orders takes all of them.
    freed = sum(released_per_warehouse.values())
    async with never_oversold(pg_url, sku):
        wave = await asyncio.gather(*(reserve(pg_url, f"wave-{i:03d}", [(sku, 1)]) for i in range(freed + 40)))
    assert Counter(r.status for r in wave) == {"reserved": freed, "short": 40}
    final = await levels_of(pg_url, sku)
    assert {w: on_hand - reserved - safety for w, (on_hand, reserved, safety) in final.items()} == {"WH-SH": 0, "WH-GZ": 0}


# --- commit and release racing for the same order ---------------------------------------------


async def test_commit_and_release_of_the_same_order_racing(pg_url):
    sku = "FLASH-3"
    await set_stock_level(pg_url, sku, "WH-GZ", 100, 0)
    orders = [f"race-{i:02d}" for i in range(40)]
    for i, order_id in enumerate(orders):
        assert (await reserve(pg_url, order_id, [(sku, 1 + i % 2)], "广东")).status == "reserved"
    before = await levels_of(pg_url, sku)
    assert before == {"WH-GZ": (100, 60, 0)}

    calls = []
    for order_id in orders:
        calls += [("commit", order_id), ("release", order_id), ("commit", order_id)]
    random.Random(7).shuffle(calls)
    changes = await asyncio.gather(*(
        commit_stock(pg_url, CommitStockInput(order_id=o, warehouse="WH-GZ")) if kind == "commit"
        else release_stock(pg_url, ReleaseStockInput(order_id=o, reason="cancel"))
        for kind, o in calls
    ))

    rows = await rows_of(pg_url, sku)
    committed = released = 0
    for i, order_id in enumerate(orders):
        qty = 1 + i % 2
        settled = [(kind, c.units) for (kind, o), c in zip(calls, changes, strict=False) if o == order_id and c.units]
        # Exactly one call settled the order, and the row says which.
        assert len(settled) == 1 and settled[0][1] == qty, (order_id, settled)
        kind = settled[0][0]
        assert rows[order_id] == ("WH-GZ", qty, "COMMITTED" if kind == "commit" else "RELEASED")
        committed += qty if kind == "commit" else 0
        released += qty if kind == "release" else 0
    assert committed + released == 60
    assert await levels_of(pg_url, sku) == {"WH-GZ": (100 - committed, 0, 0)}


# --- the same order reserved concurrently -------------------------------------------------------


async def test_concurrent_repeats_of_one_order_reserve_once(pg_url):
    await set_stock_level(pg_url, "FLASH-4", "WH-SH", 10, 0)
    attempts = await asyncio.gather(
        *(reserve(pg_url, "same-order", [("FLASH-4", 3)]) for _ in range(20)), return_exceptions=True)

    # Repeats racing the first may fail (the unique reservation row refuses them) but must never
    # reserve twice; whatever succeeded reports the one allocation.
    successes = [a for a in attempts if isinstance(a, ReservationResult)]
    assert successes
    for result in successes:
        assert result.status == "reserved"
        assert [(a.sku, a.warehouse, a.quantity) for a in result.allocations] == [("FLASH-4", "WH-SH", 3)]
    assert await levels_of(pg_url, "FLASH-4") == {"WH-SH": (10, 3, 0)}
    assert await rows_of(pg_url, "FLASH-4") == {"same-order": ("WH-SH", 3, "RESERVED")}

    # A retry afterwards finds the reservation.
    again = await reserve(pg_url, "same-order", [("FLASH-4", 3)])
    assert [(a.warehouse, a.quantity) for a in again.allocations] == [("WH-SH", 3)]
    assert await levels_of(pg_url, "FLASH-4") == {"WH-SH": (10, 3, 0)}


# --- multi-line orders in opposite line order ---------------------------------------------------


async def _fast_deadlock_detection(url: str) -> None:
    """Detect deadlocks after 100 ms instead of 1 s in this test database (new connections)."""
    async with session_scope(url) as session:
        name = await session.scalar(text("SELECT current_database()"))
        await session.execute(text(f'ALTER DATABASE "{name}" SET deadlock_timeout = \'100ms\''))
    await dispose_engines()


async def test_multi_line_orders_in_opposite_line_order_do_not_deadlock(pg_url):
    await _fast_deadlock_detection(pg_url)
    requests = []
    for i in range(10):
        lines = [("SKU-1", 1), ("SKU-2", 1)]
        requests.append(reserve(pg_url, f"ml-{i}", lines if i % 2 else lines[::-1], "上海"))
    results = await asyncio.gather(*requests, return_exceptions=True)

    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert [r.status for r in results] == ["reserved"] * 10
    async with session_scope(pg_url) as session:
        reserved = dict((await session.execute(
            select(StockLevel.sku, StockLevel.reserved).where(StockLevel.warehouse == "WH-SH"))).all())
    assert reserved == {"SKU-1": 10, "SKU-2": 10}
