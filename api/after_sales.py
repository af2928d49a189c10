"""After-sales tickets: open (update-with-start of the ticket's workflow), read, and the people's
actions, each a Temporal update the workflow validates (so the temporal CLI can send them too)."""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import sqlalchemy
import structlog
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func
from sqlmodel import col, select
from temporalio.client import (
    Client,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.after_sales import TicketRefused, open_ticket
from activities.clients.after_sales import TicketClient
from api.access import order_scope, visible_order, visible_ticket
from api.audit import note_change
from api.auth import caller
from api.deps import temporal_client
from api.errors import problem, quarantine
from api.intake import ANSWER_WITHIN
from api.schemas import (
    MAX_PAGE,
    ApproveBody,
    Durations,
    InspectionBody,
    Page,
    PlatformRequestView,
    RejectBody,
    ResolveRefundBody,
    ReturnReceivedBody,
    ReturnShippedBody,
    TicketAccepted,
    TicketDetail,
    TicketStats,
    TicketSummary,
)
from api.updates import Target, answer_update
from models.after_sales import (
    AfterSalesRequest,
    ApproveTicket,
    InspectionReport,
    RejectTicket,
    ResolveRefund,
    ReturnReceived,
    ReturnShipped,
    TicketMessage,
    TicketStatus,
    TicketType,
    ticket_policy,
    ticket_workflow_id,
)
from models.after_sales_errors import TicketError
from models.api_errors import ApiError
from models.config import Settings
from models.db import session_scope
from models.errors import error_code
from models.principals import Principal
from models.tables import AfterSalesEvent, AfterSalesTicketRecord

log = structlog.get_logger()
router = APIRouter(prefix="/v1/after-sales", tags=["after-sales"], dependencies=[Depends(caller)])

TICKET_SOURCE = "api:POST /v1/after-sales"


@router.post("", status_code=201, response_model=TicketAccepted,
             responses={200: {"model": TicketAccepted, "description": "the same request again: the same ticket"},
                        404: {"description": "unknown order"}, 409: {"description": "cancelled, unpaid or unshipped order"},
                        422: {"description": "invalid request, unknown line or more than was paid; quarantined"}})
async def create_ticket(request: Request, body: AfterSalesRequest,
                        principal: Principal = Depends(caller),
                        client: Client = Depends(temporal_client)) -> Any:
    settings: Settings = request.app.state.settings
    if principal.scopes:  # another shop's order: 404, as one that does not exist (before anything is kept)
        await visible_order(request, principal, body.order_id)
    try:
        facts, created = await open_ticket(settings.db_url, body,
                                           after_sales_rules=request.app.state.rules.current.after_sales)
    except TicketRefused as refused:
        extra: dict[str, Any] = {"errors": refused.errors} if refused.errors else {}
        if refused.status == 422:  # kept with its reason: nothing is dropped
            extra["quarantine_id"] = await quarantine(settings.db_url, TICKET_SOURCE, await request.body(),
                                                      refused.message)
        # TicketRefused names its code by value; the code's status is its answer (the same as refused.status).
        code = error_code(refused.error) or ApiError.REJECTED
        return problem(code, refused.message, extra, order_id=body.order_id)

    note_change(request, object_type="ticket", object_id=facts.ticket_id,
                after={"order_id": facts.order_id, "type": body.type, "amount": facts.amount} if created else None)
    tickets = TicketClient(client, settings.task_queue)
    # The ticket id derives from the request: a repeat joins the running ticket, a closed one stays closed.
    start = tickets.with_opened(facts, ticket_policy(settings))
    answer_status = 201 if created else 200
    try:
        snapshot = await tickets.opened(start, rpc_timeout=ANSWER_WITHIN)
    except WorkflowAlreadyStartedError:
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await start.workflow_handle()
        row = await _ticket(settings.db_url, facts.ticket_id)
        return JSONResponse(status_code=200, content=TicketAccepted(
            ticket_id=facts.ticket_id, status=row.status if row else TicketStatus.CLOSED.value,
            order_id=facts.order_id).model_dump(mode="json"))
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return JSONResponse(status_code=202 if created else 200, content=TicketAccepted(
            ticket_id=facts.ticket_id, status=TicketStatus.OPENED.value, order_id=facts.order_id).model_dump(mode="json"))
    log.info("after-sales ticket started", ticket_id=facts.ticket_id, order_id=facts.order_id,
             workflow_id=ticket_workflow_id(facts.ticket_id), status=snapshot.status, created=created)
    return JSONResponse(status_code=answer_status, content=TicketAccepted(
        ticket_id=facts.ticket_id, status=snapshot.status, order_id=facts.order_id,
        tier=snapshot.tier).model_dump(mode="json"))


@router.get("", response_model=Page[TicketSummary])
async def list_tickets(
    request: Request,
    status: TicketStatus | None = None,
    type: TicketType | None = None,
    order_id: str | None = Query(default=None, max_length=100),
    waybill: str | None = Query(default=None, max_length=64, description="the return parcel's waybill"),
    page: int = Query(default=1, ge=1, le=MAX_PAGE),
    page_size: int = Query(default=50, ge=1, le=500),
    principal: Principal = Depends(caller),
) -> Page[TicketSummary]:
    conditions = order_scope(principal, AfterSalesTicketRecord.channel, AfterSalesTicketRecord.shop)
    if status is not None:
        conditions.append(col(AfterSalesTicketRecord.status) == status.value)
    if type is not None:
        conditions.append(col(AfterSalesTicketRecord.type) == type.value)
    if order_id is not None:
        conditions.append(col(AfterSalesTicketRecord.order_id) == order_id)
    if waybill is not None:
        conditions.append(col(AfterSalesTicketRecord.return_waybill) == waybill)
    async with session_scope(request.app.state.settings.db_url) as session:
        total = await session.scalar(select(func.count()).select_from(AfterSalesTicketRecord).where(*conditions))
        rows = (await session.exec(
            select(AfterSalesTicketRecord).where(*conditions)
            .order_by(col(AfterSalesTicketRecord.created_at).desc(), col(AfterSalesTicketRecord.ticket_id))
            .offset((page - 1) * page_size).limit(page_size))).all()
    return Page(items=[TicketSummary.model_validate(r, from_attributes=True) for r in rows], total=total or 0,
                page=page, page_size=page_size)


@router.get("/stats", response_model=TicketStats)
async def ticket_stats(request: Request) -> TicketStats:
    return await stats(request.app.state.settings.db_url)


@router.get("/{ticket_id}", response_model=TicketDetail)
async def get_ticket(request: Request, ticket_id: str, principal: Principal = Depends(caller)) -> Any:
    row = await visible_ticket(request, principal, ticket_id)
    async with session_scope(request.app.state.settings.db_url) as session:
        events = (await session.exec(select(AfterSalesEvent).where(col(AfterSalesEvent.ticket_id) == ticket_id)
                                     .order_by(col(AfterSalesEvent.seq)))).all()
    platform = None if row.platform_request_id is None else PlatformRequestView(
        id=row.platform_request_id, channel=row.channel, status=row.platform_status)
    return TicketDetail.model_validate({**row.model_dump(), "platform_request": platform,
                                        "timeline": [e.model_dump() for e in events]})


@router.post("/return-received", response_model=TicketAccepted)
async def return_received_by_waybill(request: Request, body: ReturnReceivedBody,
                                     principal: Principal = Depends(caller),
                                     client: Client = Depends(temporal_client)) -> Any:
    """The warehouse scans a returned parcel without knowing its ticket: found by the waybill the
    buyer sent it with."""
    if body.waybill_no is None:
        return problem(ApiError.VALIDATION_FAILED, "scan the return parcel's waybill",
                       errors=[{"field": "waybill_no", "reason": "required here"}])
    async with session_scope(request.app.state.settings.db_url) as session:
        ticket_ids = (await session.exec(select(AfterSalesTicketRecord.ticket_id).where(
            col(AfterSalesTicketRecord.return_waybill) == body.waybill_no,
            col(AfterSalesTicketRecord.status) == TicketStatus.AWAITING_RETURN.value))).all()
    if len(ticket_ids) != 1:
        return problem(TicketError.RETURN_NOT_MATCHED,
                       f"waybill {body.waybill_no} matches {len(ticket_ids)} tickets awaiting a return",
                       status=404 if not ticket_ids else 409, ticket_ids=list(ticket_ids))
    return await _send(request, principal, client, ticket_ids[0], TicketMessage.RETURN_RECEIVED,
                       ReturnReceived(waybill_no=body.waybill_no, scanned_by=principal.actor))


@router.post("/{ticket_id}/approve", response_model=TicketAccepted)
async def approve(request: Request, ticket_id: str, body: ApproveBody | None = Body(default=None),
                  principal: Principal = Depends(caller), client: Client = Depends(temporal_client)) -> Any:
    body = body or ApproveBody()
    return await _send(request, principal, client, ticket_id, TicketMessage.APPROVE,
                       ApproveTicket(role=principal.role, approver=principal.actor, comment=body.comment))


@router.post("/{ticket_id}/reject", response_model=TicketAccepted)
async def reject(request: Request, ticket_id: str, body: RejectBody,
                 principal: Principal = Depends(caller), client: Client = Depends(temporal_client)) -> Any:
    return await _send(request, principal, client, ticket_id, TicketMessage.REJECT,
                       RejectTicket(role=principal.role, approver=principal.actor, comment=body.comment))


@router.post("/{ticket_id}/return-shipped", response_model=TicketAccepted)
async def return_shipped(request: Request, ticket_id: str, body: ReturnShippedBody,
                         principal: Principal = Depends(caller),
                         client: Client = Depends(temporal_client)) -> Any:
    return await _send(request, principal, client, ticket_id, TicketMessage.RETURN_SHIPPED,
                       ReturnShipped(waybill_no=body.waybill_no, carrier=body.carrier))


@router.post("/{ticket_id}/return-received", response_model=TicketAccepted)
async def return_received(request: Request, ticket_id: str, body: ReturnReceivedBody | None = Body(default=None),
                          principal: Principal = Depends(caller), client: Client = Depends(temporal_client)) -> Any:
    body = body or ReturnReceivedBody()
    return await _send(request, principal, client, ticket_id, TicketMessage.RETURN_RECEIVED,
                       ReturnReceived(waybill_no=body.waybill_no, scanned_by=principal.actor))


@router.post("/{ticket_id}/inspection", response_model=TicketAccepted)
async def inspection(request: Request, ticket_id: str, body: InspectionBody,
                     principal: Principal = Depends(caller), client: Client = Depends(temporal_client)) -> Any:
    return await _send(request, principal, client, ticket_id, TicketMessage.INSPECT,
                       InspectionReport(passed=body.passed, accepted_quantity=body.accepted_quantity,
                                        inspected_by=principal.actor, note=body.note))


@router.post("/{ticket_id}/resolve-refund", response_model=TicketAccepted)
async def resolve_refund(request: Request, ticket_id: str, body: ResolveRefundBody,
                         principal: Principal = Depends(caller),
                         client: Client = Depends(temporal_client)) -> Any:
    return await _send(request, principal, client, ticket_id, TicketMessage.RESOLVE_REFUND,
                       ResolveRefund(action=body.action, role=principal.role, approver=principal.actor, comment=body.comment))


async def _ticket(db_url: str, ticket_id: str) -> AfterSalesTicketRecord | None:
    async with session_scope(db_url) as session:
        return await session.get(AfterSalesTicketRecord, ticket_id)


async def _send(request: Request, principal: Principal, client: Client, ticket_id: str, message: TicketMessage,
                arg: Any) -> JSONResponse:
    """Send an update to the ticket's workflow and answer with its outcome (api.updates)."""
    row = await visible_ticket(request, principal, ticket_id)
    target = Target("ticket", ticket_id, row.workflow_id, row.status, closed=TicketError.TICKET_CLOSED)
    tickets = TicketClient(client, request.app.state.settings.task_queue)
    send = lambda: tickets.update(row.workflow_id, message, arg, rpc_timeout=ANSWER_WITHIN)  # noqa: E731
    return await answer_update(request, target, message, send, lambda answer: TicketAccepted(
        ticket_id=ticket_id, status=answer.status, order_id=row.order_id, tier=answer.tier))


# --- stats ----------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def durations(seconds: list[float]) -> Durations:
    """Mean and 95th percentile (nearest rank)."""
    if not seconds:
        return Durations(count=0, mean_s=None, p95_s=None)
    ordered = sorted(seconds)
    rank = max(math.ceil(0.95 * len(ordered)), 1)
    return Durations(count=len(ordered), mean_s=round(sum(ordered) / len(ordered), 3), p95_s=round(ordered[rank - 1], 3))


async def stats(db_url: str) -> TicketStats:
    async with session_scope(db_url) as session:
        # Nine columns: more than sqlmodel's select types (four), so SQLAlchemy's, on the session's connection.
        ticket = AfterSalesTicketRecord
        connection = await session.connection()
        rows = (await connection.execute(sqlalchemy.select(
            col(ticket.type), col(ticket.reason), col(ticket.status), col(ticket.auto_rule), col(ticket.approvals),
            col(ticket.created_at), col(ticket.closed_at), col(ticket.first_response_at), col(ticket.refund)))).all()
    cycle = [(_utc(r.closed_at) - _utc(r.created_at)).total_seconds() for r in rows if r.closed_at]
    first = [(_utc(r.first_response_at) - _utc(r.created_at)).total_seconds() for r in rows if r.first_response_at]
    auto = sum(1 for r in rows if r.auto_rule)
    undecided = {TicketStatus.OPENED.value, TicketStatus.AWAITING_APPROVAL.value}
    decided = sum(1 for r in rows if r.status not in undecided)
    return TicketStats(
        total=len(rows),
        by_status=dict(Counter(r.status for r in rows)),
        by_type=dict(Counter(r.type for r in rows)),
        by_reason=dict(Counter(r.reason for r in rows)),
        cycle_time=durations(cycle), first_response=durations(first),
        auto_approval_rate=round(auto / decided, 4) if decided else None,
        refunded_amount=sum(int((r.refund or {}).get("amount", 0)) for r in rows),
    )
