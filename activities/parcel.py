"""Parcel merging, the order's side: the same buyer's paid orders to the same address, about to print
from the same warehouse, ship as one parcel.

An order about to print asks `join_parcel`: when another of the buyer's orders is about to print too
(paid, unprinted, unflagged, not waiting for a presale date, not yet claimed) or has just joined the
parcel of this merge key and warehouse, it joins that parcel's ParcelWorkflow by signal-with-start;
otherwise it prints alone. The claim row makes a retry give the same answer; the parcel workflow
decides who rides together, so two orders joining at once meet in one workflow.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.clients.parcel import ParcelClient
from models.db import session_scope
from models.order_workflow import JoinParcelInput, ParcelJoin, ParcelRole, parcel_workflow_id
from models.tables import OrderException, OrderRecord, ParcelMember, Reservation, ShipmentRecord

ALONE, JOINED = "alone", "joined"


async def claim_parcel(db_url: str, request: JoinParcelInput) -> tuple[ParcelRole, int]:
    """The order's role (recorded once: a retry gets the same) and the partners it may wait for."""
    async with session_scope(db_url) as session:
        order = await session.get(OrderRecord, request.order_id)
        if order is None or order.merge_key is None:
            return ParcelRole(role=ALONE), 0
        parcel_id = parcel_workflow_id(order.merge_key, request.warehouse)
        claimed = await session.get(ParcelMember, request.order_id)
        if claimed is not None:  # a retry of a claim already made
            joined = claimed.role == JOINED
            return ParcelRole(role=JOINED if joined else ALONE, parcel_workflow_id=parcel_id if joined else None), 0
        expected = await _candidates(session, order, request.warehouse, request.at)
        # Someone of this merge key joined the parcel within the window: it may still be open.
        recent = await session.scalar(select(func.count()).select_from(ParcelMember).where(
            ParcelMember.parcel_workflow_id == parcel_id, ParcelMember.role == JOINED,
            ParcelMember.joined_at > request.at - timedelta(seconds=request.window_s)))
        role = JOINED if expected or recent else ALONE
        session.add(ParcelMember(order_id=request.order_id, role=role, parcel_workflow_id=parcel_id,
                                 joined_at=request.at, lines=[line.model_dump() for line in request.lines]))
    return ParcelRole(role=role, parcel_workflow_id=parcel_id if role == JOINED else None), expected


async def _candidates(session: AsyncSession, order: OrderRecord, warehouse: str, at: datetime) -> int:
    """The buyer's other orders to this address about to print from this warehouse alone: paid,
    unprinted, unflagged, not yet claimed and not waiting for a presale date. Merely possible
    partners (unpaid, held) are not worth waiting for."""
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


class ParcelActivities:
    """`join_parcel` runs as a local activity: one short transaction, then one signal-with-start."""

    def __init__(self, db_url: str, parcels: ParcelClient) -> None:
        self.db_url, self.parcels = db_url, parcels

    @activity.defn(name="join_parcel")
    async def join_parcel(self, request: JoinParcelInput) -> ParcelRole:
        role, expected = await claim_parcel(self.db_url, request)
        if role.role == JOINED and role.parcel_workflow_id:
            # Sent again on a retry: the parcel counts each order once.
            merge_key, _, warehouse = role.parcel_workflow_id.removeprefix("parcel-").partition("@")
            await self.parcels.join(role.parcel_workflow_id, merge_key, warehouse, ParcelJoin(
                order_id=request.order_id, shipment_id=request.shipment_id, carrier=request.carrier,
                lines=request.lines, window_s=request.window_s, expected=expected))
        return role
