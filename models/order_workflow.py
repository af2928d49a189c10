"""Inputs, messages and state of OrderWorkflow (one pydantic model per message)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from models.inventory import ReservationResult
from models.order import Order, OrderStatus
from models.shipping import Shipment


class OrderPolicy(BaseModel):
    """Deadlines and choices fixed when the order starts, so a config change never alters
    a running order's history."""

    payment_timeout_s: int = 30 * 60
    hold_limit_s: int = 24 * 3600
    hold_recheck_s: int = 30 * 60
    tracking_poll_s: int = 6 * 3600
    delivery_deadline_s: int = 15 * 24 * 3600
    carrier: str = "SF"
    tracking_callback_url: str = ""


class OrderWorkflowInput(BaseModel):
    order: Order
    policy: OrderPolicy = Field(default_factory=OrderPolicy)


# --- updates and signals -------------------------------------------------------------


class StockDecisionRequest(BaseModel):
    """Update sent with the start: answers once reserve-or-hold is decided."""


class ConfirmPayment(BaseModel):
    trade_no: str | None = Field(default=None, max_length=64)
    paid_at: datetime | None = None
    confirmed_by: str = "api"


class CancelOrder(BaseModel):
    reason: str = Field(default="cancelled on request", max_length=200)
    requested_by: str = "api"
    # False when the channel cancelled: the marketplace settles the buyer's money itself.
    refund: bool = True


class ScanShipment(BaseModel):
    """Warehouse scan of a printed waybill. No waybill number means every printed parcel."""

    waybill_no: str | None = Field(default=None, max_length=64)
    scanned_by: str = "warehouse"


class ResolveHold(BaseModel):
    action: Literal["release", "cancel"]
    note: str = Field(default="", max_length=200)
    resolved_by: str = "operator"


class StockReplenished(BaseModel):
    sku: str


ChannelOrderState = Literal[
    "AWAITING_PAYMENT", "PAID", "PARTLY_SHIPPED", "SHIPPED", "DELIVERED", "COMPLETED",
    "CANCELLED", "REFUNDING", "REFUNDED",
]


class ChannelUpdate(BaseModel):
    """The channel says the order changed (a webhook, or the next pull)."""

    state: ChannelOrderState
    raw_status: str = ""
    trade_no: str | None = None
    event_id: str | None = None
    # The platform's modified time: an older update arriving late (out-of-order webhooks, an
    # overlapping pull) must not undo a newer one. None for updates recorded before it existed.
    modified_at: datetime | None = None


# --- state ----------------------------------------------------------------------------


class TimelineEntry(BaseModel):
    seq: int
    at: datetime
    status: OrderStatus
    event: str
    detail: dict[str, Any] = Field(default_factory=dict)


class OrderSnapshot(BaseModel):
    """Live state answered by queries and updates."""

    order_id: str
    status: OrderStatus
    hold_reason: str | None = None
    paid: bool = False
    reservation: ReservationResult | None = None
    shipments: list[Shipment] = Field(default_factory=list)
    cancel_reason: str | None = None
    refund_no: str | None = None
    created: bool = False  # True only in the answer to the request that created the order


# --- read-model activities ------------------------------------------------------------


class RegisterOrderInput(BaseModel):
    order: Order
    workflow_id: str
    received_at: datetime


class RecordTransitionInput(BaseModel):
    """One state change: read model row, shipments and an append-only timeline entry."""

    order_id: str
    entry: TimelineEntry
    hold_reason: str | None = None
    paid: bool | None = None
    trade_no: str | None = None
    warehouse: str | None = None
    cancel_reason: str | None = None
    shipments: list[Shipment] = Field(default_factory=list)


class RefundPaymentInput(BaseModel):
    order_id: str
    trade_no: str
    amount: int  # fen
    out_request_no: str  # idempotency key derived from the order: one refund however often retried
    reason: str


class RefundResult(BaseModel):
    out_request_no: str
    amount: int
    status: str
