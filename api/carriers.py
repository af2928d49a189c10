"""Carrier tracking callbacks: verified; the delivery is handed to the order's workflow as a signal.

Collected, in transit, out for delivery: the workflow has nothing to do with those, so they are
acknowledged and logged without a signal. Three fewer workflow tasks per parcel on a sale day."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlmodel import col, select
from temporalio.client import Client

from activities.clients.order import OrderClient
from api.audit import note_actor
from api.deps import temporal_client
from api.errors import describe, field_errors, problem, quarantine
from models.api_errors import ApiError
from models.config import Settings
from models.db import read_scope
from models.order_errors import OrderError
from models.shipping import TrackingEvent
from models.tables import OrderRecord, ShipmentRecord

log = structlog.get_logger()
router = APIRouter(prefix="/v1/carriers", tags=["carriers"])
SOURCE = "carrier:POST /v1/carriers/tracking"


async def dispatch_tracking_event(settings: Settings, client: Client, event: TrackingEvent) -> str | None:
    """Signal a delivery to every order shipping in this waybill (a merged parcel carries several);
    the first's workflow id, or None when no shipment has it."""
    async with read_scope(settings.db_url) as session:
        workflow_ids = list(await session.exec(
            select(OrderRecord.workflow_id)
            .join(ShipmentRecord, col(ShipmentRecord.order_id) == col(OrderRecord.order_id))
            .where(col(ShipmentRecord.waybill_no) == event.waybill_no)
            .order_by(col(OrderRecord.created_at), col(OrderRecord.order_id))
        ))
    for workflow_id in workflow_ids if event.delivered else []:
        await OrderClient(client).tracking_event(workflow_id, event)
    return workflow_ids[0] if workflow_ids else None


@router.post("/tracking", status_code=202)
async def tracking_callback(request: Request, x_carrier_signature: str = Header(default=""),
                            client: Client = Depends(temporal_client)) -> Any:
    settings = request.app.state.settings
    raw = await request.body()
    expected = hmac.new(settings.carrier_callback_secret.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, x_carrier_signature):
        return problem(ApiError.BAD_SIGNATURE, "X-Carrier-Signature does not match the body")
    note_actor(request, actor_id="carrier", actor_name="carrier tracking callback", role="carrier")
    try:
        event = TrackingEvent.model_validate_json(raw)
    except ValidationError as err:
        errors = field_errors(err)
        qid = await quarantine(settings.db_url, SOURCE, raw, describe(errors))
        return problem(ApiError.VALIDATION_FAILED, "the tracking event is invalid", errors=errors, quarantine_id=qid)
    workflow_id = await dispatch_tracking_event(settings, client, event)
    if workflow_id is None:
        qid = await quarantine(settings.db_url, SOURCE, raw, f"unknown waybill {event.waybill_no}")
        return problem(OrderError.WAYBILL_NOT_FOUND, f"no shipment with waybill {event.waybill_no}", quarantine_id=qid)
    log.info("tracking event", workflow_id=workflow_id, waybill_no=event.waybill_no, status=event.status,
             signalled=event.delivered)
    return JSONResponse(status_code=202, content={"accepted": True})
