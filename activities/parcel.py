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
from typing import Final, Literal

from sqlalchemy import exists, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.clients.parcel import ParcelClient
from models.db import session_scope
from models.order_workflow import JoinParcelInput, ParcelJoin, ParcelRole, parcel_workflow_id
from models.tables import OrderException, OrderRecord, ParcelMember, Reservation, ShipmentRecord

ALONE: Final = "alone"
JOINED: Final = "joined"


async def claim_parcel(db_url: str, request: JoinParcelInput) -> tuple[ParcelRole, list[str]]:
    """The order's role (recorded once: a retry gets the same) and the partners it may wait for."""
    async with session_scope(db_url) as session:
        order = await session.get(OrderRecord, request.order_id)
        if order is None or order.merge_key is None:
            return ParcelRole(role=ALONE), []
        parcel_id = parcel_workflow_id(order.merge_key, request.warehouse)
        claimed = await session.get(ParcelMember, request.order_id)
        if claimed is not None:  # a retry of a claim already made
            joined = claimed.role == JOINED
            return ParcelRole(role=JOINED if joined else ALONE, parcel_workflow_id=parcel_id if joined else None), []
        partners = await _candidates(session, order, request.warehouse, request.at)
        # Someone of this merge key joined the parcel within the window: it may still be open.
        recent = (await session.exec(select(func.count()).select_from(ParcelMember).where(
            col(ParcelMember.parcel_workflow_id) == parcel_id, col(ParcelMember.role) == JOINED,
            col(ParcelMember.joined_at) > request.at - timedelta(seconds=request.window_s)))).one()
        role: Literal["alone", "joined"] = JOINED if partners or recent else ALONE
        session.add(ParcelMember(order_id=request.order_id, role=role, parcel_workflow_id=parcel_id,
                                 joined_at=request.at, lines=[line.model_dump() for line in request.lines]))
    return ParcelRole(role=role, parcel_workflow_id=parcel_id if role == JOINED else None), partners


async def _candidates(session: AsyncSession, order: OrderRecord, warehouse: str, at: datetime) -> list[str]:
    """The buyer's other orders to this address about to print from this warehouse alone: paid,
    unprinted, unflagged, not yet claimed and not waiting for a presale date. Merely possible
    partners (unpaid, held) are not worth waiting for."""
    this_order = col(OrderRecord.order_id)
    of_it = col(Reservation.order_id) == this_order
    reserved = col(Reservation.status) == "RESERVED"
    here = exists().where(of_it, reserved, col(Reservation.warehouse) == warehouse)
    elsewhere = exists().where(of_it, reserved, col(Reservation.warehouse) != warehouse)
    printed = exists().where(col(ShipmentRecord.order_id) == this_order, col(ShipmentRecord.waybill_no).is_not(None))
    flagged = exists().where(col(OrderException.order_id) == this_order, col(OrderException.resolved_at).is_(None))
    claimed = exists().where(col(ParcelMember.order_id) == this_order)
    ship_not_before = col(OrderRecord.ship_not_before)
    return list((await session.exec(select(this_order).where(
        col(OrderRecord.merge_key) == order.merge_key, this_order != order.order_id,
        col(OrderRecord.status) == "FULFILLING", col(OrderRecord.paid).is_(True),
        or_(ship_not_before.is_(None), ship_not_before <= at),
        here, ~elsewhere, ~printed, ~flagged, ~claimed).order_by(this_order))).all())


class ParcelActivities:
    """`join_parcel` runs as a local activity: one short transaction, then one signal-with-start."""

    def __init__(self, db_url: str, parcels: ParcelClient) -> None:
        self.db_url, self.parcels = db_url, parcels

    @activity.defn(name="join_parcel")
    async def join_parcel(self, request: JoinParcelInput) -> ParcelRole:
        role, partners = await claim_parcel(self.db_url, request)
        if role.role == JOINED and role.parcel_workflow_id:
            # Sent again on a retry: the parcel counts each order once.
            merge_key, _, warehouse = role.parcel_workflow_id.removeprefix("parcel-").partition("@")
            await self.parcels.join(role.parcel_workflow_id, merge_key, warehouse, ParcelJoin(
                order_id=request.order_id, shipment_id=request.shipment_id, carrier=request.carrier,
                lines=request.lines, window_s=request.window_s, partners=partners))
        return role
