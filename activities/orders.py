"""Order read model: register the order, record each transition, plan its shipments.

The order workflow is the only writer of these rows. Every write is idempotent: inserts are
skipped when the row exists, timeline entries are keyed by (order_id, seq).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from models.db import read_scope, session_scope
from models.exceptions import buyer_key, device_key, merge_key
from models.inventory import StockRequest
from models.ledger import record_order_payment, record_receipt
from models.order import Order, OrderStatus
from models.order_workflow import OrderEventName, RecordTransitionInput, RecordTransitionsInput, RegisterOrderInput
from models.shipping import PlanShipmentsInput, Shipment
from models.tables import (
    OrderEvent,
    OrderLineRecord,
    OrderRecord,
    Reservation,
    ShipmentRecord,
)


def _insert(session: AsyncSession) -> Callable[[type[SQLModel]], postgresql.Insert | sqlite.Insert]:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def register_order(db_url: str, request: RegisterOrderInput) -> None:
    async with session_scope(db_url) as session:
        await register_in(session, request)


async def register_in(session: AsyncSession, request: RegisterOrderInput) -> bool:
    """The order's row, lines and receipt entry, in the caller's transaction; a repeat changes nothing.
    True when this call registered it (False: an earlier attempt did)."""
    order = request.order
    values = dict(
        order_id=order.order_id,
        workflow_id=request.workflow_id,
        channel=order.channel,
        shop=order.shop,
        external_id=order.external_id,
        status="RECEIVED",
        paid=order.paid,
        trade_no=order.trade_no,
        priority=order.priority,
        priority_tags=[t.value for t in order.priority_tags],
        ship_not_before=order.ship_not_before,
        goods_amount=order.goods_amount,
        shipping_fee=order.shipping_fee,
        discount=order.discount,
        total_amount=order.total_amount,
        buyer_name=order.buyer.name,
        buyer_phone=order.buyer.phone,
        buyer_province=order.buyer.province,
        buyer_city=order.buyer.city,
        buyer_district=order.buyer.district,
        buyer_address=order.buyer.address,
        buyer_zip=order.buyer.zip,
        buyer_message=order.buyer_message,
        placed_at=order.placed_at,
        buyer_key=buyer_key(order),
        device_key=device_key(order),
        merge_key=merge_key(order.channel, order.shop, buyer_key(order), order.buyer),
        created_at=request.received_at,
        updated_at=request.received_at,
    )
    # Write first: on SQLite a transaction that reads before writing can lose its snapshot. Core
    # statements on the session's connection: the ORM's bookkeeping is not needed for plain rows.
    conn = await session.connection()
    insert = _insert(session)
    result = await conn.execute(insert(OrderRecord).values(**values).on_conflict_do_nothing(index_elements=["order_id"]))
    if result.rowcount == 0:
        return False  # registered by an earlier attempt
    # Each line's share of what was paid for the goods, kept so a line refund pays back what it cost.
    await conn.execute(insert(OrderLineRecord), [
        dict(order_id=order.order_id, line_no=n, sku=line.sku, quantity=line.quantity, unit_price=line.unit_price,
             paid_amount=share)
        for n, (line, share) in enumerate(zip(order.lines, order.line_shares(), strict=True), start=1)])
    # seq 0 is receipt; the workflow's transitions count from 1.
    await conn.execute(insert(OrderEvent).values(order_id=order.order_id, seq=0, status=OrderStatus.RECEIVED, event=OrderEventName.RECEIVED,
                                                 detail=receipt_detail(order), at=request.received_at))
    if order.paid:
        await record_order_payment(session, order.order_id, request.received_at)
    return True


def receipt_detail(order: Order) -> dict[str, object]:
    """The receipt entry's detail: paid, and a presale order's plan (the order detail shows it)."""
    if order.presale is None:
        return {"paid": order.paid}
    return {"paid": order.paid, "presale": order.presale.model_dump(mode="json")}


async def record_transition(db_url: str, request: RecordTransitionInput) -> None:
    async with session_scope(db_url) as session:
        await record_transition_in(session, request)


async def record_transitions(db_url: str, request: RecordTransitionsInput) -> None:
    async with session_scope(db_url) as session:
        for transition in request.transitions:
            await record_transition_in(session, transition)


async def record_transition_in(session: AsyncSession, request: RecordTransitionInput) -> None:
    entry = request.entry
    insert = _insert(session)
    conn = await session.connection()  # Core statements: no ORM bookkeeping on the hottest write path
    result = await conn.execute(
        insert(OrderEvent)
        .values(
            order_id=request.order_id, seq=entry.seq, status=entry.status.value,
            event=entry.event, detail=entry.detail, at=entry.at,
        )
        .on_conflict_do_nothing(index_elements=["order_id", "seq"])
    )
    if result.rowcount == 0:
        return  # a retry of a transition already recorded
    # One UPDATE and one upsert per parcel: no read of the row first (a transition is on every
    # order's path several times, so its round trips count on a sale day).
    changes: dict[str, object] = dict(status=entry.status.value, hold_reason=request.hold_reason,
                                      updated_at=entry.at)
    for name in ("paid", "trade_no", "warehouse", "cancel_reason"):
        if getattr(request, name) is not None:
            changes[name] = getattr(request, name)
    updated = await conn.execute(
        update(OrderRecord).where(col(OrderRecord.order_id) == request.order_id).values(**changes))
    if updated.rowcount == 0:
        raise RuntimeError(f"order {request.order_id} is not registered")
    if request.receipt is not None:  # the money that came with this change, in the same transaction
        order = await session.get(OrderRecord, request.order_id)
        assert order is not None  # updated just above
        receipt = request.receipt
        await record_receipt(session, order, key=receipt.key, reference=receipt.reference, amount=receipt.amount,
                             source=receipt.source, at=entry.at)
    elif request.paid:  # the order's payment, whole
        await record_order_payment(session, request.order_id, entry.at)
    for shipment in request.shipments:
        row = dict(shipment_id=shipment.shipment_id, order_id=request.order_id, warehouse=shipment.warehouse,
                   carrier=shipment.carrier, waybill_no=shipment.waybill_no, status=shipment.status.value,
                   lines=[line.model_dump() for line in shipment.lines],
                   pushed_to_channel=shipment.pushed_to_channel, updated_at=entry.at)
        await conn.execute(insert(ShipmentRecord).values(**row).on_conflict_do_update(
            index_elements=["shipment_id"], set_={k: v for k, v in row.items() if k != "shipment_id"}))


async def plan_shipments(db_url: str, request: PlanShipmentsInput) -> list[Shipment]:
    """One shipment per warehouse holding the order's reserved units (one read: autocommit)."""
    async with read_scope(db_url) as session:
        rows = await session.exec(
            select(Reservation.warehouse, Reservation.sku, Reservation.quantity)
            .where(col(Reservation.order_id) == request.order_id, col(Reservation.status) == "RESERVED")
            .order_by(col(Reservation.warehouse), col(Reservation.sku))
        )
        by_warehouse: dict[str, list[StockRequest]] = defaultdict(list)
        for warehouse, sku, quantity in rows:
            by_warehouse[warehouse].append(StockRequest(sku=sku, quantity=quantity))
    return [
        Shipment(
            # Derived from order data: also the carrier's idempotency key for the waybill.
            shipment_id=f"{request.order_id}-{warehouse}",
            warehouse=warehouse,
            carrier=request.carrier,
            lines=lines,
        )
        for warehouse, lines in sorted(by_warehouse.items())
    ]


class OrderRecordActivities:
    """Read-model activities, run as local activities."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url

    @activity.defn(name="record_transition")
    async def record_transition(self, request: RecordTransitionInput) -> None:
        await record_transition(self.db_url, request)

    @activity.defn(name="record_transitions")
    async def record_transitions(self, request: RecordTransitionsInput) -> None:
        await record_transitions(self.db_url, request)

    @activity.defn(name="plan_shipments")
    async def plan_shipments(self, request: PlanShipmentsInput) -> list[Shipment]:
        return await plan_shipments(self.db_url, request)
