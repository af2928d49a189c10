"""Request and response bodies of the HTTP API (the order as posted is models.order.OrderIn).

Request bodies (`RequestBody`) are strict: a key the body does not know is refused (422 naming it),
and a number or flag must be one (2, not "2" or true). Strictness is per field (StrictInt,
StrictBool), not the whole model's: FastAPI validates the parsed JSON in python mode, where a strict
model would refuse an ISO time or an enum's string too. No body names who acts: the caller's token
does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from models.inventory import ReservationResult
from models.order import MAX_FEN, MAX_LINES, MAX_QUANTITY, BuyerIn


def as_utc(value: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


ORDER_ID = "`{channel}:{shop}:{external_id}`, e.g. `jd:default:T-1001`"


class RequestBody(BaseModel):
    """A request body: unknown keys are refused, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class OrderAccepted(BaseModel):
    order_id: str = Field(description=ORDER_ID)
    status: str
    reservation: ReservationResult | None = None
    hold_reason: str | None = None
    exception_tags: list[str] = Field(default_factory=list)


class PaymentBody(RequestBody):
    trade_no: str | None = Field(default=None, max_length=64)
    paid_at: datetime | None = None
    amount: StrictInt | None = Field(default=None, ge=0, le=MAX_FEN,
                                     description="fen the payment callback says were paid; a different amount "
                                                 "than the order's is held as payment_callback_failed")
    part: Literal["deposit", "balance"] | None = Field(
        default=None, description="a presale order's part: deposit (定金) or balance (尾款); omitted: the whole "
                                  "order, or on a presale order the part due next")


class CancelBody(RequestBody):
    reason: str = Field(default="cancelled on request", min_length=1, max_length=200)


class ShipmentScanBody(RequestBody):
    waybill_no: str | None = Field(default=None, max_length=64, description="omit to scan every printed parcel")


class ResolveBody(RequestBody):
    """Who resolved it is the caller (its token), recorded on the timeline: there is no field for it."""

    action: Literal["release", "cancel", "update_address"]
    note: str = Field(default="", max_length=200)
    address: BuyerIn | None = Field(default=None, description="update_address: the corrected receiver")

    @model_validator(mode="after")
    def _address_with_update(self) -> ResolveBody:
        if (self.action == "update_address") != (self.address is not None):
            raise ValueError("address is required with update_address, and only with it")
        return self


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
    order_id: str = Field(description=ORDER_ID)
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


class HealthReasonOut(BaseModel):
    reason: str
    penalty: int
    detail: str = ""


class MoneyEntryOut(BaseModel):
    direction: str = Field(description="in: received from the buyer; out: refunded to the buyer")
    route: str = Field(description="gateway (own store) or channel (the marketplace's own refund API)")
    reference: str = Field(description="the payment's trade number, or the refund's request number")
    amount: int = Field(description="fen")
    status: str = Field(description="claimed, done, released, or held (received for a closed order: finance decides)")
    source: str
    ticket_id: str | None = None
    created_at: UtcDatetime


class MoneyOut(BaseModel):
    received_fen: int
    refunded_fen: int
    claimed_fen: int = Field(description="refunds asked for and not yet moved")
    held_fen: int = Field(description="money received after the order closed, held for finance")
    refundable_fen: int
    entries: list[MoneyEntryOut]


class PresalePaymentOut(BaseModel):
    amount: int = Field(description="fen")
    paid: bool
    trade_no: str | None = None
    paid_at: UtcDatetime | None = None


class PresaleOut(BaseModel):
    """A presale order's two payments, from its timeline."""

    status: Literal["awaiting_deposit", "awaiting_balance", "paid", "balance_unpaid", "cancelled"]
    deposit: PresalePaymentOut
    balance: PresalePaymentOut
    balance_due_by: UtcDatetime


class OrderDetail(OrderSummary):
    workflow_id: str
    exception_tags: list[str] = Field(default_factory=list)
    health_score: int = Field(description="0-100; below the rules' threshold the order is in the review queue")
    health_reasons: list[HealthReasonOut] = Field(default_factory=list)
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
    after_sales: list[dict[str, str]] = Field(default_factory=list, description="the order's tickets")
    money: MoneyOut = Field(description="the order's money ledger: what came in and what went back, by route")
    presale: PresaleOut | None = Field(default=None, description="deposit and balance of a presale order")


class ExceptionItem(BaseModel):
    order_id: str
    tags: list[str]
    severity: str = Field(description="hold when any of its tags holds the order, else flag")
    team: str = Field(description="the team whose queue it is in (of its most severe, oldest tag)")
    age: int = Field(description="seconds since its oldest open tag was raised")
    procedure: str = Field(description="the standard procedure for its tags, from the rules")
    status: str
    hold_reason: str | None
    priority: str
    health_score: int
    raised_at: UtcDatetime
    reasons: dict[str, str] = Field(description="tag -> why it was raised (never personal data)")


# The last page a list serves: OFFSET (page - 1) * page_size must stay a 64-bit integer in the
# database (a larger page was an OverflowError, answered 500).
MAX_PAGE = 1_000_000

Item = TypeVar("Item", bound=BaseModel)


class Page(BaseModel, Generic[Item]):
    """One page of a list; every list endpoint names its item model (Page[OrderSummary], ...), so
    the OpenAPI document and generated clients know what `items` holds."""

    items: list[Item]
    total: int
    page: int
    page_size: int


class ExceptionPage(Page[ExceptionItem]):
    """GET /v1/exceptions: its own name, kept for clients generated before Page was generic."""


class SlaBreachOut(BaseModel):
    key: str
    order_id: str = Field(description=ORDER_ID)
    kind: str = Field(description="review | shipping_promise")
    stage: str = Field(description="alert | escalate | breached")
    team: str
    audience: str
    due_at: UtcDatetime
    breached_at: UtcDatetime
    detail: str


class ReconciliationDayOut(BaseModel):
    date: str = Field(description="YYYY-MM-DD, in the reconciliation time zone")
    status: str = Field(description="clean | differences")
    differences: int
    counts: dict[str, Any] = Field(description="difference kind -> count")
    errors: list[str] = Field(description="bills that could not be fetched")
    updated_at: UtcDatetime


class ReconciliationDays(BaseModel):
    """The reconciled days asked for, newest first, all on one page."""

    items: list[ReconciliationDayOut]


class StockSet(RequestBody):
    warehouse: str = Field(min_length=1, max_length=32)
    on_hand: StrictInt = Field(ge=0, le=10**9)
    safety_stock: StrictInt | None = Field(default=None, ge=0, le=10**9)


class StockAtWarehouse(BaseModel):
    warehouse: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int
    awaiting_inspection: int = Field(0, description="returns on their way back or not yet inspected; not sellable")
    damaged: int = Field(0, description="returned units that failed inspection; not sellable")


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


# --- after-sales --------------------------------------------------------------------


class TicketAccepted(BaseModel):
    ticket_id: str
    status: str
    order_id: str | None = None
    tier: str | None = None


# Who approves, rejects or resolves is the caller (its token): no body names a person.
class ApproveBody(RequestBody):
    comment: str = Field(default="", max_length=500)


class RejectBody(RequestBody):
    comment: str = Field(min_length=1, max_length=500, description="why: the buyer is told")


class ResolveRefundBody(RequestBody):
    action: Literal["retry", "close"]
    comment: str = Field(default="", max_length=500)


class ReturnShippedBody(RequestBody):
    waybill_no: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")
    carrier: str | None = Field(default=None, max_length=32)


class ReturnReceivedBody(RequestBody):
    waybill_no: str | None = Field(default=None, min_length=1, max_length=64,
                                   description="the return parcel's waybill as scanned")


class InspectionBody(RequestBody):
    passed: StrictBool
    accepted_quantity: StrictInt | None = Field(default=None, ge=0, le=MAX_LINES * MAX_QUANTITY,
                                                description="units fit to sell again; default all")
    note: str = Field(default="", max_length=500)


class TicketSummary(BaseModel):
    ticket_id: str
    order_id: str
    channel: str
    type: str
    reason: str
    status: str
    requested_amount: int
    tier: str | None
    auto_rule: str | None
    return_waybill: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    closed_at: UtcDatetime | None


class PlatformRequestView(BaseModel):
    """The buyer's own request at the marketplace that opened the ticket."""

    id: str = Field(description="the platform's request id (the ticket answers the platform by it)")
    channel: str
    status: str | None = Field(description="pending, agreed, refunded, refused or closed, as last seen or answered")


class TicketDetail(TicketSummary):
    workflow_id: str
    shop: str
    description: str | None
    lines: list[dict[str, Any]]
    claim_amount: int
    goods_intact: bool | None
    before_shipping: bool
    approvals: list[dict[str, Any]]
    refund: dict[str, Any] | None
    accepted_quantity: int | None
    hold_reason: str | None
    replacement_order_id: str | None
    first_response_at: UtcDatetime | None
    platform_request: PlatformRequestView | None = Field(
        default=None, description="set when a buyer opened the request on the marketplace (channel sync)")
    timeline: list[TimelineOut]


class Durations(BaseModel):
    count: int
    mean_s: float | None
    p95_s: float | None


class TicketStats(BaseModel):
    total: int
    by_status: dict[str, int]
    by_type: dict[str, int]
    by_reason: dict[str, int]
    cycle_time: Durations = Field(description="opened to ended, over ended tickets")
    first_response: Durations = Field(description="opened to a person's first decision")
    auto_approval_rate: float | None = Field(description="auto-approved share of decided tickets")
    refunded_amount: int = Field(description="fen refunded by tickets")
