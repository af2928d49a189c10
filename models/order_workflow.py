"""Inputs, messages and state of OrderWorkflow (one pydantic model per message)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from models.config import Settings
from models.inventory import ReservationResult, ReserveStockInput, StockRequest
from models.order import MAX_FEN, Buyer, Order, OrderStatus
from models.rules import Rules, Sla, shared_rules
from models.shipping import Shipment

ORDER_WORKFLOW = "OrderWorkflow"


class OrderMessage(StrEnum):
    """Every query, update and signal of OrderWorkflow: the workflow declares its handlers with these
    names and every sender (API, activities, other workflows) addresses them through the order client."""

    STATE = "state"
    STOCK_DECISION = "stock_decision"
    CONFIRM_PAYMENT = "confirm_payment"
    CANCEL = "cancel"
    SCAN_SHIPMENT = "scan_shipment"
    RESOLVE_HOLD = "resolve_hold"
    STOCK_REPLENISHED = "stock_replenished"
    CHANNEL_UPDATE = "channel_update"
    REFUND_BEFORE_SHIPPING = "refund_before_shipping"
    PARCEL_PRINTED = "parcel_printed"
    PARCEL_SCANNED = "parcel_scanned"
    TRACKING_EVENT = "tracking_event"


class OrderEventName(StrEnum):
    """What an order's timeline records, step by step (the read model's `order_events.event`)."""

    RECEIVED = "received"
    SCREENED = "screened"
    STOCK_RESERVED = "stock_reserved"
    STOCK_SHORT = "stock_short"
    PAYMENT_CONFIRMED = "payment_confirmed"
    HELD = "held"
    HOLD_RELEASED = "hold_released"  # a failed step released by a person: counted by the health score
    REVIEWED = "reviewed"
    AWAITING_PRESALE_DATE = "awaiting_presale_date"
    SHIPMENTS_PLANNED = "shipments_planned"
    MERGING = "merging"
    PARCEL_MERGED = "parcel_merged"
    WAYBILL_PRINTED = "waybill_printed"
    PARCEL_SCANNED = "parcel_scanned"
    PUSHED_TO_CHANNEL = "pushed_to_channel"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXCEPTION_RAISED = "exception_raised"
    EXCEPTIONS_RESOLVED = "exceptions_resolved"
    ADDRESS_UPDATED = "address_updated"
    ADDRESS_SCREENED = "address_screened"
    DEPOSIT_PAID = "deposit_paid"  # a presale order's first part (定金)
    BALANCE_PAID = "balance_paid"  # its second part (尾款): the order is paid and may ship


class OrderPolicy(BaseModel):
    """Deadlines and choices fixed when the order starts, so a config change never alters a running
    order's history. No defaults here: `order_policy` builds it from Settings and the rules file."""

    payment_timeout_s: int
    hold_limit_s: int
    hold_recheck_s: int
    tracking_poll_s: int
    delivery_deadline_s: int
    carrier: str
    tracking_callback_url: str
    sla: Sla  # review and shipping-promise clocks, from the rules file
    # How long an order about to print waits for the same buyer's other paid orders to the same
    # address to join its parcel (rules: routing.merge); 0 = merging off.
    merge_window_s: int
    # A presale order's deposit when its balance is unpaid at the deadline (rules file). The default
    # only for the inputs of orders started before the rule existed.
    presale_deposit_on_unpaid_balance: Literal["keep", "refund"] = "keep"


def order_policy(settings: Settings, rules: Rules | None = None) -> OrderPolicy:
    """The policy of an order starting now: Settings' deadlines, the rules file's SLAs and merging."""
    rules = rules or shared_rules(settings.rules_file).current
    merge = rules.routing.merge
    return OrderPolicy(
        payment_timeout_s=settings.payment_timeout_s, hold_limit_s=settings.hold_limit_s,
        hold_recheck_s=settings.hold_recheck_s, tracking_poll_s=settings.tracking_poll_s,
        delivery_deadline_s=settings.delivery_deadline_s, carrier=settings.default_carrier,
        tracking_callback_url=f"{settings.api_base_url}/v1/carriers/tracking",
        sla=rules.sla, merge_window_s=merge.window_s if merge.enabled else 0,
        presale_deposit_on_unpaid_balance=rules.presale_deposit_on_unpaid_balance,
    )


class OrderWorkflowInput(BaseModel):
    order: Order
    policy: OrderPolicy


# --- updates and signals -------------------------------------------------------------


PaymentPart = Literal["deposit", "balance"]
# The cancel reason of a presale order whose balance was not paid by its deadline.
BALANCE_UNPAID = "presale balance unpaid by its deadline"


class StockDecisionRequest(BaseModel):
    """Update sent with the start: answers once reserve-or-hold is decided."""


class ConfirmPayment(BaseModel):
    trade_no: str | None = Field(default=None, max_length=64)
    paid_at: datetime | None = None
    confirmed_by: str = "api"
    # What the payment callback says was paid (fen). A different amount is not a payment: the order
    # is tagged payment_callback_failed and held until a person accepts or cancels it.
    amount: int | None = Field(default=None, ge=0, le=MAX_FEN)
    # A presale order's part: deposit (定金) or balance (尾款); None: the whole order, or on a presale
    # order the part due next. A part's amount must be the plan's.
    part: PaymentPart | None = None


class CancelOrder(BaseModel):
    reason: str = Field(default="cancelled on request", max_length=200)
    requested_by: str = "api"  # the requesting party: a role (channel: the marketplace cancelled), system, after_sales
    actor: str | None = Field(default=None, max_length=64, description="the person or integration (Principal.actor)")
    # False when the channel cancelled: the marketplace settles the buyer's money itself; and when a
    # presale order's balance went unpaid and the rules keep its deposit.
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
    event: OrderEventName
    detail: dict[str, Any] = Field(default_factory=dict)


class PresalePayment(BaseModel):
    amount: int  # fen
    paid: bool = False
    trade_no: str | None = None
    paid_at: datetime | None = None


class PresaleState(BaseModel):
    """A presale order's deposit and balance as the workflow sees them."""

    deposit: PresalePayment
    balance: PresalePayment
    balance_due_by: datetime
    # keep | refund: what a cancel for an unpaid balance does with the deposit (the order's policy)
    deposit_on_unpaid_balance: Literal["keep", "refund"]


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
    presale: PresaleState | None = None  # a presale order's two payments
    created: bool = False  # True only in the answer to the request that created the order


# --- read-model activities ------------------------------------------------------------


class RegisterOrderInput(BaseModel):
    order: Order
    workflow_id: str
    received_at: datetime


class Receipt(BaseModel):
    """Money received, for the ledger (models.ledger.record_receipt): one entry per order and key."""

    key: str
    source: Literal["payment", "late_payment", "deposit", "balance"]
    amount: int  # fen
    reference: str | None = None  # the payment's trade number


class RecordTransitionInput(BaseModel):
    """One state change: read model row, shipments and an append-only timeline entry (and, when
    money came in with it, its receipt in the ledger)."""

    order_id: str
    entry: TimelineEntry
    hold_reason: str | None = None
    paid: bool | None = None
    trade_no: str | None = None
    warehouse: str | None = None
    cancel_reason: str | None = None
    shipments: list[Shipment] = Field(default_factory=list)
    receipt: Receipt | None = None


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


def cancel_refund_request_no(order_id: str) -> str:
    """The gateway's idempotency key (out_request_no, at most 64 characters) of a cancelled order's
    refund: one refund per order, however often the step is retried."""
    key = f"{order_id}-cancel"
    return key if len(key) <= 64 else f"cancel-{hashlib.sha256(order_id.encode()).hexdigest()[:40]}"


class RefundResult(BaseModel):
    out_request_no: str
    amount: int
    status: str


# --- parcel merging (ParcelWorkflow: one per merge key and warehouse) -------------------------

PARCEL_WORKFLOW = "ParcelWorkflow"


class ParcelMessage(StrEnum):
    JOIN = "join"
    LEAVE = "leave"
    SCANNED = "scanned"
    STATE = "state"


class JoinParcelInput(BaseModel):
    """An order about to print asks to share a parcel with the same buyer's other orders to the same
    address from the same warehouse (its shipment's id and lines go on the shared waybill)."""

    order_id: str
    shipment_id: str
    warehouse: str
    carrier: str
    lines: list[StockRequest]
    window_s: int
    at: datetime


class ParcelRole(BaseModel):
    """`alone`: print its own waybill now; `joined`: the parcel workflow answers with `parcel_printed`."""

    role: Literal["alone", "joined"]
    parcel_workflow_id: str | None = None


class ParcelInput(BaseModel):
    merge_key: str
    warehouse: str


class ParcelJoin(BaseModel):
    """Signal to the parcel: an order joins (sent with the start: signal-with-start)."""

    order_id: str
    shipment_id: str
    carrier: str
    lines: list[StockRequest]
    window_s: int
    # The buyer's other orders about to print here when this one joined: the parcel waits for them.
    partners: list[str] = Field(default_factory=list)


class ParcelLeave(BaseModel):
    """Signal to the parcel: the order was cancelled before the parcel was printed."""

    order_id: str


class ParcelScannedAt(BaseModel):
    """Signal to the parcel: one of its orders was scanned out, so the parcel left."""

    order_id: str
    waybill_no: str


class ParcelPrinted(BaseModel):
    """Signal to an order in a parcel: its goods ride under this waybill, or (no waybill) print alone."""

    parcel_workflow_id: str
    waybill_no: str | None = None
    carrier: str | None = None
    orders: list[str] = Field(default_factory=list)
    reason: str = ""


class ParcelScanned(BaseModel):
    """Signal to an order in a parcel: the shared parcel was scanned out."""

    waybill_no: str


class ParcelState(BaseModel):
    merge_key: str
    warehouse: str
    orders: list[str]
    waybill_no: str | None = None
    closed: bool = False


def parcel_workflow_id(merge_key: str, warehouse: str) -> str:
    """One parcel workflow per merge key (a one-way fingerprint: no buyer data) and warehouse."""
    return f"parcel-{merge_key[:32]}@{warehouse}"
