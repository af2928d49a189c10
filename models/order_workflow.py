"""Inputs, messages and state of OrderWorkflow (one pydantic model per message)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from models.inventory import ReservationResult, ReserveStockInput, StockRequest
from models.order import Buyer, Order, OrderStatus
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
    # SLAs, from the rules file when the order started (models.rules.Sla).
    review_alert_s: int = 2 * 3600
    review_escalate_s: int = 4 * 3600
    shipping_promise_s: int = 48 * 3600
    shipping_alert_before_s: int = 6 * 3600
    hold_team: str = "review"  # owns holds no tag explains (a partner refusing a step)
    shipping_team: str = "warehouse"
    # Parcel merging (models.rules.Merge): 0 = off. How long an order about to print waits for the
    # same buyer's other paid orders to the same address to join its parcel.
    merge_window_s: int = 0


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
    # What the payment callback says was paid (fen). A different amount is not a payment: the order
    # is tagged payment_callback_failed and held until a person accepts or cancels it.
    amount: int | None = Field(default=None, ge=0)


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
    """release: reviewed, go on (standing tags are resolved); cancel; update_address: the corrected
    receiver, screened again (the address tags it clears are resolved)."""

    action: Literal["release", "cancel", "update_address"]
    note: str = Field(default="", max_length=200)
    resolved_by: str = "operator"
    address: Buyer | None = None


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
    exception_tags: list[str] = Field(default_factory=list)
    health_score: int | None = None
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


class ReceiveOrderInput(BaseModel):
    """Register the order and run the exception rules on it, in one step (hits raised at `seq`/`at`)."""

    order: Order
    workflow_id: str
    received_at: datetime
    seq: int
    at: datetime


class ReserveForOrderInput(BaseModel):
    """Reserve; when reserved, record `on_reserved` (its detail gets the allocations) in the same step."""

    reserve: ReserveStockInput
    on_reserved: RecordTransitionInput


class RecordTransitionsInput(BaseModel):
    """Back-to-back state changes with nothing between them, recorded in one transaction, in order."""

    transitions: list[RecordTransitionInput]


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


# --- parcel merging ---------------------------------------------------------------------


class ClaimMergeInput(BaseModel):
    """About to print a one-parcel order: join an open parcel of the same buyer and address, or open
    one when another of their orders is about to print too."""

    order_id: str
    warehouse: str
    lines: list[StockRequest]
    window_s: int
    at: datetime


class MergeClaim(BaseModel):
    role: Literal["alone", "leader", "follower"]
    leader_order_id: str | None = None
    closes_at: datetime | None = None
    expected: int = 0  # leader: the other orders that may join


class CloseMergeInput(BaseModel):
    leader_order_id: str
    warehouse: str


class MergeMember(BaseModel):
    order_id: str
    lines: list[StockRequest]


class MergeMembers(BaseModel):
    members: list[MergeMember] = Field(default_factory=list)


class MergeJoined(BaseModel):
    """Signal to the leader: a follower joined its parcel."""

    order_id: str


class MergedParcel(BaseModel):
    """Signal to a follower: its goods ride in this parcel (waybill), or, without a waybill, ship alone."""

    leader_order_id: str
    waybill_no: str | None = None
    carrier: str | None = None
    reason: str = ""


class ParcelScanned(BaseModel):
    """Signal to a follower: the shared parcel was scanned out."""

    waybill_no: str
