"""Quarantined payloads: listed for a person, and processed again after a fix."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import ColumnElement, func
from sqlmodel import col, select
from temporalio.client import Client

from activities.intake import intake_errors
from api.audit import note_change
from api.auth import caller
from api.carriers import SOURCE as TRACKING_SOURCE
from api.carriers import dispatch_tracking_event
from api.deps import temporal_client
from api.errors import Rejected, field_errors, problem
from api.intake import ORDER_SOURCE, start_order
from api.schemas import MAX_PAGE, Page, UtcDatetime
from api.webhooks import ingest
from models.api_errors import ApiError
from models.config import Settings
from models.db import session_scope
from models.order import OrderIn
from models.shipping import TrackingEvent
from models.tables import QuarantinedPayload, utcnow

log = structlog.get_logger()
router = APIRouter(prefix="/v1/quarantine", tags=["quarantine"], dependencies=[Depends(caller)])


class QuarantineItem(BaseModel):
    id: int
    source: str
    reason: str
    payload: str
    status: str
    resolution: str | None
    retries: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


class RetryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] | None = None  # a corrected payload; omit to process the stored one again


Retry = Callable[[Settings, Client, dict[str, Any]], Awaitable[tuple[int, dict[str, Any], str]]]


async def _retry_order(settings: Settings, client: Client, payload: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
    try:
        order = OrderIn.model_validate(payload).to_order()  # as POST /v1/orders takes it: no internal field
    except ValidationError as err:
        raise Rejected(field_errors(err)) from err
    if errors := await intake_errors(settings.db_url, order):
        raise Rejected(errors)
    status_code, accepted = await start_order(settings, client, order)
    return status_code, accepted.model_dump(mode="json"), f"order {accepted.order_id}"


async def _retry_tracking(settings: Settings, client: Client, payload: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
    try:
        event = TrackingEvent.model_validate(payload)
    except ValidationError as err:
        raise Rejected(field_errors(err)) from err
    workflow_id = await dispatch_tracking_event(settings, client, event)
    if workflow_id is None:
        raise Rejected([{"field": "waybill_no", "reason": f"no shipment with waybill {event.waybill_no}"}])
    return 202, {"accepted": True, "workflow_id": workflow_id}, f"tracking event for {workflow_id}"


RETRIES: dict[str, Retry] = {ORDER_SOURCE: _retry_order, TRACKING_SOURCE: _retry_tracking}


def _retry_for(source: str) -> Retry | None:
    if source.startswith("webhook:"):  # webhook:<channel>/<shop>
        channel, _, shop = source.removeprefix("webhook:").partition("/")

        async def retry_webhook(settings: Settings, client: Client, payload: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
            order_id, outcome = await ingest(settings, client, channel, shop, payload, None)
            return 202, {"accepted": True, "order_id": order_id, "outcome": outcome}, f"order {order_id}"

        return retry_webhook
    return RETRIES.get(source)


@router.get("", response_model=Page[QuarantineItem])
async def list_quarantine(
    request: Request,
    status: str | None = Query(default="QUARANTINED", pattern="^(QUARANTINED|RESOLVED)$"),
    source: str | None = Query(default=None, max_length=100),
    page: int = Query(default=1, ge=1, le=MAX_PAGE),
    page_size: int = Query(default=50, ge=1, le=500),
) -> Page[QuarantineItem]:
    conditions: list[ColumnElement[bool]] = []
    if status:
        conditions.append(col(QuarantinedPayload.status) == status)
    if source:
        conditions.append(col(QuarantinedPayload.source) == source)
    async with session_scope(request.app.state.settings.db_url) as session:
        total = await session.scalar(select(func.count()).select_from(QuarantinedPayload).where(*conditions))
        rows = (await session.exec(select(QuarantinedPayload).where(*conditions)
                                   .order_by(col(QuarantinedPayload.id).desc())
                                   .offset((page - 1) * page_size).limit(page_size))).all()
    items = [QuarantineItem.model_validate(r, from_attributes=True) for r in rows]
    return Page(items=items, total=total or 0, page=page, page_size=page_size)


@router.post("/{item_id}/retry")
async def retry_quarantined(request: Request, item_id: int = Path(ge=1, le=2**31 - 1),  # the id column's range
                            body: RetryBody | None = Body(default=None),
                            client: Client = Depends(temporal_client)) -> Any:
    """Process a quarantined payload again (optionally corrected). Success resolves it; a payload
    that still fails stays quarantined with the new reason."""
    settings: Settings = request.app.state.settings
    async with session_scope(settings.db_url) as session:
        item = await session.get(QuarantinedPayload, item_id)
    if item is None:
        return problem(ApiError.NOT_FOUND, f"no quarantined payload {item_id}")
    if item.status == "RESOLVED":
        return problem(ApiError.ALREADY_RESOLVED, f"payload {item_id} was resolved: {item.resolution}")
    retry = _retry_for(item.source)
    if retry is None:
        return problem(ApiError.NOT_RETRYABLE, f"payloads from {item.source} cannot be processed again here")
    payload = body.payload if body and body.payload is not None else _parse(item.payload)
    try:
        if payload is None:
            raise Rejected([{"field": "body", "reason": "not a JSON object"}])
        status_code, answer, resolution = await retry(settings, client, payload)
    except Rejected as rejected:
        await _update(settings.db_url, item_id, payload, reason=str(rejected))
        note_change(request, object_type="quarantine", object_id=str(item_id), before={"status": item.status},
                    after={"status": item.status, "reason": str(rejected)[:200]})
        return problem(ApiError.VALIDATION_FAILED, "the payload still cannot be processed",
                       errors=rejected.errors, quarantine_id=item_id)
    await _update(settings.db_url, item_id, payload, resolution=resolution)
    note_change(request, object_type="quarantine", object_id=str(item_id), before={"status": item.status},
                after={"status": "RESOLVED", "resolution": resolution})
    log.info("quarantined payload processed", quarantine_id=item_id, resolution=resolution)
    return JSONResponse(status_code=status_code, content=answer)


def _parse(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def _update(db_url: str, item_id: int, payload: dict[str, Any] | None, *, reason: str | None = None,
                  resolution: str | None = None) -> None:
    async with session_scope(db_url) as session:
        item = await session.get_one(QuarantinedPayload, item_id)  # read by the retry a moment ago
        item.retries += 1
        item.updated_at = utcnow()
        if payload is not None:
            item.payload = json.dumps(payload, ensure_ascii=False)
        if reason is not None:
            item.reason = reason[:2000]
        if resolution is not None:
            item.status, item.resolution = "RESOLVED", resolution
