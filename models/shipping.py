"""Shipments, waybills and tracking as the order workflow sees them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from models.inventory import StockRequest


class ShipmentStatus(StrEnum):
    PLANNED = "PLANNED"
    PRINTED = "PRINTED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"


class Shipment(BaseModel):
    """One parcel from one warehouse. An order split across warehouses has several."""

    shipment_id: str
    warehouse: str
    carrier: str
    lines: list[StockRequest]
    status: ShipmentStatus = ShipmentStatus.PLANNED
    waybill_no: str | None = None
    pushed_to_channel: bool = False


class PlanShipmentsInput(BaseModel):
    order_id: str
    carrier: str


class PrintWaybillInput(BaseModel):
    order_id: str
    shipment_id: str  # also the carrier's idempotency key: a retry never yields a second waybill
    warehouse: str
    carrier: str
    lines: list[StockRequest]


class Waybill(BaseModel):
    shipment_id: str
    waybill_no: str
    carrier: str


class SubscribeTrackingInput(BaseModel):
    waybill_no: str
    carrier: str
    callback_url: str


class QueryTrackingInput(BaseModel):
    waybill_no: str
    carrier: str


class TrackingEvent(BaseModel):
    """A carrier tracking event; the signal input of OrderWorkflow.tracking_event too."""

    event_id: str
    waybill_no: str
    status: str  # COLLECTED, IN_TRANSIT, OUT_FOR_DELIVERY, SIGNED, EXCEPTION
    time: datetime | None = None
    site: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status == "SIGNED"


class TrackingResult(BaseModel):
    waybill_no: str
    events: list[TrackingEvent] = Field(default_factory=list)

    @property
    def delivered(self) -> bool:
        return any(e.delivered for e in self.events)


class PushShipmentInput(BaseModel):
    order_id: str
    channel: str
    shop: str
    external_id: str
    shipment_id: str
    waybill_no: str
    carrier: str
    is_split: bool = False
    replaces: str | None = None  # an exchange's parcel: pushed under this (the replaced) order's external id
