"""Orders: intake (update-with-start), reads from the read model, and the order's actions.

An order's id is `{channel}:{shop}:{external_id}` (models.order.order_id_for), e.g.
`jd:default:T-1001`: the same external id in two shops of one channel is two orders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import ColumnElement, func
from sqlmodel import col, select
from temporalio.client import (
    Client,
)

from activities.clients.order import OrderClient
from activities.intake import intake_errors
from api.access import order_scope, visible_order
from api.audit import note_change
from api.auth import caller
from api.deps import temporal_client
from api.errors import ProblemError, describe, problem, quarantine
from api.intake import ANSWER_WITHIN, ORDER_SOURCE, start_order
from api.schemas import (
    MAX_PAGE,
    ORDER_ID,
    CancelBody,
    OrderAccepted,
    OrderDetail,
    OrderSummary,
    Page,
    PaymentBody,
    ResolveBody,
    ShipmentScanBody,
)
from api.updates import Target, answer_update
from models.api_errors import ApiError
from models.config import Settings
from models.db import session_scope
from models.ledger import balance, entries, lock_order, record_receipt
from models.order import OrderIn, OrderStatus
from models.order_errors import OrderError
from models.order_workflow import (
    BALANCE_UNPAID,
    CancelOrder,
    ConfirmPayment,
    OrderEventName,
    OrderMessage,
    ResolveHold,
    ScanShipment,
)
from models.principals import Principal
from models.tables import (
    AfterSalesTicketRecord,
    OrderEvent,
    OrderLineRecord,
    OrderRecord,
    Reservation,
    ShipmentRecord,
)

log = structlog.get_logger()
router = APIRouter(prefix="/v1/orders", tags=["orders"], dependencies=[Depends(caller)])
OrderId = Annotated[str, Path(description=ORDER_ID)]



@router.post("", status_code=201, response_model=OrderAccepted,
             responses={200: {"model": OrderAccepted,
                              "description": "seen before: the same channel, shop and external id"},
                        202: {"description": "accepted; the stock decision is still being made"},
                        422: {"description": "invalid order, unknown sku, or a shop that is not registered; "
                                             "stored in quarantine with the reason"}})
async def create_order(
    request: Request,
    posted: OrderIn,
    principal: Principal = Depends(caller),
    client: Client = Depends(temporal_client),
) -> Any:
    """Its id is `{channel}:{shop}:{external_id}`. The shop must be registered (POST /v1/shops):
    an order for another is refused (422, field `shop`) before anything ships."""
    settings: Settings = request.app.state.settings
    order = posted.to_order()
    if not principal.admits(order.channel, order.shop):
        raise ProblemError(ApiError.FORBIDDEN, f"this principal may not create orders for {order.channel}/{order.shop}")
    errors = await intake_errors(settings.db_url, order)
    if errors:
        qid = await quarantine(settings.db_url, ORDER_SOURCE, await request.body(), describe(errors))
        return problem(ApiError.VALIDATION_FAILED, "the order cannot be processed", errors=errors, quarantine_id=qid)
    status_code, body = await start_order(settings, client, order)
    note_change(request, object_type="order", object_id=order.order_id, after={"status": body.status})
    return JSONResponse(status_code=status_code, content=body.model_dump(mode="json"))


@router.get("", response_model=Page[OrderSummary])
async def list_orders(
    request: Request,
    status: OrderStatus | None = None,
    channel: str | None = Query(default=None, max_length=16),
    page: int = Query(default=1, ge=1, le=MAX_PAGE),
    page_size: int = Query(default=50, ge=1, le=500),
    principal: Principal = Depends(caller),
) -> Page[OrderSummary]:
    conditions: list[ColumnElement[bool]] = order_scope(principal, OrderRecord.channel, OrderRecord.shop)
    if status is not None:
        conditions.append(col(OrderRecord.status) == status.value)
    if channel is not None:
        conditions.append(col(OrderRecord.channel) == channel)
    async with session_scope(request.app.state.settings.db_url) as session:
        total = await session.scalar(select(func.count()).select_from(OrderRecord).where(*conditions))
        rows = (await session.exec(
            select(OrderRecord).where(*conditions)
            .order_by(col(OrderRecord.created_at).desc(), col(OrderRecord.order_id))
            .offset((page - 1) * page_size).limit(page_size)
        )).all()
    items = [OrderSummary.model_validate(r, from_attributes=True) for r in rows]
    return Page(items=items, total=total or 0, page=page, page_size=page_size)


@router.get("/{order_id}", response_model=OrderDetail)
async def get_order(request: Request, order_id: OrderId, principal: Principal = Depends(caller)) -> Any:
    detail = await order_detail(request.app.state.settings.db_url, order_id)
    if detail is None or not principal.admits(detail.channel, detail.shop):  # another shop's: as if none
        return problem(OrderError.ORDER_NOT_FOUND, f"no order {order_id}")
    return detail


@router.post("/{order_id}/payment", response_model=OrderAccepted)
async def confirm_payment(request: Request, order_id: OrderId, body: PaymentBody | None = Body(default=None),
                          principal: Principal = Depends(caller),
                          client: Client = Depends(temporal_client)) -> Any:
    body = body or PaymentBody()
    answer = await _send(request, principal, client, order_id, OrderMessage.CONFIRM_PAYMENT,
                         ConfirmPayment(trade_no=body.trade_no, paid_at=body.paid_at, confirmed_by=principal.actor,
                                        amount=body.amount, part=body.part))
    if answer.status_code == 409 and body.trade_no:
        await hold_late_payment(request.app.state.settings.db_url, order_id, body.trade_no, body.amount)
    return answer


async def hold_late_payment(db_url: str, order_id: str, trade_no: str, amount: int | None) -> None:
    """Money that arrived for an order already cancelled is not turned away into nowhere: the ledger
    keeps it as held (shown on the order, found by reconciliation) until finance refunds it."""
    async with session_scope(db_url) as session:
        order = await lock_order(session, order_id)
        if order is None or order.status != OrderStatus.CANCELLED.value:
            return
        known = await entries(session, order_id)
        if any(e.direction == "in" and e.reference == trade_no for e in known):
            return  # the payment the order already has (its cancel refunds it), or this late one again
        await record_receipt(session, order, key=f"late:{trade_no}", reference=trade_no,
                             amount=order.total_amount if amount is None else amount, source="late_payment",
                             at=datetime.now(UTC), status="held")
    log.warning("payment held for a cancelled order", order_id=order_id, trade_no=trade_no)


@router.post("/{order_id}/cancel", response_model=OrderAccepted)
async def cancel_order(request: Request, order_id: OrderId, body: CancelBody | None = Body(default=None),
                       principal: Principal = Depends(caller),
                       client: Client = Depends(temporal_client)) -> Any:
    body = body or CancelBody()
    await visible_order(request, principal, order_id)  # another shop's order: 404 before anything about it
    open_tickets = await open_ticket_ids(request.app.state.settings.db_url, order_id)
    if open_tickets:  # the cancel's full refund would pay twice what a ticket pays or is about to
        return problem(OrderError.ORDER_HAS_AFTER_SALES, f"order {order_id} has after-sales tickets; settle it through them",
                       order_id=order_id, ticket_ids=open_tickets)
    return await _send(request, principal, client, order_id, OrderMessage.CANCEL,
                       CancelOrder(reason=body.reason, requested_by=principal.role, actor=principal.actor))


@router.post("/{order_id}/shipment", response_model=OrderAccepted)
async def scan_shipment(request: Request, order_id: OrderId, body: ShipmentScanBody | None = Body(default=None),
                        principal: Principal = Depends(caller),
                        client: Client = Depends(temporal_client)) -> Any:
    body = body or ShipmentScanBody()
    return await _send(request, principal, client, order_id, OrderMessage.SCAN_SHIPMENT,
                       ScanShipment(waybill_no=body.waybill_no, scanned_by=principal.actor))


@router.post("/{order_id}/resolve", response_model=OrderAccepted)
async def resolve_hold(request: Request, order_id: OrderId, body: ResolveBody,
                       principal: Principal = Depends(caller),
                       client: Client = Depends(temporal_client)) -> Any:
    """release (reviewed: the standing tags are resolved), cancel, or update_address (the corrected
    receiver, screened again). Recorded on the order's timeline with who and when."""
    asked = {"address": body.address.model_dump(mode="json")} if body.address is not None else None
    return await _send(request, principal, client, order_id, OrderMessage.RESOLVE_HOLD,
                       ResolveHold(action=body.action, note=body.note, address=body.address,
                                   resolved_by=principal.actor), asked=asked)


async def _send(request: Request, principal: Principal, client: Client, order_id: str, message: OrderMessage,
                arg: Any, *, asked: dict[str, Any] | None = None) -> JSONResponse:
    """Send an update to the order's workflow and answer with its outcome (api.updates). `asked`: the
    fields it changes beyond the status (audited with their values before)."""
    settings: Settings = request.app.state.settings
    record = await visible_order(request, principal, order_id)
    before: dict[str, Any] = {"hold_reason": record.hold_reason, "exception_tags": record.exception_tags}
    if asked and "address" in asked:
        before["address"] = buyer_of(record)
    target = Target("order", order_id, record.workflow_id, record.status, closed=OrderError.ORDER_CLOSED,
                    before=before, asked=asked or {})
    orders = OrderClient(client, settings.task_queue)
    send = lambda: orders.update(record.workflow_id, message, arg, rpc_timeout=ANSWER_WITHIN)  # noqa: E731
    return await answer_update(request, target, message, send, lambda answer: OrderAccepted(
        order_id=order_id, status=answer.status, reservation=answer.reservation,
        hold_reason=answer.hold_reason, exception_tags=answer.exception_tags))


async def open_ticket_ids(db_url: str, order_id: str) -> list[str]:
    """Tickets of the order that hold money: open, or refunded."""
    async with session_scope(db_url) as session:
        return list(await session.exec(select(AfterSalesTicketRecord.ticket_id).where(
            col(AfterSalesTicketRecord.order_id) == order_id,
            col(AfterSalesTicketRecord.status).not_in(("REJECTED", "CLOSED", "EXCHANGED")))))


async def order_detail(db_url: str, order_id: str) -> OrderDetail | None:
    async with session_scope(db_url) as session:
        order = await session.get(OrderRecord, order_id)
        if order is None:
            return None
        lines = (await session.exec(select(OrderLineRecord).where(col(OrderLineRecord.order_id) == order_id)
                                    .order_by(col(OrderLineRecord.line_no)))).all()
        reservations = (await session.exec(select(Reservation).where(col(Reservation.order_id) == order_id)
                                           .order_by(col(Reservation.sku), col(Reservation.warehouse)))).all()
        shipments = (await session.exec(select(ShipmentRecord).where(col(ShipmentRecord.order_id) == order_id)
                                        .order_by(col(ShipmentRecord.shipment_id)))).all()
        events = (await session.exec(select(OrderEvent).where(col(OrderEvent.order_id) == order_id)
                                     .order_by(col(OrderEvent.seq)))).all()
        tickets = (await session.exec(select(AfterSalesTicketRecord).where(
            col(AfterSalesTicketRecord.order_id) == order_id).order_by(col(AfterSalesTicketRecord.created_at)))).all()
        money, movements = await balance(session, order_id), await entries(session, order_id)
    return OrderDetail.model_validate({
        **order.model_dump(),  # the read model's columns; buyer_* are regrouped below
        "buyer": buyer_of(order),
        "lines": [line.model_dump() for line in lines],
        "reservations": [r.model_dump() for r in reservations],
        "shipments": [s.model_dump() for s in shipments],
        "waybill": ",".join(s.waybill_no for s in shipments if s.waybill_no) or None,
        "timeline": [e.model_dump() for e in events],
        "after_sales": [{"ticket_id": t.ticket_id, "type": t.type, "status": t.status} for t in tickets],
        "money": {"received_fen": money.received, "refunded_fen": money.refunded, "claimed_fen": money.claimed,
                  "held_fen": money.held, "refundable_fen": money.refundable,
                  "entries": [m.model_dump() for m in movements]},
        "presale": presale_of(order, events),
    })


def presale_of(order: OrderRecord, events: Sequence[OrderEvent]) -> dict[str, Any] | None:
    """A presale order's deposit and balance: the plan from its receipt entry, each payment from its
    timeline entry (recorded in the step that wrote its ledger receipt)."""
    plan = next((e.detail.get("presale") for e in events if e.seq == 0), None)
    if not plan:
        return None
    paid = {e.event: e for e in events if e.event in (OrderEventName.DEPOSIT_PAID, OrderEventName.BALANCE_PAID)}
    in_one = order.paid and OrderEventName.BALANCE_PAID not in paid  # delivered paid in full

    def payment(event: OrderEventName, amount: int, paid_before: bool = False) -> dict[str, Any]:
        entry = paid.get(event)
        return {"amount": amount, "paid": entry is not None or in_one or paid_before,
                "trade_no": entry.detail.get("trade_no") if entry else None, "paid_at": entry.at if entry else None}
    deposit = payment(OrderEventName.DEPOSIT_PAID, plan["deposit"], plan.get("deposit_paid", False))
    balance = payment(OrderEventName.BALANCE_PAID, plan["balance"])
    if balance["paid"]:
        status = "paid"
    elif order.status == OrderStatus.CANCELLED:
        status = "balance_unpaid" if order.cancel_reason == BALANCE_UNPAID else "cancelled"
    else:
        status = "awaiting_balance" if deposit["paid"] else "awaiting_deposit"
    return {"status": status, "deposit": deposit, "balance": balance, "balance_due_by": plan["balance_due_by"]}


def buyer_of(order: OrderRecord) -> dict[str, str | None]:
    """The receiver as the read model holds it, shaped as the order's `buyer`."""
    return {"name": order.buyer_name, "phone": order.buyer_phone, "province": order.buyer_province,
            "city": order.buyer_city, "district": order.buyer_district, "address": order.buyer_address}
