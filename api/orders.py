"""Orders: intake (update-with-start), reads from the read model, and the order's actions."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import structlog
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import require
from api.deps import temporal_client
from api.errors import problem, quarantine
from api.schemas import (
    CancelBody,
    OrderAccepted,
    OrderDetail,
    OrderSummary,
    Page,
    PaymentBody,
    ResolveBody,
    ShipmentScanBody,
)
from models.config import Settings
from models.db import session_scope
from models.order import Order, OrderStatus, workflow_id_for
from models.order_workflow import (
    CancelOrder,
    ConfirmPayment,
    OrderPolicy,
    OrderWorkflowInput,
    ResolveHold,
    ScanShipment,
    StockDecisionRequest,
)
from models.search_attributes import CHANNEL, ORDER_STATUS, PRIORITY
from models.tables import OrderEvent, OrderLineRecord, OrderRecord, Reservation, ShipmentRecord, Sku
from workflows.order import OrderWorkflow

log = structlog.get_logger()
router = APIRouter(prefix="/v1/orders", tags=["orders"])

# How long the API waits for the workflow's answer before replying 202: the order is durable
# from the moment Temporal accepted it, so a slow worker never loses it.
ANSWER_WITHIN = timedelta(seconds=20)


def policy_for(settings: Settings) -> OrderPolicy:
    return OrderPolicy(
        payment_timeout_s=settings.payment_timeout_s,
        hold_limit_s=settings.hold_limit_s,
        hold_recheck_s=settings.hold_recheck_s,
        tracking_poll_s=settings.tracking_poll_s,
        delivery_deadline_s=settings.delivery_deadline_s,
        carrier=settings.default_carrier,
        tracking_callback_url=f"{settings.api_base_url}/v1/carriers/tracking",
    )


@router.post("", status_code=201, response_model=OrderAccepted,
             responses={200: {"model": OrderAccepted, "description": "seen before: the same order"},
                        202: {"description": "accepted; the stock decision is still being made"},
                        422: {"description": "invalid order; stored in quarantine with the reason"}})
async def create_order(
    request: Request,
    order: Order,
    _: str = Depends(require("channel", "admin")),
    client: Client = Depends(temporal_client),
) -> Any:
    settings: Settings = request.app.state.settings
    unknown = await _unknown_skus(settings.db_url, order)
    if unknown:
        errors = [{"field": f"lines[{i}].sku", "reason": f"unknown sku {sku}"} for i, sku in unknown]
        qid = await quarantine(settings.db_url, "api:POST /v1/orders", await request.body(),
                               "; ".join(f"{e['field']}: {e['reason']}" for e in errors))
        return problem(422, "validation_failed", "the order names unknown skus", errors=errors, quarantine_id=qid)

    order_id = order.order_id
    start = WithStartWorkflowOperation(
        OrderWorkflow.run,
        OrderWorkflowInput(order=order, policy=policy_for(settings)),
        id=workflow_id_for(order_id),
        task_queue=settings.task_queue,
        # Same channel + external id: join the running order, and never restart a closed one.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes([
            SearchAttributePair(ORDER_STATUS, OrderStatus.RECEIVED.value),
            SearchAttributePair(CHANNEL, order.channel), SearchAttributePair(PRIORITY, order.priority),
        ]),
    )
    try:
        snapshot = await client.execute_update_with_start_workflow(
            OrderWorkflow.stock_decision, StockDecisionRequest(), start_workflow_operation=start,
            rpc_timeout=ANSWER_WITHIN,
        )
    except WorkflowAlreadyStartedError:
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await start.workflow_handle()  # consume the start's outcome so it is not logged as lost
        record = await _order_record(settings.db_url, order_id)
        if record is None:
            return problem(409, "order_closed", f"order {order_id} was closed and its record is gone")
        return JSONResponse(status_code=200, content=OrderAccepted(
            order_id=order_id, status=record.status, hold_reason=record.hold_reason).model_dump(mode="json"))
    except (WorkflowUpdateRPCTimeoutOrCancelledError, asyncio.TimeoutError):
        log.warning("stock decision not answered in time", order_id=order_id)
        return JSONResponse(status_code=202, content=OrderAccepted(
            order_id=order_id, status=OrderStatus.RECEIVED).model_dump(mode="json"))
    body = OrderAccepted(order_id=order_id, status=snapshot.status, reservation=snapshot.reservation,
                         hold_reason=snapshot.hold_reason)
    log.info("order accepted", order_id=order_id, status=snapshot.status, created=snapshot.created)
    return JSONResponse(status_code=201 if snapshot.created else 200, content=body.model_dump(mode="json"))


@router.get("", response_model=Page)
async def list_orders(
    request: Request,
    status: OrderStatus | None = None,
    channel: str | None = Query(default=None, max_length=16),
    page: int = Query(default=1, ge=1),
    page_size: int = Query(default=50, ge=1, le=500),
    _: str = Depends(require("admin", "operator", "channel")),
) -> Page:
    conditions = []
    if status is not None:
        conditions.append(OrderRecord.status == status.value)
    if channel is not None:
        conditions.append(OrderRecord.channel == channel)
    async with session_scope(request.app.state.settings.db_url) as session:
        total = await session.scalar(select(func.count()).select_from(OrderRecord).where(*conditions))
        rows = (await session.execute(
            select(OrderRecord).where(*conditions)
            .order_by(OrderRecord.created_at.desc(), OrderRecord.order_id)
            .offset((page - 1) * page_size).limit(page_size)
        )).scalars().all()
    items = [OrderSummary.model_validate(r, from_attributes=True) for r in rows]
    return Page(items=items, total=total or 0, page=page, page_size=page_size)


@router.get("/{order_id}", response_model=OrderDetail)
async def get_order(request: Request, order_id: str,
                    _: str = Depends(require("admin", "operator", "channel"))) -> Any:
    detail = await order_detail(request.app.state.settings.db_url, order_id)
    if detail is None:
        return problem(404, "order_not_found", f"no order {order_id}")
    return detail


@router.post("/{order_id}/payment", response_model=OrderAccepted)
async def confirm_payment(request: Request, order_id: str, body: PaymentBody | None = Body(default=None),
                          role: str = Depends(require("channel", "admin")),
                          client: Client = Depends(temporal_client)) -> Any:
    body = body or PaymentBody()
    return await _send(request, client, order_id, OrderWorkflow.confirm_payment,
                       ConfirmPayment(trade_no=body.trade_no, paid_at=body.paid_at, confirmed_by=role))


@router.post("/{order_id}/cancel", response_model=OrderAccepted)
async def cancel_order(request: Request, order_id: str, body: CancelBody | None = Body(default=None),
                       role: str = Depends(require("admin", "operator", "channel")),
                       client: Client = Depends(temporal_client)) -> Any:
    body = body or CancelBody()
    return await _send(request, client, order_id, OrderWorkflow.cancel,
                       CancelOrder(reason=body.reason, requested_by=role))


@router.post("/{order_id}/shipment", response_model=OrderAccepted)
async def scan_shipment(request: Request, order_id: str, body: ShipmentScanBody | None = Body(default=None),
                        role: str = Depends(require("admin", "operator")),
                        client: Client = Depends(temporal_client)) -> Any:
    body = body or ShipmentScanBody()
    return await _send(request, client, order_id, OrderWorkflow.scan_shipment,
                       ScanShipment(waybill_no=body.waybill_no, scanned_by=role))


@router.post("/{order_id}/resolve", response_model=OrderAccepted)
async def resolve_hold(request: Request, order_id: str, body: ResolveBody,
                       role: str = Depends(require("admin", "operator")),
                       client: Client = Depends(temporal_client)) -> Any:
    return await _send(request, client, order_id, OrderWorkflow.resolve_hold,
                       ResolveHold(action=body.action, note=body.note, resolved_by=role))


async def _send(request: Request, client: Client, order_id: str, update: Any, arg: Any) -> JSONResponse:
    """Send an update to the order's workflow; map its refusal to 409, a slow answer to 202."""
    settings: Settings = request.app.state.settings
    record = await _order_record(settings.db_url, order_id)
    if record is None:
        return problem(404, "order_not_found", f"no order {order_id}")
    handle = client.get_workflow_handle(record.workflow_id)
    try:
        update_handle = await handle.start_update(update, arg, wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                                                  rpc_timeout=ANSWER_WITHIN)
        snapshot = await asyncio.wait_for(update_handle.result(), ANSWER_WITHIN.total_seconds())
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
        code = cause.type if isinstance(cause, ApplicationError) and cause.type else "rejected"
        return problem(409, _snake(code), reason, order_id=order_id, order_status=record.status)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return problem(409, "order_closed", f"order {order_id} is {record.status}", order_id=order_id,
                           order_status=record.status)
        raise
    except (asyncio.TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return JSONResponse(status_code=202, content={"order_id": order_id, "status": record.status,
                                                      "accepted": True})
    log.info("order updated", order_id=order_id, update=getattr(update, "__name__", str(update)),
             status=snapshot.status)
    return JSONResponse(status_code=200, content=OrderAccepted(
        order_id=order_id, status=snapshot.status, reservation=snapshot.reservation,
        hold_reason=snapshot.hold_reason).model_dump(mode="json"))


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


async def _unknown_skus(db_url: str, order: Order) -> list[tuple[int, str]]:
    skus = {line.sku for line in order.lines}
    async with session_scope(db_url) as session:
        known = set((await session.execute(select(Sku.code).where(Sku.code.in_(skus)))).scalars())
    return [(i, line.sku) for i, line in enumerate(order.lines) if line.sku not in known]


async def _order_record(db_url: str, order_id: str) -> OrderRecord | None:
    async with session_scope(db_url) as session:
        return await session.get(OrderRecord, order_id)


async def order_detail(db_url: str, order_id: str) -> OrderDetail | None:
    async with session_scope(db_url) as session:
        order = await session.get(OrderRecord, order_id)
        if order is None:
            return None
        lines = (await session.execute(select(OrderLineRecord).where(OrderLineRecord.order_id == order_id)
                                       .order_by(OrderLineRecord.line_no))).scalars().all()
        reservations = (await session.execute(select(Reservation).where(Reservation.order_id == order_id)
                                              .order_by(Reservation.sku, Reservation.warehouse))).scalars().all()
        shipments = (await session.execute(select(ShipmentRecord).where(ShipmentRecord.order_id == order_id)
                                           .order_by(ShipmentRecord.shipment_id))).scalars().all()
        events = (await session.execute(select(OrderEvent).where(OrderEvent.order_id == order_id)
                                        .order_by(OrderEvent.seq))).scalars().all()
    data = OrderSummary.model_validate(order, from_attributes=True).model_dump()
    return OrderDetail(
        **data,
        workflow_id=order.workflow_id,
        cancel_reason=order.cancel_reason,
        trade_no=order.trade_no,
        priority_tags=order.priority_tags,
        goods_amount=order.goods_amount,
        shipping_fee=order.shipping_fee,
        discount=order.discount,
        buyer={"name": order.buyer_name, "phone": order.buyer_phone, "province": order.buyer_province,
               "city": order.buyer_city, "district": order.buyer_district, "address": order.buyer_address},
        lines=[l.model_dump() for l in lines],
        reservations=[r.model_dump() for r in reservations],
        shipments=[s.model_dump() for s in shipments],
        waybill=",".join(s.waybill_no for s in shipments if s.waybill_no) or None,
        timeline=[e.model_dump() for e in events],
    )
