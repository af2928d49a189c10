"""Parcel merging: the same buyer's paid orders to the same address, about to print from the same
warehouse, ship as one parcel under the first one's waybill.

An order about to print claims: it joins an open parcel of its merge key (an UPDATE that locks the row,
so a concurrent close waits for it), or opens one when another of the buyer's orders is about to print
too (paid, unprinted, unflagged, not waiting for a presale date), or prints alone. The leader closes
its parcel (DELETE) when everyone expected has joined or its window ends; the members are then fixed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select, update
from temporalio import activity

from activities.orders import _insert
from models.db import session_scope
from models.inventory import StockRequest
from models.order_workflow import ClaimMergeInput, CloseMergeInput, MergeClaim, MergeMember, MergeMembers
from models.tables import OpenParcel, OrderException, OrderRecord, ParcelMember, Reservation, ShipmentRecord


async def claim_merge(db_url: str, request: ClaimMergeInput) -> MergeClaim:
    async with session_scope(db_url) as session:
        order = await session.get(OrderRecord, request.order_id)
        if order is None or order.merge_key is None:
            return MergeClaim(role="alone")
        key = (OpenParcel.merge_key == order.merge_key, OpenParcel.warehouse == request.warehouse)
        claimed = await session.get(ParcelMember, request.order_id)
        if claimed is not None:  # a retry of a claim already made: the same answer
            if claimed.role != "leader":
                return MergeClaim(role=claimed.role, leader_order_id=claimed.leader_order_id)
            own = await session.scalar(select(OpenParcel).where(*key, OpenParcel.leader_order_id == request.order_id))
            return MergeClaim(role="leader", leader_order_id=request.order_id,
                              closes_at=own.closes_at if own else request.at,
                              expected=await _candidates(session, order, request.warehouse, request.at) if own else 0)

        def claim(role: str, leader: str) -> MergeClaim:
            session.add(ParcelMember(order_id=request.order_id, role=role, leader_order_id=leader, joined_at=request.at,
                                     lines=[line.model_dump() for line in request.lines]))
            return MergeClaim(role=role, leader_order_id=leader)  # type: ignore[arg-type]

        joined = (await session.execute(
            update(OpenParcel).where(*key, OpenParcel.closes_at > request.at)
            .values(members=OpenParcel.members + 1).returning(OpenParcel.leader_order_id))).scalar()
        if joined is not None:
            return claim("follower", joined)
        expected = await _candidates(session, order, request.warehouse, request.at)
        if not expected:
            return claim("alone", request.order_id)
        closes_at = request.at + timedelta(seconds=request.window_s)
        # A parcel left open by a leader that never closed it (its window long over) gives way.
        await session.execute(delete(OpenParcel).where(*key, OpenParcel.closes_at <= request.at))
        opened = await session.execute(_insert(session)(OpenParcel).values(
            merge_key=order.merge_key, warehouse=request.warehouse, leader_order_id=request.order_id,
            closes_at=closes_at, members=0).on_conflict_do_nothing(index_elements=["merge_key", "warehouse"]))
        if opened.rowcount == 0:
            return claim("alone", request.order_id)  # another order opened one a moment ago: never wait twice
        claim("leader", request.order_id)
        return MergeClaim(role="leader", leader_order_id=request.order_id, closes_at=closes_at, expected=expected)


async def _candidates(session, order: OrderRecord, warehouse: str, at: datetime) -> int:  # type: ignore[no-untyped-def]
    """The buyer's other orders to this address about to print from this warehouse alone: paid,
    unprinted, unflagged, not yet claimed (leading, riding or alone) and not waiting for a presale date.
    Merely possible partners (unpaid, held) are not worth waiting for."""
    of_it = Reservation.order_id == OrderRecord.order_id
    here = exists().where(of_it, Reservation.status == "RESERVED", Reservation.warehouse == warehouse)
    elsewhere = exists().where(of_it, Reservation.status == "RESERVED", Reservation.warehouse != warehouse)
    printed = exists().where(ShipmentRecord.order_id == OrderRecord.order_id, ShipmentRecord.waybill_no.is_not(None))
    flagged = exists().where(OrderException.order_id == OrderRecord.order_id, OrderException.resolved_at.is_(None))
    claimed = exists().where(ParcelMember.order_id == OrderRecord.order_id)
    return await session.scalar(select(func.count()).select_from(OrderRecord).where(
        OrderRecord.merge_key == order.merge_key, OrderRecord.order_id != order.order_id,
        OrderRecord.status == "FULFILLING", OrderRecord.paid.is_(True),
        or_(OrderRecord.ship_not_before.is_(None), OrderRecord.ship_not_before <= at),
        here, ~elsewhere, ~printed, ~flagged, ~claimed)) or 0


async def close_merge(db_url: str, request: CloseMergeInput) -> MergeMembers:
    """Close the leader's parcel (no one joins any more) and name who rode along. Repeatable."""
    async with session_scope(db_url) as session:
        await session.execute(delete(OpenParcel).where(and_(OpenParcel.leader_order_id == request.leader_order_id,
                                                            OpenParcel.warehouse == request.warehouse)))
        rows = (await session.execute(select(ParcelMember).where(ParcelMember.leader_order_id == request.leader_order_id,
                                                                 ParcelMember.role == "follower")
                                      .order_by(ParcelMember.joined_at, ParcelMember.order_id))).scalars().all()
    return MergeMembers(members=[MergeMember(order_id=row.order_id, lines=[StockRequest(**line) for line in row.lines])
                                 for row in rows])


class MergeActivities:
    """Run as local activities: short database transactions."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url

    @activity.defn(name="claim_merge")
    async def claim_merge(self, request: ClaimMergeInput) -> MergeClaim:
        return await claim_merge(self.db_url, request)

    @activity.defn(name="close_merge")
    async def close_merge(self, request: CloseMergeInput) -> MergeMembers:
        return await close_merge(self.db_url, request)
