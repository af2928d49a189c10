"""The seller's own web store: ship-back (mark an order shipped with its waybill)."""

import uuid
from typing import Any

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from sandbox.faults import FaultInjectedRoute
from sandbox.records import RecordStore

log = structlog.get_logger(__name__)


class ShipbackRequest(BaseModel):
    request_id: str = Field(min_length=1)
    order_id: str = Field(min_length=1, description="the store's own order number")
    waybill_no: str = Field(min_length=1)
    carrier: str = Field(min_length=1)
    lines: list[Any] | None = None


router = APIRouter(prefix="/own_store", tags=["own_store"], route_class=FaultInjectedRoute)


@router.post("/{shop}/shipments", name="own_store.shipback")
async def ship_back(shop: str, body: ShipbackRequest, request: Request) -> dict[str, Any]:
    records: RecordStore = request.app.state.records
    previous = records.replay("shipback", body.request_id)
    if previous is not None:
        log.info("own_store.shipback_replayed", shop=shop, request_id=body.request_id)
        return previous.result
    result = {"ok": True, "request_id": body.request_id, "shipment_id": f"SHP{uuid.uuid4().hex[:12].upper()}"}
    # The shop comes from the path; keep it with the body so the record is self-describing.
    stored_body = {"shop": shop, **body.model_dump(mode="json", exclude_unset=True)}
    records.add("shipback", body.request_id, stored_body, result)
    log.info(
        "own_store.shipped_back",
        shop=shop,
        request_id=body.request_id,
        order_id=body.order_id,
        waybill_no=body.waybill_no,
        shipment_id=result["shipment_id"],
    )
    return result
