"""After-sales tickets: types, statuses, the rules that decide who approves, and the inputs,
messages and state of AfterSalesWorkflow (one pydantic model per message).

Money is integer fen. These models travel through Temporal: fields are only ever added with
defaults, never renamed.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from models.config import Settings
from models.order import MAX_FEN, MAX_QUANTITY, OrderId, SkuCode

StaffId = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@\-]*$",
                description="the person's staff id (never a name or phone); the token's role is recorded too")


class TicketType(StrEnum):
    REFUND_ONLY = "refund_only"  # money back, the buyer keeps or never got the goods
    RETURN_AND_REFUND = "return_and_refund"
    EXCHANGE = "exchange"  # goods back, the same goods out again
    PARTIAL_REFUND = "partial_refund"  # an agreed amount, nothing comes back


RETURN_TYPES = frozenset({TicketType.RETURN_AND_REFUND, TicketType.EXCHANGE})


class TicketStatus(StrEnum):
    OPENED = "OPENED"  # registered by the API, the workflow has not decided yet
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    APPROVED = "APPROVED"
    CANCELLING_ORDER = "CANCELLING_ORDER"  # refund before shipping: the order is being stopped
    AWAITING_RETURN = "AWAITING_RETURN"
    AWAITING_INSPECTION = "AWAITING_INSPECTION"
    REFUNDING = "REFUNDING"
    EXCHANGING = "EXCHANGING"
    ON_HOLD = "ON_HOLD"  # a permanent refund failure: finance decides
    REFUNDED = "REFUNDED"
    EXCHANGED = "EXCHANGED"
    REJECTED = "REJECTED"
    CLOSED = "CLOSED"  # ended without moving money (no parcel, failed inspection, closed by finance)


FINAL_TICKET_STATUSES = frozenset({TicketStatus.REFUNDED, TicketStatus.EXCHANGED, TicketStatus.REJECTED,
                                   TicketStatus.CLOSED})

APPROVER_ROLES = ("support_lead", "finance", "operations", "admin")


class TicketLine(BaseModel):
    """A line of an after-sales request. Not a Temporal payload (the exchange's lines are
    ReplacementLine), so it refuses unknown keys like the request."""

    model_config = ConfigDict(extra="forbid")

    sku: SkuCode
    quantity: StrictInt = Field(gt=0, le=MAX_QUANTITY)
    exchange_sku: SkuCode | None = Field(
        default=None, description="exchange only: the SKU to ship instead (another size or colour); omit for the same")


class AfterSalesRequest(BaseModel):
    """POST /v1/after-sales, and a buyer's request pulled from a marketplace: only what a caller knows
    (the platform request a pulled one answers is passed beside it, never in it). Unknown keys are
    refused; numbers and flags are strict (2, not "2" or true)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    order_id: OrderId
    type: TicketType
    reason: str = Field(min_length=1, max_length=64,
                        description="reason code, e.g. no_reason, quality, wrong_item, damaged, not_received")
    description: str | None = Field(default=None, max_length=500)
    lines: list[TicketLine] | None = Field(default=None, min_length=1, max_length=200,
                                           description="omit for every line of the order")
    amount: StrictInt | None = Field(default=None, gt=0, le=MAX_FEN, description="fen; required for partial_refund")
    goods_intact: StrictBool | None = None
    request_id: str | None = Field(default=None, min_length=1, max_length=64,
                                   description="the caller's id for this request: a repeat returns the same ticket")

    @field_validator("reason")
    @classmethod
    def _reason_code(cls, reason: str) -> str:
        return reason.lower()

    @field_validator("lines")
    @classmethod
    def _one_line_per_sku(cls, lines: list[TicketLine] | None) -> list[TicketLine] | None:
        if lines is not None and len({line.sku for line in lines}) != len(lines):
            raise ValueError("each sku may appear on one line only")
        return lines


def ticket_id_for(order_id: str, type: TicketType, lines: list[TicketLine], request_id: str | None) -> str:
    """Derived from the request, so a repeat (same order, type, lines, request id) is the same ticket."""
    key = "|".join([order_id, type.value, ",".join(f"{l.sku}x{l.quantity}" + (f">{l.exchange_sku}" if l.exchange_sku else "")
                                                   for l in sorted(lines, key=lambda l: l.sku)),
                    request_id or ""])
    return f"as-{order_id}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def ticket_workflow_id(ticket_id: str) -> str:
    return f"after-sales-{ticket_id}"


def refund_request_no(ticket_id: str) -> str:
    """The gateway's idempotency key (out_request_no, at most 64 characters): one refund per ticket."""
    return ticket_id if len(ticket_id) <= 64 else f"as-{hashlib.sha256(ticket_id.encode()).hexdigest()[:40]}"


# --- policy ---------------------------------------------------------------------------


class ApprovalTier(BaseModel):
    """Every role listed must approve (one approval each); any of them may reject."""

    name: str
    roles: list[str]


class TicketPolicy(BaseModel):
    """Rules and deadlines fixed when the ticket opens, so a configuration change never alters a
    running ticket's history. No defaults here but the tiers: `ticket_policy` builds it from
    Settings (ORDERHUB_AFTER_SALES_*)."""

    auto_approve_max_fen: int  # a refund of at most this needs no person
    no_reason_codes: list[str]
    no_reason_return_days: int  # a no-reason return, goods intact, within this many days of delivery
    support_lead_max_fen: int  # up to this a support lead decides; above, finance and operations
    tiers: list[ApprovalTier] = Field(default_factory=lambda: [
        ApprovalTier(name="support_lead", roles=["support_lead"]),
        ApprovalTier(name="finance_and_operations", roles=["finance", "operations"]),
        ApprovalTier(name="admin", roles=["admin"]),
    ])
    first_response_s: int  # per tier: unanswered -> alert and escalate to the next tier
    approval_deadline_s: int  # unanswered by any tier -> the deadline decides
    on_approval_deadline: Literal["approve", "reject"]  # the platforms' own rule: silence agrees
    order_cancel_answer_s: int  # refund before shipping: the order's answer, else alert operations
    return_deadline_s: int  # the buyer's parcel must be scanned by then, else CLOSED
    inspection_sla_s: int  # received but not inspected -> alert operations (repeats)
    # Payout deadlines (seed 002's table), with defaults so tickets started before them replay: the money
    # must have moved by then, else finance is alerted (`workflows/ticket_payout.py`).
    payout_before_shipping_s: int = 24 * 3600  # refund before shipping: from the ticket opening
    payout_after_return_s: int = 48 * 3600  # after shipping: from the return received (no return: opening)
    payout_compensation_s: int = 72 * 3600  # partial refund (compensation): from the ticket opening


def ticket_policy(settings: Settings) -> TicketPolicy:
    return TicketPolicy(
        auto_approve_max_fen=settings.after_sales_auto_approve_max_fen,
        no_reason_codes=settings.after_sales_no_reason_codes,
        no_reason_return_days=settings.after_sales_no_reason_return_days,
        support_lead_max_fen=settings.after_sales_support_lead_max_fen,
        first_response_s=settings.after_sales_first_response_s,
        approval_deadline_s=settings.after_sales_approval_deadline_s,
        on_approval_deadline=settings.after_sales_on_approval_deadline,
        order_cancel_answer_s=settings.after_sales_order_cancel_answer_s,
        return_deadline_s=settings.after_sales_return_deadline_s,
        inspection_sla_s=settings.after_sales_inspection_sla_s,
        payout_before_shipping_s=settings.after_sales_payout_before_shipping_s,
        payout_after_return_s=settings.after_sales_payout_after_return_s,
        payout_compensation_s=settings.after_sales_payout_compensation_s,
    )


def auto_approval_rule(ticket: TicketFacts, policy: TicketPolicy) -> str | None:
    """The rule that approves this ticket without a person, or None."""
    if 0 < ticket.amount and ticket.refunded_before + ticket.amount <= policy.auto_approve_max_fen:
        return "small_refund"
    if (ticket.type in RETURN_TYPES and ticket.reason in policy.no_reason_codes and ticket.goods_intact
            and ticket.delivered_at is not None
            and ticket.opened_at - ticket.delivered_at <= timedelta(days=policy.no_reason_return_days)):
        return "no_reason_return"
    return None


def accepted_lines(ticket: TicketFacts, accepted: int) -> list[ReplacementLine]:
    """The units an exchange ships: the ticket's lines in order, up to what inspection accepted, each
    as its exchange SKU where the buyer asked for another size or colour (one line per SKU: two lines
    may be exchanged for the same one)."""
    quantities: dict[str, int] = {}
    left = accepted
    for line in ticket.lines:
        take = min(left, line.quantity)
        left -= take
        if take:
            sku = line.exchange_sku or line.sku
            quantities[sku] = quantities.get(sku, 0) + take
    return [ReplacementLine(sku=sku, quantity=quantity) for sku, quantity in quantities.items()]


def first_tier(ticket: TicketFacts, policy: TicketPolicy) -> int:
    return 0 if ticket.refunded_before + ticket.amount <= policy.support_lead_max_fen else 1


# --- workflow input -------------------------------------------------------------------


class ReturnLine(BaseModel):
    """A line of the ticket with what the order paid for it and where it shipped from."""

    sku: str
    quantity: int
    unit_price: int  # fen
    warehouse: str | None = None  # where returned units go back to; None before shipping
    exchange_sku: str | None = None  # an exchange's outbound SKU when not `sku` (the returned one)
    paid_share: int | None = None  # fen: these units' share of what the line was paid (discount apportioned)


class TicketFacts(BaseModel):
    """What the API established when the ticket opened. Ids and amounts only: no buyer data."""

    ticket_id: str
    order_id: str
    order_workflow_id: str
    channel: str
    shop: str
    external_id: str
    trade_no: str
    type: TicketType
    reason: str
    lines: list[ReturnLine]
    amount: int  # fen asked for (0 for an exchange)
    goods_intact: bool | None = None
    delivered_at: datetime | None = None
    opened_at: datetime
    before_shipping: bool = False  # the order's goods had not left: a refund stops the order
    # Fen of the order refunded or claimed before this ticket: approval judges the order's total, so
    # splitting a refund into small tickets does not dodge a person.
    refunded_before: int = 0
    # The buyer's own request at the platform when the ticket came from one (the channel sync opened it):
    # approving or rejecting the ticket answers that request, by this id (PushRefundInput.platform_request_id).
    platform_request_id: str | None = None

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


class AfterSalesInput(BaseModel):
    ticket: TicketFacts
    policy: TicketPolicy  # always given: TicketPolicy has no defaults to build one from


# --- updates and signals --------------------------------------------------------------


class TicketOpened(BaseModel):
    """Update sent with the start: answers once the first decision (rule or tier) is made."""


class ApproveTicket(BaseModel):
    role: str
    approver: str | None = StaffId
    comment: str = Field(default="", max_length=500)


class RejectTicket(BaseModel):
    role: str
    approver: str | None = StaffId
    comment: str = Field(min_length=1, max_length=500)


class ReturnShipped(BaseModel):
    """The buyer sent the parcel back (from the channel): its waybill, so the scan finds the ticket."""

    waybill_no: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")
    carrier: str | None = Field(default=None, max_length=32)


class ReturnReceived(BaseModel):
    """The warehouse scanned the returned parcel."""

    waybill_no: str | None = Field(default=None, max_length=64)
    scanned_by: str = "warehouse"


class InspectionReport(BaseModel):
    passed: bool
    accepted_quantity: int | None = Field(default=None, ge=0, description="units fit to sell again; default all")
    inspected_by: str = "warehouse"
    note: str = Field(default="", max_length=500)


class ResolveRefund(BaseModel):
    """A refund the gateway refused for good: finance retries it or closes the ticket."""

    action: Literal["retry", "close"]
    role: str
    approver: str | None = StaffId
    comment: str = Field(default="", max_length=500)


class OrderSettled(BaseModel):
    """The order's answer to a refund before shipping: stopped (stock released), or too late."""

    cancelled: bool
    order_status: str
    detail: str = ""


class RefundBeforeShipping(BaseModel):
    """Sent to the order's workflow: stop, release the stock, leave the refund to the ticket."""

    ticket_id: str
    ticket_workflow_id: str
    reason: str = Field(default="refund before shipping", max_length=200)


# --- state ----------------------------------------------------------------------------


class Approval(BaseModel):
    role: str
    approver: str | None = None  # staff id; "auto" rules and deadlines name themselves in `rule`
    decision: Literal["approve", "reject"]
    comment: str = ""
    rule: str | None = None  # set when no person decided: small_refund, no_reason_return, deadline
    tier: str = ""
    at: datetime


class RefundRecord(BaseModel):
    out_request_no: str
    amount: int  # fen
    status: str
    at: datetime | None = None


class TicketEventName(StrEnum):
    """What a ticket's timeline records (the read model's `after_sales_events.event`)."""

    OPENED = "opened"
    AUTO_APPROVED = "auto_approved"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"  # by a person: role and approver in the detail
    REJECTED = "rejected"
    DEADLINE_APPROVED = "deadline_approved"  # nobody answered by the approval deadline
    DEADLINE_REJECTED = "deadline_rejected"
    ESCALATED = "escalated"
    SLA_BREACHED = "sla_breached"
    STOPPING_ORDER = "stopping_order"
    ORDER_STOPPED = "order_stopped"
    ORDER_NOT_STOPPED = "order_not_stopped"
    AWAITING_RETURN = "awaiting_return"
    RETURN_SHIPPED = "return_shipped"
    RETURN_RECEIVED = "return_received"
    RETURN_DEADLINE_PASSED = "return_deadline_passed"
    INSPECTED = "inspected"
    INSPECTION_FAILED = "inspection_failed"
    EXCHANGING = "exchanging"
    EXCHANGE_SHIPPED = "exchange_shipped"
    REFUNDING = "refunding"
    REFUND_FAILED = "refund_failed"
    REFUND_RETRIED = "refund_retried"
    REFUNDED = "refunded"
    CLOSED_UNREFUNDED = "closed_unrefunded"
    CHANNEL_NOT_TOLD = "channel_not_told"
    PAYOUT_OVERDUE = "payout_overdue"  # the money had not moved by the ticket type's payout deadline


AFTER_SALES_WORKFLOW = "AfterSalesWorkflow"


class TicketMessage(StrEnum):
    """Every query, update and signal of AfterSalesWorkflow (declared and sent by these names)."""

    STATE = "state"
    OPENED = "opened"
    APPROVE = "approve"
    REJECT = "reject"
    RETURN_SHIPPED = "return_shipped"
    RETURN_RECEIVED = "return_received"
    INSPECT = "inspect"
    RESOLVE_REFUND = "resolve_refund"
    ORDER_SETTLED = "order_settled"


class TicketEvent(BaseModel):
    seq: int
    at: datetime
    status: TicketStatus
    event: TicketEventName
    detail: dict[str, Any] = Field(default_factory=dict)


class TicketSnapshot(BaseModel):
    """Live state answered by queries and updates."""

    ticket_id: str
    status: TicketStatus
    type: TicketType
    tier: str | None = None
    approvals: list[Approval] = Field(default_factory=list)
    refund: RefundRecord | None = None
    return_waybill: str | None = None
    accepted_quantity: int | None = None
    hold_reason: str | None = None
    replacement_order_id: str | None = None


# --- activity inputs ------------------------------------------------------------------


class RecordTicketInput(BaseModel):
    """One state change of a ticket: read model row and an append-only timeline entry."""

    ticket_id: str
    entry: TicketEvent
    approvals: list[Approval] | None = None
    tier: str | None = None
    claim_amount: int | None = None  # what this ticket holds against the order's paid amount
    refund: RefundRecord | None = None
    return_waybill: str | None = None
    accepted_quantity: int | None = None
    hold_reason: str | None = None
    first_response_at: datetime | None = None
    auto_rule: str | None = None
    replacement_order_id: str | None = None
    closed: bool = False


class ReturnStockInput(BaseModel):
    """Units of a ticket on their way back (EXPECTED), then inspected or no longer expected."""

    ticket_id: str
    lines: list[ReturnLine]


class InspectReturnInput(BaseModel):
    ticket_id: str
    accepted_quantity: int  # fit to sell again, taken line by line; the rest is damaged


class ReplacementLine(BaseModel):
    """A line an exchange ships (TicketLine's shape, as the payloads recorded before it carry)."""

    sku: SkuCode
    quantity: int = Field(gt=0, le=MAX_QUANTITY)
    exchange_sku: SkuCode | None = None  # always None: accepted_lines has put the exchanged SKU in `sku`


class ReplacementOrderInput(BaseModel):
    ticket_id: str
    order_id: str
    lines: list[ReplacementLine]


class ReplacementOrder(BaseModel):
    order_id: str
    workflow_id: str
