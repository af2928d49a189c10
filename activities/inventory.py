"""Inventory: reserve, release and commit stock, and set stock levels.

Every change is a conditional UPDATE evaluated by the database, never read-modify-write in
Python, so concurrent orders cannot oversell. Reserve, release and commit are idempotent per
order: the reservation rows carry the state, and a repeat finds nothing left to change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, func, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.orders import record_transition_in
from models.after_sales import InspectReturnInput, ReturnStockInput
from models.channel_sync import AvailableToSell, AvailableToSellInput, ShopKey
from models.db import read_scope, session_scope
from models.inventory import (
    Allocation,
    CommitStockInput,
    ReleaseStockInput,
    ReservationResult,
    ReserveStockInput,
    ShortLine,
    StockChange,
    StockRequest,
)
from models.order_workflow import ReserveForOrderInput
from models.regions import region_of
from models.rules import DEFAULT_RULES_FILE, Criterion, Routing, shared_rules
from models.tables import Reservation, ReturnedUnits, Shop, Sku, StockLevel, Warehouse, utcnow

SELLABLE = col(StockLevel.on_hand) - col(StockLevel.reserved) - col(StockLevel.safety_stock)


@dataclass(frozen=True)
class _Candidate:
    warehouse: str
    distance: int  # the warehouse region's place in the buyer region's nearest-first list
    available: dict[str, int]  # sku -> sellable units when read (a hint; the UPDATE decides)


class StockConflict(Exception):
    """A stock change the current levels do not allow (e.g. on_hand below reserved)."""


# Written in the reservation's own transaction when it succeeds (the order's transition): both or neither.
OnReserved = Callable[[AsyncSession, list[Allocation]], Awaitable[None]]


async def reserve_stock(db_url: str, request: ReserveStockInput, routing: Routing | None = None,
                        on_reserved: OnReserved | None = None) -> ReservationResult:
    """Reserve along the routing rules: the plans tried in the order of the rules' criteria."""
    routing = routing or shared_rules(DEFAULT_RULES_FILE).current.routing
    # Two reads in autocommit, without BEGIN and COMMIT round trips: neither needs the other's snapshot
    # (the ranking is a hint; the conditional UPDATE decides, under the order's own lock).
    async with read_scope(db_url) as session:
        existing = await _held_by(session, request.order_id)
        if existing:
            return ReservationResult(status="reserved", allocations=existing)
        candidates = await _rank_warehouses(session, request, routing)
    for plan in _plans(request.lines, candidates, routing.criteria):
        try:
            allocations = await _try_reserve(db_url, request.order_id, plan, on_reserved)
        except _AlreadyReserved:
            return ReservationResult(status="reserved", allocations=await _existing_allocations(db_url, request.order_id))
        if allocations is not None:
            return ReservationResult(status="reserved", allocations=allocations)
    if existing := await _existing_allocations(db_url, request.order_id):
        return ReservationResult(status="reserved", allocations=existing)  # a concurrent attempt won the stock
    return ReservationResult(status="short", short=_short_lines(request.lines, candidates))


async def release_stock(db_url: str, request: ReleaseStockInput) -> StockChange:
    return await _settle(db_url, request.order_id, None, "RELEASED", ship=False)


async def commit_stock(db_url: str, request: CommitStockInput) -> StockChange:
    return await _settle(db_url, request.order_id, request.warehouse, "COMMITTED", ship=True)


async def set_stock_level(
    db_url: str, sku: str, warehouse: str, on_hand: int, safety_stock: int | None,
    *, before: dict[str, int] | None = None,
) -> StockLevel:
    """Create or set a stock level. Refused (StockConflict) when on_hand would fall below
    the units already reserved: those belong to orders. `before`, when given, receives the level's
    on_hand and safety_stock as they were (left empty for a new level), read under the row's lock
    in the same transaction: the audit's before is what the change replaced."""
    now = utcnow()
    async with session_scope(db_url) as session:
        dialect = session.get_bind().dialect.name
        if before is not None:
            previous = (await session.exec(select(StockLevel.on_hand, StockLevel.safety_stock).where(
                col(StockLevel.sku) == sku, col(StockLevel.warehouse) == warehouse).with_for_update())).first()
            if previous is not None:
                before.update(on_hand=previous[0], safety_stock=previous[1])
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await session.exec(
            insert(Sku).values(code=sku, name=sku, created_at=now).on_conflict_do_nothing()
        )
        stmt = insert(StockLevel).values(
            sku=sku, warehouse=warehouse, on_hand=on_hand, reserved=0,
            safety_stock=safety_stock or 0, updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["sku", "warehouse"],
            set_={
                "on_hand": stmt.excluded.on_hand,
                "safety_stock": StockLevel.safety_stock if safety_stock is None else stmt.excluded.safety_stock,
                "updated_at": stmt.excluded.updated_at,
            },
            where=col(StockLevel.reserved) <= stmt.excluded.on_hand,
        )
        result = await session.exec(stmt)
        level = await session.get(StockLevel, (sku, warehouse), populate_existing=True)
        if result.rowcount == 0 or level is None:
            reserved = level.reserved if level else 0
            raise StockConflict(f"on_hand {on_hand} is below the {reserved} units reserved for open orders")
        return level


# --- reserve ------------------------------------------------------------------------------


async def _existing_allocations(db_url: str, order_id: str) -> list[Allocation]:
    async with read_scope(db_url) as session:
        return await _held_by(session, order_id)


async def _held_by(session: AsyncSession, order_id: str) -> list[Allocation]:
    rows = await session.exec(
        select(Reservation.sku, Reservation.warehouse, Reservation.quantity).where(
            col(Reservation.order_id) == order_id, col(Reservation.status).in_(("RESERVED", "COMMITTED"))
        )
    )
    return [Allocation(sku=sku, warehouse=warehouse, quantity=quantity) for sku, warehouse, quantity in rows]


async def _rank_warehouses(session: AsyncSession, request: ReserveStockInput, routing: Routing) -> list[_Candidate]:
    """Warehouses holding any requested sku, ranked by the routing criteria (nearest, stock)."""
    buyer_region = region_of(request.buyer_province)
    nearest_first = routing.region_order.get(buyer_region or "", [])
    skus = [line.sku for line in request.lines]
    rows = await session.exec(
        select(StockLevel.warehouse, StockLevel.sku, SELLABLE.label("available"), Warehouse.region)
        .join(Warehouse, col(Warehouse.code) == col(StockLevel.warehouse))
        .where(col(StockLevel.sku).in_(skus))
    )
    by_warehouse: dict[str, dict[str, int]] = defaultdict(dict)
    regions: dict[str, str] = {}
    for warehouse, sku, available, region in rows:
        by_warehouse[warehouse][sku] = max(available, 0)
        regions[warehouse] = region
    far = len(nearest_first)  # an unknown region: every warehouse equally far
    candidates = [
        _Candidate(code, nearest_first.index(regions[code]) if regions[code] in nearest_first else far, stock)
        for code, stock in by_warehouse.items()
    ]
    keys = {"nearest": lambda c: c.distance, "stock": lambda c: -sum(c.available.values())}
    candidates.sort(key=lambda c: (*(keys[k](c) for k in routing.criteria if k in keys), c.warehouse))
    return candidates


def _plans(lines: list[StockRequest], candidates: list[_Candidate], criteria: list[Criterion]) -> list[list[Allocation]]:
    """Attempts in order of preference: each warehouse that can ship the whole order alone (in the
    candidates' rank), then, when none can, one split plan. With fewest_packages the split takes the
    warehouse covering the most remaining lines first; without it each line from its best warehouse."""
    plans = [
        [Allocation(sku=line.sku, warehouse=c.warehouse, quantity=line.quantity) for line in lines]
        for c in candidates
        if all(c.available.get(line.sku, 0) >= line.quantity for line in lines)
    ]
    if len(lines) > 1:
        split = _split(lines, candidates, fewest_packages="fewest_packages" in criteria)
        if split is not None and len({a.warehouse for a in split}) > 1:
            plans.append(split)
    return plans


def _split(lines: list[StockRequest], candidates: list[_Candidate], *, fewest_packages: bool) -> list[Allocation] | None:
    def fits(c: _Candidate, line: StockRequest) -> bool:
        return c.available.get(line.sku, 0) >= line.quantity

    left, split = list(lines), []
    while left:
        if fewest_packages:  # max() keeps the first of equals: the better-ranked warehouse
            best = max(candidates, key=lambda c: sum(fits(c, line) for line in left), default=None)
        else:
            best = next((c for c in candidates if fits(c, left[0])), None)
        taken = [line for line in left if best is not None and fits(best, line)]
        if best is None or not taken:
            return None
        if not fewest_packages:
            taken = taken[:1]
        split += [Allocation(sku=line.sku, warehouse=best.warehouse, quantity=line.quantity) for line in taken]
        left = [line for line in left if line not in taken]
    return sorted(split, key=lambda a: [line.sku for line in lines].index(a.sku))


async def _try_reserve(db_url: str, order_id: str, plan: list[Allocation],
                       on_reserved: OnReserved | None = None) -> list[Allocation] | None:
    """All lines of a plan in one transaction: every conditional UPDATE succeeds, or none counts.

    The stock rows are what every buyer of a hot sku contends for: they are changed last, right
    before COMMIT, so each transaction holds their lock for one round trip instead of four (on a
    flash sale that hold time, not the database, sets how many orders a second one sku takes)."""
    now = utcnow()
    try:
        async with session_scope(db_url) as session:
            conn = await session.connection()  # Core statements: no ORM bookkeeping per statement
            dialect = session.get_bind().dialect.name
            if dialect == "postgresql":
                # Two attempts of one order (a retry while the first still runs) may pick different
                # warehouses: one at a time per order. SQLite has one writer at a time anyway.
                await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                                      {"key": f"reserve:{order_id}"})
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            for allocation in plan:
                stmt = insert(Reservation).values(
                    order_id=order_id, sku=allocation.sku, warehouse=allocation.warehouse,
                    quantity=allocation.quantity, status="RESERVED", created_at=now, updated_at=now,
                )
                # An order that released its stock (a hold, a resolved cancel) may reserve again.
                stmt = stmt.on_conflict_do_update(
                    index_elements=["order_id", "sku", "warehouse"],
                    set_={"status": "RESERVED", "quantity": stmt.excluded.quantity, "updated_at": now},
                    where=col(Reservation.status) == "RELEASED",
                )
                if (await conn.execute(stmt)).rowcount != 1:
                    raise _AlreadyReserved  # a concurrent repeat of this order got there first
            held = await conn.scalar(select(func.count()).select_from(Reservation).where(
                col(Reservation.order_id) == order_id, col(Reservation.status).in_(("RESERVED", "COMMITTED"))))
            if held != len(plan):
                raise _AlreadyReserved  # ... in other warehouses: this attempt rolls back
            if on_reserved is not None:
                await on_reserved(session, plan)  # rolls back with the plan when the stock is gone
            # One global lock order (warehouse, sku): two orders listing the same skus in
            # opposite order must not deadlock each other.
            for allocation in sorted(plan, key=lambda a: (a.warehouse, a.sku)):
                result = await conn.execute(
                    update(StockLevel)
                    .where(
                        col(StockLevel.sku) == allocation.sku,
                        col(StockLevel.warehouse) == allocation.warehouse,
                        SELLABLE >= allocation.quantity,
                    )
                    .values(reserved=StockLevel.reserved + allocation.quantity, updated_at=now)
                )
                if result.rowcount != 1:
                    raise _PlanFailed  # the reservations above roll back with it
    except _PlanFailed:
        return None
    return plan


class _PlanFailed(Exception):
    pass


class _AlreadyReserved(Exception):
    pass


def _short_lines(lines: list[StockRequest], candidates: list[_Candidate]) -> list[ShortLine]:
    short = []
    for line in lines:
        available = sum(c.available.get(line.sku, 0) for c in candidates)
        best_single = max((c.available.get(line.sku, 0) for c in candidates), default=0)
        if best_single < line.quantity:
            short.append(ShortLine(sku=line.sku, requested=line.quantity, available=available))
    if not short:  # lost a race on every plan: report every line as contended
        short = [
            ShortLine(sku=line.sku, requested=line.quantity,
                      available=sum(c.available.get(line.sku, 0) for c in candidates))
            for line in lines
        ]
    return short


# --- release and commit -------------------------------------------------------------------


async def _settle(db_url: str, order_id: str, warehouse: str | None, to_status: str, ship: bool) -> StockChange:
    """Flip the order's RESERVED rows (of one warehouse, or all) and give back or ship their
    units. The status flip is conditional, so a repeat changes nothing."""
    now = utcnow()
    conditions: list[ColumnElement[bool]] = [col(Reservation.order_id) == order_id, col(Reservation.status) == "RESERVED"]
    if warehouse is not None:
        conditions.append(col(Reservation.warehouse) == warehouse)
    async with session_scope(db_url) as session:
        rows = (
            await session.exec(
                update(Reservation)
                .where(and_(*conditions))
                .values(status=to_status, updated_at=now)
                .returning(col(Reservation.sku), col(Reservation.warehouse), col(Reservation.quantity))
            )
        ).all()
        for row in sorted(rows, key=lambda r: (r.warehouse, r.sku)):  # same lock order as reserve
            values = {"reserved": StockLevel.reserved - row.quantity, "updated_at": now}
            if ship:
                values["on_hand"] = StockLevel.on_hand - row.quantity
            result = await session.exec(
                update(StockLevel)
                .where(
                    col(StockLevel.sku) == row.sku,
                    col(StockLevel.warehouse) == row.warehouse,
                    col(StockLevel.reserved) >= row.quantity,
                )
                .values(**values)
            )
            if result.rowcount != 1:
                raise RuntimeError(f"stock level {row.sku}@{row.warehouse} lost its reservation")
    return StockChange(order_id=order_id, units=sum(r.quantity for r in rows), skus=sorted({r.sku for r in rows}))


# --- returns ------------------------------------------------------------------------------


async def expect_return(db_url: str, request: ReturnStockInput) -> StockChange:
    """A return was asked for: its units count as awaiting inspection (never sellable) at the
    warehouse they shipped from. One EXPECTED row per ticket and sku: a repeat inserts nothing."""
    now = utcnow()
    counted: list[str] = []
    async with session_scope(db_url) as session:
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        for line in sorted(request.lines, key=lambda l: (l.warehouse or "", l.sku)):  # reserve's lock order
            if line.warehouse is None:
                continue  # not shipped: nothing comes back
            inserted = await session.exec(
                insert(ReturnedUnits).values(ticket_id=request.ticket_id, sku=line.sku, warehouse=line.warehouse,
                                             quantity=line.quantity, status="EXPECTED", updated_at=now)
                .on_conflict_do_nothing(index_elements=["ticket_id", "sku", "warehouse"])
            )
            if inserted.rowcount != 1:
                continue
            result = await session.exec(
                update(StockLevel)
                .where(col(StockLevel.sku) == line.sku, col(StockLevel.warehouse) == line.warehouse)
                .values(awaiting_inspection=StockLevel.awaiting_inspection + line.quantity, updated_at=now)
            )
            if result.rowcount != 1:
                raise RuntimeError(f"no stock level {line.sku}@{line.warehouse} to return to")
            counted.append(line.sku)
    return StockChange(order_id=request.ticket_id, units=0, skus=sorted(set(counted)))


async def cancel_expected_return(db_url: str, ticket_id: str) -> StockChange:
    """The parcel will not come (ticket rejected or closed): its units stop awaiting inspection."""
    return await _settle_return(db_url, ticket_id, accepted_total=None)


async def inspect_return(db_url: str, request: InspectReturnInput) -> StockChange:
    """Inspected: accepted units (taken line by line) go back on hand and on sale, the rest to damaged."""
    return await _settle_return(db_url, request.ticket_id, accepted_total=request.accepted_quantity)


async def _settle_return(db_url: str, ticket_id: str, accepted_total: int | None) -> StockChange:
    now = utcnow()
    to_status = "CANCELLED" if accepted_total is None else "INSPECTED"
    async with session_scope(db_url) as session:
        rows = (await session.exec(
            update(ReturnedUnits)
            .where(col(ReturnedUnits.ticket_id) == ticket_id, col(ReturnedUnits.status) == "EXPECTED")
            .values(status=to_status, updated_at=now)
            .returning(col(ReturnedUnits.id), col(ReturnedUnits.sku), col(ReturnedUnits.warehouse),
                       col(ReturnedUnits.quantity))
        )).all()
        left = accepted_total or 0
        units = 0
        for row in sorted(rows, key=lambda r: (r.warehouse, r.sku)):
            values: dict[str, object] = {"awaiting_inspection": StockLevel.awaiting_inspection - row.quantity, "updated_at": now}
            if accepted_total is not None:
                accepted = min(left, row.quantity)
                left -= accepted
                values["on_hand"] = StockLevel.on_hand + accepted
                values["damaged"] = StockLevel.damaged + (row.quantity - accepted)
                units += accepted
                await session.exec(update(ReturnedUnits).where(col(ReturnedUnits.id) == row.id)
                                      .values(accepted=accepted, damaged=row.quantity - accepted))
            result = await session.exec(
                update(StockLevel)
                .where(col(StockLevel.sku) == row.sku, col(StockLevel.warehouse) == row.warehouse,
                       col(StockLevel.awaiting_inspection) >= row.quantity)
                .values(**values)
            )
            if result.rowcount != 1:
                raise RuntimeError(f"stock level {row.sku}@{row.warehouse} lost its awaited return")
    return StockChange(order_id=ticket_id, units=units, skus=sorted({r.sku for r in rows}))


# --- what the shops may sell ----------------------------------------------------------------


async def available_to_sell(db_url: str, sku: str) -> int:
    """Units the shops may sell: per warehouse what is above its safety stock, never below 0, so a
    warehouse at or below its safety stock contributes nothing."""
    async with session_scope(db_url) as session:
        total = (await session.exec(
            select(func.coalesce(func.sum(case((SELLABLE > 0, SELLABLE), else_=0)), 0))
            .where(col(StockLevel.sku) == sku))).one()
    return int(total or 0)


async def plan_stock_push(db_url: str, request: AvailableToSellInput) -> AvailableToSell:
    """The quantity to show for a sku and the shops to show it in: every active shop sells the
    whole catalogue (a paused shop gets the current quantity when its sync resumes)."""
    quantity = await available_to_sell(db_url, request.sku)
    async with session_scope(db_url) as session:
        shops = (await session.exec(select(Shop.channel, Shop.shop).where(col(Shop.status) == "ACTIVE")
                                    .order_by(col(Shop.channel), col(Shop.shop)))).all()
    return AvailableToSell(sku=request.sku, quantity=quantity, shops=[ShopKey(channel=c, shop=s) for c, s in shops])


# --- Temporal activities --------------------------------------------------------------------

StockChangeListener = Callable[[list[str], str], Awaitable[None]]


class InventoryActivities:
    """Inventory activities, run as local activities: short database transactions.

    `on_change(skus, reason)` hears every change of reserved or on-hand stock (the stock push to
    the shops); it runs inside the activity, so a failure retries the (idempotent) change."""

    def __init__(self, db_url: str, on_change: StockChangeListener | None = None,
                 routing: Callable[[], Routing] | None = None) -> None:
        self.db_url = db_url
        self.on_change = on_change
        self.routing = routing  # the routing rules in force (the rules file, reloaded when it changes)

    async def _changed(self, skus: list[str], reason: str) -> None:
        if self.on_change is not None and skus:
            await self.on_change(skus, reason)

    async def _reserve(self, request: ReserveStockInput, on_reserved: OnReserved | None = None) -> ReservationResult:
        result = await reserve_stock(self.db_url, request, self.routing() if self.routing else None, on_reserved)
        if result.status == "reserved":
            await self._changed(sorted({a.sku for a in result.allocations}), "reserved")
        return result

    @activity.defn(name="reserve_stock_for_order")
    async def reserve_stock_for_order(self, request: ReserveForOrderInput) -> ReservationResult:
        """Reserve and, when reserved, record the order's transition in the same transaction, before the
        contended stock rows: one local activity and one transaction instead of two each (a retry finds
        the reservation, and with it the transition, already there)."""
        async def record(session: AsyncSession, allocations: list[Allocation]) -> None:
            transition = request.on_reserved.model_copy(deep=True)
            transition.entry.detail["allocations"] = [a.model_dump() for a in allocations]
            await record_transition_in(session, transition)

        return await self._reserve(request.reserve, on_reserved=record)

    @activity.defn(name="release_stock")
    async def release_stock(self, request: ReleaseStockInput) -> StockChange:
        change = await release_stock(self.db_url, request)
        await self._changed(change.skus, "released")
        return change

    @activity.defn(name="commit_stock")
    async def commit_stock(self, request: CommitStockInput) -> StockChange:
        change = await commit_stock(self.db_url, request)
        await self._changed(change.skus, "shipped")
        return change

    @activity.defn(name="expect_return")
    async def expect_return(self, request: ReturnStockInput) -> StockChange:
        return await expect_return(self.db_url, request)

    @activity.defn(name="cancel_expected_return")
    async def cancel_expected_return(self, request: ReturnStockInput) -> StockChange:
        return await cancel_expected_return(self.db_url, request.ticket_id)

    @activity.defn(name="inspect_return")
    async def inspect_return(self, request: InspectReturnInput) -> StockChange:
        change = await inspect_return(self.db_url, request)
        if change.units:
            await self._changed(change.skus, "restocked")
        return change

    @activity.defn(name="plan_stock_push")
    async def plan_stock_push(self, request: AvailableToSellInput) -> AvailableToSell:
        return await plan_stock_push(self.db_url, request)
