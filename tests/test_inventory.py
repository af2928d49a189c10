"""Inventory activities against a real, migrated and seeded database.

Seed (models/seed.py), as (on_hand, safety_stock) -> sellable:
    SKU-1: WH-SH 500/10 -> 490, WH-GZ 300/10 -> 290, WH-BJ 200/10 -> 190
    SKU-2: WH-SH 200/5 -> 195, WH-GZ 100/5 -> 95
    SKU-3: WH-GZ 80/0 -> 80
    SKU-4: WH-BJ 1000/20 -> 980
Warehouse regions: WH-SH east (上海), WH-GZ south (广东), WH-BJ north (北京).

The tests that matter most run on both SQLite and PostgreSQL (`db_url`); the others on SQLite.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from activities.inventory import (
    InventoryActivities,
    StockConflict,
    commit_stock,
    release_stock,
    reserve_stock,
    set_stock_level,
)
from activities.orders import register_order
from api.stock import stock_of
from models.db import session_scope
from models.inventory import (
    CommitStockInput,
    ReleaseStockInput,
    ReservationResult,
    ReserveStockInput,
    ShortLine,
    StockRequest,
)
from models.order import OrderStatus
from models.order_workflow import RecordTransitionInput, RegisterOrderInput, ReserveForOrderInput, TimelineEntry
from models.rules import DEFAULT_RULES_FILE, Routing, load_rules
from models.tables import OrderEvent, OrderRecord, Reservation, Sku, StockLevel, utcnow
from orderkit import make_order

SEED_SELLABLE_SKU1 = 490 + 290 + 190



# --- helpers ----------------------------------------------------------------------------------


def routing(**changes) -> Routing:
    """The shipped routing rules, with changes."""
    return load_rules(DEFAULT_RULES_FILE).routing.model_copy(update=changes)


async def reserve(url: str, order_id: str, lines: list[tuple[str, int]], province: str = "上海") -> ReservationResult:
    return await reserve_stock(url, ReserveStockInput(
        order_id=order_id, buyer_province=province,
        lines=[StockRequest(sku=sku, quantity=qty) for sku, qty in lines],
    ))


async def release(url: str, order_id: str):
    return await release_stock(url, ReleaseStockInput(order_id=order_id, reason="test"))


async def commit(url: str, order_id: str, warehouse: str):
    return await commit_stock(url, CommitStockInput(order_id=order_id, warehouse=warehouse))


async def levels(url: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(sku, warehouse) -> (on_hand, reserved, safety_stock) of every stock level."""
    async with session_scope(url) as session:
        rows = await session.execute(select(
            StockLevel.sku, StockLevel.warehouse, StockLevel.on_hand, StockLevel.reserved, StockLevel.safety_stock))
        return {(r.sku, r.warehouse): (r.on_hand, r.reserved, r.safety_stock) for r in rows}


async def reservation_rows(url: str, order_id: str | None = None) -> list[tuple[str, str, int, str]]:
    """(sku, warehouse, quantity, status), sorted."""
    stmt = select(Reservation.sku, Reservation.warehouse, Reservation.quantity, Reservation.status)
    if order_id is not None:
        stmt = stmt.where(Reservation.order_id == order_id)
    async with session_scope(url) as session:
        return sorted(tuple(r) for r in await session.execute(stmt))


def allocs(result: ReservationResult) -> list[tuple[str, str, int]]:
    return sorted((a.sku, a.warehouse, a.quantity) for a in result.allocations)


def changed(before: dict, after: dict) -> dict:
    """Only the stock levels that differ: key -> (before, after)."""
    return {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


# --- reserve: warehouse choice -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("province", "warehouse"),
    [("上海", "WH-SH"), ("广东", "WH-GZ"), ("广东省", "WH-GZ"), ("北京市", "WH-BJ"), ("Beijing", "WH-BJ")],
)
async def test_reserve_prefers_buyers_region(db_url, province, warehouse):
    # WH-GZ and WH-BJ hold less SKU-1 than WH-SH: only the region can make them win.
    before = await levels(db_url)
    result = await reserve(db_url, "o-region", [("SKU-1", 3)], province)

    assert result.status == "reserved" and result.short == []
    assert allocs(result) == [("SKU-1", warehouse, 3)]
    on_hand, reserved, safety = before[("SKU-1", warehouse)]
    assert changed(before, await levels(db_url)) == {
        ("SKU-1", warehouse): ((on_hand, reserved, safety), (on_hand, reserved + 3, safety))
    }
    assert await reservation_rows(db_url, "o-region") == [("SKU-1", warehouse, 3, "RESERVED")]


@pytest.mark.parametrize(("province", "warehouse"), [("四川", "WH-GZ"), ("新疆维吾尔自治区", "WH-BJ")])
async def test_without_a_regional_warehouse_the_nearest_region_wins(db_url, province, warehouse):
    # The rules' region_order: southwest ships from south before east, northwest from north first.
    result = await reserve(db_url, "o-far", [("SKU-1", 1)], province)
    assert allocs(result) == [("SKU-1", warehouse, 1)]


async def test_an_unknown_province_takes_most_stock(db_url):
    result = await reserve(db_url, "o-far", [("SKU-1", 1)], "Atlantis")
    assert allocs(result) == [("SKU-1", "WH-SH", 1)]


async def test_routing_criteria_are_data(sqlite_url):
    # Stock before nearest: the 广东 buyer's order goes to the fullest warehouse, WH-SH (490 vs 290).
    stock_first = routing(criteria=["stock", "nearest", "fewest_packages"])
    result = await reserve_stock(sqlite_url, ReserveStockInput(
        order_id="o-stock", buyer_province="广东", lines=[StockRequest(sku="SKU-1", quantity=1)]), stock_first)
    assert allocs(result) == [("SKU-1", "WH-SH", 1)]
    # A region order that puts east last for the south: WH-BJ (north) is now nearer than WH-SH.
    far_east = routing(region_order={**routing().region_order,
                                     "south": ["south", "north", "central", "southwest", "northwest", "northeast", "east"]})
    result = await reserve_stock(sqlite_url, ReserveStockInput(
        order_id="o-north", buyer_province="广东", lines=[StockRequest(sku="SKU-1", quantity=291)]), far_east)
    assert allocs(result) == [("SKU-1", "WH-SH", 291)]  # only WH-SH holds 291
    result = await reserve_stock(sqlite_url, ReserveStockInput(
        order_id="o-north2", buyer_province="广东", lines=[StockRequest(sku="SKU-1", quantity=150)]), far_east)
    assert allocs(result) == [("SKU-1", "WH-GZ", 150)]  # the buyer's own region still first


async def test_most_stock_follows_the_current_levels(sqlite_url):
    # Shrink WH-SH to 100 (90 sellable): now WH-GZ (290) is the largest, WH-BJ (190) second.
    await set_stock_level(sqlite_url, "SKU-1", "WH-SH", 100, None)
    assert allocs(await reserve(sqlite_url, "o-1", [("SKU-1", 1)], "Atlantis")) == [("SKU-1", "WH-GZ", 1)]
    # Safety stock counts too: 300 on hand but 250 kept back leaves 50 sellable at WH-GZ.
    await set_stock_level(sqlite_url, "SKU-1", "WH-GZ", 300, 250)
    assert allocs(await reserve(sqlite_url, "o-2", [("SKU-1", 1)], "Atlantis")) == [("SKU-1", "WH-BJ", 1)]


async def test_regional_warehouse_without_enough_stock_is_skipped(db_url):
    # 广东 buyer, but WH-GZ can sell only 290: the order goes to WH-SH (490) whole.
    result = await reserve(db_url, "o-big", [("SKU-1", 291)], "广东")
    assert allocs(result) == [("SKU-1", "WH-SH", 291)]
    # Exactly the sellable amount of the regional warehouse still stays in the region.
    result = await reserve(db_url, "o-exact", [("SKU-1", 290)], "广东")
    assert allocs(result) == [("SKU-1", "WH-GZ", 290)]


# --- reserve: one warehouse or a split ----------------------------------------------------------


async def test_multi_line_order_served_by_one_warehouse_stays_there(db_url):
    result = await reserve(db_url, "o-gz", [("SKU-1", 2), ("SKU-2", 3)], "广东")
    assert allocs(result) == [("SKU-1", "WH-GZ", 2), ("SKU-2", "WH-GZ", 3)]
    assert result.warehouses == ["WH-GZ"]

    result = await reserve(db_url, "o-sc", [("SKU-1", 2), ("SKU-2", 3)], "四川")  # southwest: south is nearest
    assert allocs(result) == [("SKU-1", "WH-GZ", 2), ("SKU-2", "WH-GZ", 3)]


async def test_one_warehouse_beats_a_split_through_the_regional_one(sqlite_url):
    # WH-BJ is the 北京 buyer's region but has no SKU-2: one parcel from WH-SH beats two.
    result = await reserve(sqlite_url, "o-bj", [("SKU-1", 2), ("SKU-2", 3)], "北京")
    assert allocs(result) == [("SKU-1", "WH-SH", 2), ("SKU-2", "WH-SH", 3)]


async def test_split_when_no_single_warehouse_holds_every_line(db_url):
    before = await levels(db_url)
    result = await reserve(db_url, "o-split", [("SKU-3", 4), ("SKU-4", 6)], "上海")

    assert result.status == "reserved"
    assert allocs(result) == [("SKU-3", "WH-GZ", 4), ("SKU-4", "WH-BJ", 6)]
    assert result.warehouses == ["WH-BJ", "WH-GZ"]
    assert changed(before, await levels(db_url)) == {
        ("SKU-3", "WH-GZ"): ((80, 0, 0), (80, 4, 0)),
        ("SKU-4", "WH-BJ"): ((1000, 0, 20), (1000, 6, 20)),
    }
    assert await reservation_rows(db_url, "o-split") == [
        ("SKU-3", "WH-GZ", 4, "RESERVED"), ("SKU-4", "WH-BJ", 6, "RESERVED"),
    ]


async def test_split_takes_each_line_from_its_best_warehouse(sqlite_url):
    # SKU-2 only fits WH-SH (195 sellable, WH-GZ 95); SKU-3 only exists at WH-GZ. 广东 buyer.
    result = await reserve(sqlite_url, "o-split2", [("SKU-2", 100), ("SKU-3", 1)], "广东")
    assert allocs(result) == [("SKU-2", "WH-SH", 100), ("SKU-3", "WH-GZ", 1)]


async def test_split_packs_into_the_fewest_parcels(db_url):
    # 北京 buyer, three lines no warehouse holds together: SKU-2 x100 fits only WH-SH, SKU-3 is only
    # at WH-GZ, SKU-1 is everywhere. Line by line from the nearest that fits: three parcels (SKU-1
    # from WH-BJ); fewest packages: SKU-1 rides with SKU-2 from WH-SH, two parcels.
    lines = [("SKU-2", 100), ("SKU-3", 1), ("SKU-1", 2)]
    result = await reserve(db_url, "o-pack", lines, "北京")
    assert allocs(result) == [("SKU-1", "WH-SH", 2), ("SKU-2", "WH-SH", 100), ("SKU-3", "WH-GZ", 1)]
    assert result.warehouses == ["WH-GZ", "WH-SH"]

    await release(db_url, "o-pack")
    per_line = routing(criteria=["nearest", "stock"])
    result = await reserve_stock(db_url, ReserveStockInput(
        order_id="o-per-line", buyer_province="北京",
        lines=[StockRequest(sku=sku, quantity=qty) for sku, qty in lines]), per_line)
    assert allocs(result) == [("SKU-1", "WH-BJ", 2), ("SKU-2", "WH-SH", 100), ("SKU-3", "WH-GZ", 1)]


# --- reserve: short -----------------------------------------------------------------------------


async def test_short_names_sku_requested_and_sellable_available(db_url):
    before = await levels(db_url)
    result = await reserve(db_url, "o-short", [("SKU-1", 1000)])

    assert result.status == "short" and result.allocations == []
    assert result.short == [ShortLine(sku="SKU-1", requested=1000, available=SEED_SELLABLE_SKU1)]
    assert result.reason() == f"out_of_stock: SKU-1 needs 1000, {SEED_SELLABLE_SKU1} available"
    assert await levels(db_url) == before
    assert await reservation_rows(db_url, "o-short") == []


async def test_safety_stock_is_not_sellable(sqlite_url):
    # WH-SH holds 500 with 10 kept back: 490 can be sold from it, 491 from no single warehouse.
    short = await reserve(sqlite_url, "o-491", [("SKU-1", 491)])
    assert short.status == "short"
    assert short.short == [ShortLine(sku="SKU-1", requested=491, available=SEED_SELLABLE_SKU1)]

    ok = await reserve(sqlite_url, "o-490", [("SKU-1", 490)])
    assert allocs(ok) == [("SKU-1", "WH-SH", 490)]
    assert (await levels(sqlite_url))[("SKU-1", "WH-SH")] == (500, 490, 10)
    # WH-SH is now at its safety stock: the next unit comes from the next nearest (east: north first).
    assert allocs(await reserve(sqlite_url, "o-next", [("SKU-1", 1)])) == [("SKU-1", "WH-BJ", 1)]


async def test_short_line_reserves_nothing_of_the_other_lines(db_url):
    before = await levels(db_url)
    result = await reserve(db_url, "o-partial", [("SKU-1", 2), ("SKU-3", 81)], "广东")

    assert result.status == "short"
    assert result.short == [ShortLine(sku="SKU-3", requested=81, available=80)]
    assert await levels(db_url) == before
    assert await reservation_rows(db_url) == []


async def test_unknown_sku_is_short_with_nothing_available(sqlite_url):
    result = await reserve(sqlite_url, "o-ghost", [("NO-SUCH-SKU", 1)])
    assert result.status == "short"
    assert result.short == [ShortLine(sku="NO-SUCH-SKU", requested=1, available=0)]


# --- reserve: idempotency -----------------------------------------------------------------------


async def test_reserve_is_idempotent_per_order(db_url):
    first = await reserve(db_url, "o-idem", [("SKU-3", 4), ("SKU-4", 6)])
    second = await reserve(db_url, "o-idem", [("SKU-3", 4), ("SKU-4", 6)])

    assert second.status == "reserved"
    assert allocs(second) == allocs(first) == [("SKU-3", "WH-GZ", 4), ("SKU-4", "WH-BJ", 6)]
    stock = await levels(db_url)
    assert stock[("SKU-3", "WH-GZ")] == (80, 4, 0)
    assert stock[("SKU-4", "WH-BJ")] == (1000, 6, 20)
    assert len(await reservation_rows(db_url, "o-idem")) == 2


async def test_repeat_reserve_returns_the_first_allocation_even_if_stock_moved(sqlite_url):
    first = await reserve(sqlite_url, "o-keep", [("SKU-1", 5)], "广东")
    assert allocs(first) == [("SKU-1", "WH-GZ", 5)]
    # WH-GZ now could not take 5 more (on_hand == reserved): the repeat must not look.
    await set_stock_level(sqlite_url, "SKU-1", "WH-GZ", 5, 0)
    again = await reserve(sqlite_url, "o-keep", [("SKU-1", 5)], "广东")
    assert allocs(again) == [("SKU-1", "WH-GZ", 5)]
    assert (await levels(sqlite_url))[("SKU-1", "WH-GZ")] == (5, 5, 0)


# --- release ------------------------------------------------------------------------------------


async def test_release_is_idempotent_and_restores_availability(db_url):
    await reserve(db_url, "o-rel", [("SKU-3", 4), ("SKU-4", 6)])
    assert (await levels(db_url))[("SKU-3", "WH-GZ")] == (80, 4, 0)

    first = await release(db_url, "o-rel")
    assert (first.order_id, first.units, first.skus) == ("o-rel", 10, ["SKU-3", "SKU-4"])
    after_first = await levels(db_url)
    assert after_first[("SKU-3", "WH-GZ")] == (80, 0, 0)
    assert after_first[("SKU-4", "WH-BJ")] == (1000, 0, 20)
    assert await reservation_rows(db_url, "o-rel") == [
        ("SKU-3", "WH-GZ", 4, "RELEASED"), ("SKU-4", "WH-BJ", 6, "RELEASED"),
    ]

    second = await release(db_url, "o-rel")
    assert (second.units, second.skus) == (0, [])
    assert await levels(db_url) == after_first

    # The 4 units are sellable again: another order can take all 80.
    assert allocs(await reserve(db_url, "o-all", [("SKU-3", 80)])) == [("SKU-3", "WH-GZ", 80)]


async def test_release_of_an_unknown_order_changes_nothing(sqlite_url):
    before = await levels(sqlite_url)
    change = await release(sqlite_url, "o-never")
    assert (change.units, change.skus) == (0, [])
    assert await levels(sqlite_url) == before


async def test_release_gives_back_only_the_orders_own_units(sqlite_url):
    await reserve(sqlite_url, "o-a", [("SKU-1", 3)])
    await reserve(sqlite_url, "o-b", [("SKU-1", 7)])
    assert (await levels(sqlite_url))[("SKU-1", "WH-SH")] == (500, 10, 10)
    assert (await release(sqlite_url, "o-a")).units == 3
    assert (await levels(sqlite_url))[("SKU-1", "WH-SH")] == (500, 7, 10)
    assert await reservation_rows(sqlite_url, "o-b") == [("SKU-1", "WH-SH", 7, "RESERVED")]


# --- commit -------------------------------------------------------------------------------------


async def test_commit_ships_one_warehouse_only_and_is_idempotent(db_url):
    await reserve(db_url, "o-ship", [("SKU-3", 4), ("SKU-4", 6)])
    before = await levels(db_url)

    change = await commit(db_url, "o-ship", "WH-GZ")
    assert (change.units, change.skus) == (4, ["SKU-3"])
    after = await levels(db_url)
    assert changed(before, after) == {("SKU-3", "WH-GZ"): ((80, 4, 0), (76, 0, 0))}
    assert await reservation_rows(db_url, "o-ship") == [
        ("SKU-3", "WH-GZ", 4, "COMMITTED"), ("SKU-4", "WH-BJ", 6, "RESERVED"),
    ]

    again = await commit(db_url, "o-ship", "WH-GZ")
    assert (again.units, again.skus) == (0, [])
    assert await levels(db_url) == after

    # The other parcel leaves later.
    change = await commit(db_url, "o-ship", "WH-BJ")
    assert (change.units, change.skus) == (6, ["SKU-4"])
    assert (await levels(db_url))[("SKU-4", "WH-BJ")] == (994, 0, 20)


async def test_commit_of_a_warehouse_outside_the_order_changes_nothing(sqlite_url):
    await reserve(sqlite_url, "o-sh", [("SKU-1", 2)])
    before = await levels(sqlite_url)
    change = await commit(sqlite_url, "o-sh", "WH-BJ")
    assert change.units == 0
    assert await levels(sqlite_url) == before
    assert await reservation_rows(sqlite_url, "o-sh") == [("SKU-1", "WH-SH", 2, "RESERVED")]


async def test_release_after_commit_releases_only_the_uncommitted_warehouse(db_url):
    await reserve(db_url, "o-half", [("SKU-3", 4), ("SKU-4", 6)])
    await commit(db_url, "o-half", "WH-GZ")
    before = await levels(db_url)

    change = await release(db_url, "o-half")
    assert (change.units, change.skus) == (6, ["SKU-4"])
    assert changed(before, await levels(db_url)) == {("SKU-4", "WH-BJ"): ((1000, 6, 20), (1000, 0, 20))}
    assert await reservation_rows(db_url, "o-half") == [
        ("SKU-3", "WH-GZ", 4, "COMMITTED"), ("SKU-4", "WH-BJ", 6, "RELEASED"),
    ]


async def test_release_after_full_commit_releases_nothing(sqlite_url):
    await reserve(sqlite_url, "o-out", [("SKU-1", 2)])
    await commit(sqlite_url, "o-out", "WH-SH")
    before = await levels(sqlite_url)
    assert before[("SKU-1", "WH-SH")] == (498, 0, 10)

    change = await release(sqlite_url, "o-out")
    assert (change.units, change.skus) == (0, [])
    assert await levels(sqlite_url) == before
    assert await reservation_rows(sqlite_url, "o-out") == [("SKU-1", "WH-SH", 2, "COMMITTED")]


async def test_commit_after_release_ships_nothing(sqlite_url):
    await reserve(sqlite_url, "o-gone", [("SKU-1", 2)])
    await release(sqlite_url, "o-gone")
    before = await levels(sqlite_url)
    assert (await commit(sqlite_url, "o-gone", "WH-SH")).units == 0
    assert await levels(sqlite_url) == before


# --- set_stock_level ----------------------------------------------------------------------------


async def test_set_stock_level_creates_a_new_sku_and_level(db_url):
    level = await set_stock_level(db_url, "NEW-1", "WH-BJ", 40, 3)
    assert (level.sku, level.warehouse, level.on_hand, level.reserved, level.safety_stock) == ("NEW-1", "WH-BJ", 40, 0, 3)

    async with session_scope(db_url) as session:
        assert (await session.execute(select(Sku.code).where(Sku.code == "NEW-1"))).scalar_one() == "NEW-1"
    assert (await levels(db_url))[("NEW-1", "WH-BJ")] == (40, 0, 3)

    # The new stock is sellable at once, minus its safety stock.
    assert allocs(await reserve(db_url, "o-new", [("NEW-1", 37)], "北京")) == [("NEW-1", "WH-BJ", 37)]
    short = await reserve(db_url, "o-new2", [("NEW-1", 1)], "北京")
    assert short.short == [ShortLine(sku="NEW-1", requested=1, available=0)]


async def test_set_stock_level_new_level_without_safety_stock_gets_zero(sqlite_url):
    # SKU-3 exists, but not at WH-SH: a second level of an existing sku.
    level = await set_stock_level(sqlite_url, "SKU-3", "WH-SH", 5, None)
    assert (level.on_hand, level.reserved, level.safety_stock) == (5, 0, 0)
    stock = await levels(sqlite_url)
    assert stock[("SKU-3", "WH-SH")] == (5, 0, 0)
    assert stock[("SKU-3", "WH-GZ")] == (80, 0, 0)


async def test_set_stock_level_updates_on_hand_and_keeps_safety_when_none(db_url):
    level = await set_stock_level(db_url, "SKU-1", "WH-SH", 650, None)
    assert (level.on_hand, level.reserved, level.safety_stock) == (650, 0, 10)
    assert (await levels(db_url))[("SKU-1", "WH-SH")] == (650, 0, 10)

    # An explicit 0 is a value, not "keep".
    level = await set_stock_level(db_url, "SKU-1", "WH-SH", 650, 0)
    assert level.safety_stock == 0
    level = await set_stock_level(db_url, "SKU-1", "WH-SH", 640, 25)
    assert (level.on_hand, level.safety_stock) == (640, 25)
    assert (await levels(db_url))[("SKU-1", "WH-SH")] == (640, 0, 25)


async def test_set_stock_level_keeps_reserved_units(sqlite_url):
    await reserve(sqlite_url, "o-r", [("SKU-1", 5)])
    level = await set_stock_level(sqlite_url, "SKU-1", "WH-SH", 120, None)
    assert (level.on_hand, level.reserved, level.safety_stock) == (120, 5, 10)


async def test_set_stock_level_below_reserved_is_refused_and_changes_nothing(db_url):
    await reserve(db_url, "o-held", [("SKU-1", 5)])
    before = await levels(db_url)
    assert before[("SKU-1", "WH-SH")] == (500, 5, 10)

    with pytest.raises(StockConflict, match="below the 5 units reserved"):
        await set_stock_level(db_url, "SKU-1", "WH-SH", 4, 0)
    assert await levels(db_url) == before

    # Down to exactly the reserved units is allowed.
    level = await set_stock_level(db_url, "SKU-1", "WH-SH", 5, None)
    assert (level.on_hand, level.reserved, level.safety_stock) == (5, 5, 10)


# --- database constraints -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "assignment",
    ["reserved = on_hand + 1", "on_hand = -1, reserved = 0", "reserved = -1", "safety_stock = -1"],
)
async def test_check_constraints_refuse_impossible_stock(db_url, assignment):
    before = await levels(db_url)
    with pytest.raises(IntegrityError):
        async with session_scope(db_url) as session:
            await session.execute(text(
                f"UPDATE stock_levels SET {assignment} WHERE sku = 'SKU-1' AND warehouse = 'WH-SH'"))
    assert await levels(db_url) == before


async def test_check_constraint_refuses_a_zero_quantity_reservation(db_url):
    with pytest.raises(IntegrityError):
        async with session_scope(db_url) as session:
            await session.execute(text(
                "INSERT INTO reservations (order_id, sku, warehouse, quantity, status, created_at, updated_at) "
                "VALUES ('o-zero', 'SKU-1', 'WH-SH', 0, 'RESERVED', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    assert await reservation_rows(db_url) == []


async def test_an_order_can_reserve_again_after_releasing(sqlite_url):
    first = await reserve_stock(sqlite_url, ReserveStockInput(
        order_id="again-1", buyer_province="上海", lines=[StockRequest(sku="SKU-3", quantity=5)]))
    assert first.status == "reserved"
    await release_stock(sqlite_url, ReleaseStockInput(order_id="again-1", reason="held"))
    second = await reserve_stock(sqlite_url, ReserveStockInput(
        order_id="again-1", buyer_province="上海", lines=[StockRequest(sku="SKU-3", quantity=5)]))
    assert second.status == "reserved" and second.allocations == first.allocations
    stock = await stock_of(sqlite_url, "SKU-3")
    assert stock.warehouses[0].reserved == 5


# --- reserve with the order's transition (one local activity) -----------------------------------


async def _registered(url: str, lines: list[tuple[str, int]]):
    order = make_order(lines)
    await register_order(url, RegisterOrderInput(order=order, workflow_id=f"order-{order.order_id}",
                                                 received_at=order.placed_at or utcnow()))
    return order


def _reserve_for(order, seq: int):
    return ReserveForOrderInput(
        reserve=ReserveStockInput(order_id=order.order_id, buyer_province="上海",
                                  lines=[StockRequest(sku=line.sku, quantity=line.quantity) for line in order.lines]),
        on_reserved=RecordTransitionInput(order_id=order.order_id, entry=TimelineEntry(
            seq=seq, at=utcnow(), status=OrderStatus.AWAITING_PAYMENT, event="stock_reserved")))


async def _timeline(url: str, order_id: str) -> list[tuple[int, str, str, dict]]:
    async with session_scope(url) as session:
        rows = await session.execute(select(OrderEvent.seq, OrderEvent.status, OrderEvent.event, OrderEvent.detail)
                                     .where(OrderEvent.order_id == order_id).order_by(OrderEvent.seq))
        return [tuple(r) for r in rows]


async def test_reserve_for_order_records_the_transition_once_with_its_allocations(db_url):
    activities = InventoryActivities(db_url)
    order = await _registered(db_url, [("SKU-3", 4)])
    first = await activities.reserve_stock_for_order(_reserve_for(order, seq=1))
    again = await activities.reserve_stock_for_order(_reserve_for(order, seq=1))  # a retry of the same step

    assert allocs(first) == allocs(again) == [("SKU-3", "WH-GZ", 4)]
    assert (await levels(db_url))[("SKU-3", "WH-GZ")] == (80, 4, 0)
    timeline = await _timeline(db_url, order.order_id)
    assert [(seq, status, event) for seq, status, event, _ in timeline] == [
        (0, "RECEIVED", "received"), (1, "AWAITING_PAYMENT", "stock_reserved")]
    assert timeline[1][3] == {"allocations": [{"sku": "SKU-3", "warehouse": "WH-GZ", "quantity": 4}]}
    async with session_scope(db_url) as session:
        assert (await session.get(OrderRecord, order.order_id)).status == "AWAITING_PAYMENT"


async def test_reserve_for_order_short_records_nothing(sqlite_url):
    order = await _registered(sqlite_url, [("SKU-3", 81)])
    result = await InventoryActivities(sqlite_url).reserve_stock_for_order(_reserve_for(order, seq=1))

    assert result.status == "short"
    assert [event for _, _, event, _ in await _timeline(sqlite_url, order.order_id)] == ["received"]
    assert await reservation_rows(sqlite_url, order.order_id) == []
