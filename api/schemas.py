"""Request and response bodies of the HTTP API (the order model itself is models.order.Order)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from models.inventory import ReservationResult


def _as_utc(value: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class OrderAccepted(BaseModel):
    order_id: str
    status: str
    reservation: ReservationResult | None = None
    hold_reason: str | None = None


class PaymentBody(BaseModel):
    trade_no: str | None = Field(default=None, max_length=64)
    paid_at: datetime | None = None


class CancelBody(BaseModel):
    reason: str = Field(default="cancelled on request", min_length=1, max_length=200)


class ShipmentScanBody(BaseModel):
    waybill_no: str | None = Field(default=None, max_length=64, description="omit to scan every printed parcel")


class ResolveBody(BaseModel):
    action: Literal["release", "cancel"]
    note: str = Field(default="", max_length=200)


class OrderLineOut(BaseModel):
    sku: str
    quantity: int
    unit_price: int


class ShipmentOut(BaseModel):
    shipment_id: str
    warehouse: str
    carrier: str
    waybill_no: str | None
    status: str
    lines: list[dict[str, Any]]
    pushed_to_channel: bool


class TimelineOut(BaseModel):
    seq: int
    at: UtcDatetime
    status: str
    event: str
    detail: dict[str, Any]


class ReservationOut(BaseModel):
    sku: str
    warehouse: str
    quantity: int
    status: str


class BuyerOut(BaseModel):
    name: str
    phone: str
    province: str
    city: str
    district: str
    address: str


class OrderSummary(BaseModel):
    order_id: str
    channel: str
    shop: str
    external_id: str
    status: str
    hold_reason: str | None
    paid: bool
    priority: str
    total_amount: int
    warehouse: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class OrderDetail(OrderSummary):
    workflow_id: str
    cancel_reason: str | None
    trade_no: str | None
    priority_tags: list[str]
    goods_amount: int
    shipping_fee: int
    discount: int
    buyer: BuyerOut
    lines: list[OrderLineOut]
    reservations: list[ReservationOut]
    shipments: list[ShipmentOut]
    waybill: str | None = Field(description="waybill numbers, comma separated when split")
    timeline: list[TimelineOut]


class Page(BaseModel):
    items: list[Any]
    total: int
    page: int
    page_size: int


class StockSet(BaseModel):
    warehouse: str = Field(min_length=1, max_length=32)
    on_hand: int = Field(ge=0, le=10**9)
    safety_stock: int | None = Field(default=None, ge=0, le=10**9)


class StockAtWarehouse(BaseModel):
    warehouse: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int


class StockOut(BaseModel):
    sku: str
    warehouses: list[StockAtWarehouse]
    available_to_sell: int


class WarehouseOut(BaseModel):
    code: str
    name: str
    region: str
    province: str
    city: str
