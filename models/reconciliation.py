"""The daily reconciliation: what the platforms' settlement bills and the payment gateway's statement say
about one day's money, against what the hub recorded, and every difference between them.

`compare(hub_side, platform_side)` is pure (no I/O, no clock): the activities gather both sides, the
workflow stores what it answers. One day is a calendar day in the reconciliation time zone
(Asia/Shanghai by default, where the platforms cut their bills).

Which orders belong to a day: on a platform's bill, the orders paid that day; in the hub, the orders
placed that day (the platforms' created time, equal to the paid time for orders paid at once). The
gateway's statement and the hub's ledger are compared movement by movement: the day's trades against the
receipts the ledger recorded that day, the day's refunds against the gateway refunds the ledger settled.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator

RECONCILE_WORKFLOW = "ReconcileDayWorkflow"
RECONCILE_SCHEDULE_ID = "reconcile-daily"
# Marketplaces settle through their own bills; own-store money is checked against the gateway's statement.
BILL_CHANNELS = ("taobao", "jd", "pinduoduo", "douyin", "shopify")
GATEWAY_CHANNEL = "own_store"
FINANCE_AUDIENCE = "finance"


def reconcile_id(day: date) -> str:
    """One workflow id per day: starting the same day twice while it runs is refused, after it ended re-runs it."""
    return f"reconcile-{day.isoformat()}"


class DifferenceKind(StrEnum):
    MISSING_IN_HUB = "missing_in_hub"  # on a platform's bill, no such order in the hub
    MISSING_ON_PLATFORM = "missing_on_platform"  # a paid hub order its platform's bill does not list
    AMOUNT_MISMATCH = "amount_mismatch"  # the platform (or gateway) took another amount than the hub received
    STATUS_MISMATCH = "status_mismatch"  # closed on one side, open on the other
    PAYMENT_MISSING = "payment_missing"  # a receipt in the hub's ledger the gateway's statement does not have
    PAYMENT_UNMATCHED = "payment_unmatched"  # a gateway trade or refund no hub order knows
    REFUND_MISMATCH = "refund_mismatch"  # refunded on the platform/gateway not as the hub's ledger says
    SETTLEMENT_MISMATCH = "settlement_mismatch"  # settled != paid - refunded - commission + subsidy


class ReportStatus(StrEnum):
    CLEAN = "clean"
    DIFFERENCES = "differences"
    INCOMPLETE = "incomplete"  # no differences found, but a bill or the statement could not be fetched


def report_status(differences: list[Difference], errors: list[str]) -> ReportStatus:
    if differences:
        return ReportStatus.DIFFERENCES
    return ReportStatus.INCOMPLETE if errors else ReportStatus.CLEAN


# --- the platform side ---------------------------------------------------------------------------------------


class BillLine(BaseModel):
    """One order on a platform's settlement bill, in fen, whatever the platform's own shape was."""

    channel: str
    shop: str
    external_id: str
    closed: bool  # cancelled or fully refunded on the platform
    raw_status: str = ""
    paid: int = Field(ge=0)
    refunded: int = Field(default=0, ge=0)
    commission: int = Field(default=0, ge=0)
    subsidy: int = Field(default=0, ge=0)  # shipping subsidy the platform pays the seller
    settled: int  # what the platform pays out for the order (may be negative after a refund)
    settle_date: date | None = None  # T+N


class GatewayLine(BaseModel):
    """One movement on the gateway's daily statement."""

    kind: Literal["trade", "refund"]
    trade_no: str
    out_trade_no: str | None = None  # the merchant's order number
    out_request_no: str | None = None  # refunds: the merchant's refund request number
    amount: int = Field(ge=0)
    fee: int = 0


class PlatformSide(BaseModel):
    shops: list[str] = Field(default_factory=list)  # "channel/shop" whose bill was fetched
    bills: list[BillLine] = Field(default_factory=list)
    gateway: list[GatewayLine] = Field(default_factory=list)
    gateway_fetched: bool = False


# --- the hub side --------------------------------------------------------------------------------------------


class HubOrder(BaseModel):
    order_id: str
    channel: str
    shop: str
    external_id: str
    status: str
    received: int = 0  # ledger: done receipts
    refunded: int = 0  # ledger: done refunds

    @property
    def closed(self) -> bool:
        return self.status == "CANCELLED" or (self.received > 0 and self.refunded >= self.received)


class GatewayMovement(BaseModel):
    """A gateway-route movement the hub's ledger recorded on the day."""

    order_id: str
    channel: str
    shop: str
    external_id: str
    trade_no: str
    amount: int


class HubSide(BaseModel):
    orders: list[HubOrder] = Field(default_factory=list)  # placed on the day, in the fetched shops
    receipts: list[GatewayMovement] = Field(default_factory=list)  # gateway receipts recorded on the day
    refunds: list[GatewayMovement] = Field(default_factory=list)  # gateway refunds settled on the day
    # Trade numbers the statement names that the hub knows from another day (not unmatched, only late or early).
    known_trades: list[str] = Field(default_factory=list)


# --- differences and the report ----------------------------------------------------------------------------


class Difference(BaseModel):
    kind: DifferenceKind
    channel: str
    shop: str
    order_id: str | None = None
    external_id: str | None = None
    expected_fen: int | None = None  # what the hub says
    actual_fen: int | None = None  # what the platform or gateway says
    detail: str = ""


class ChannelSummary(BaseModel):
    orders: int = 0
    paid_fen: int = 0
    refunded_fen: int = 0
    fees_fen: int = 0
    settled_fen: int = 0


def compare(hub_side: HubSide, platform_side: PlatformSide) -> list[Difference]:
    """Every difference between the two sides, one per (kind, order); sorted, so equal inputs give equal lists.

    Per order, an amount difference hides the refund and settlement checks built on that amount, and a refund
    difference hides the settlement check: one cause, one difference."""
    out: list[Difference] = []
    fetched = set(platform_side.shops)
    hub = {(o.channel, o.shop, o.external_id): o for o in hub_side.orders}
    bills = {(b.channel, b.shop, b.external_id): b for b in platform_side.bills}

    for key, line in bills.items():
        order = hub.get(key)
        base: dict[str, Any] = dict(channel=line.channel, shop=line.shop, external_id=line.external_id)
        if order is None:
            out.append(Difference(kind=DifferenceKind.MISSING_IN_HUB, actual_fen=line.paid,
                                  detail=f"on the {line.channel} bill ({line.raw_status}), not in the hub", **base))
            continue
        base["order_id"] = order.order_id
        if line.closed != order.closed:
            out.append(Difference(kind=DifferenceKind.STATUS_MISMATCH,
                                  detail=f"hub {order.status}, platform {line.raw_status or ('closed' if line.closed else 'open')}",
                                  **base))
        if line.paid != order.received:
            out.append(Difference(kind=DifferenceKind.AMOUNT_MISMATCH, expected_fen=order.received,
                                  actual_fen=line.paid, detail="paid", **base))
            continue
        if line.refunded != order.refunded:
            out.append(Difference(kind=DifferenceKind.REFUND_MISMATCH, expected_fen=order.refunded,
                                  actual_fen=line.refunded, detail="refunded", **base))
            continue
        expected = order.received - order.refunded - line.commission + line.subsidy
        if line.settled != expected:
            out.append(Difference(kind=DifferenceKind.SETTLEMENT_MISMATCH, expected_fen=expected, actual_fen=line.settled,
                                  detail=f"paid {order.received} - refunded {order.refunded} - commission "
                                         f"{line.commission} + subsidy {line.subsidy}", **base))

    for key, order in hub.items():
        if key in bills or order.channel == GATEWAY_CHANNEL or f"{order.channel}/{order.shop}" not in fetched:
            continue
        if order.received > 0:
            out.append(Difference(kind=DifferenceKind.MISSING_ON_PLATFORM, channel=order.channel, shop=order.shop,
                                  order_id=order.order_id, external_id=order.external_id,
                                  expected_fen=order.received, detail=f"hub {order.status}, not on the bill"))

    if platform_side.gateway_fetched:
        out.extend(_compare_gateway(hub_side, platform_side.gateway))
    return sorted(out, key=lambda d: (d.kind.value, d.channel, d.shop, d.external_id or "", d.detail))


def _compare_gateway(hub_side: HubSide, statement: list[GatewayLine]) -> list[Difference]:
    out: list[Difference] = []
    trades: dict[str, int] = defaultdict(int)
    refunds: dict[str, int] = defaultdict(int)
    merchant_no: dict[str, str | None] = {}
    for line in statement:
        (trades if line.kind == "trade" else refunds)[line.trade_no] += line.amount
        merchant_no[line.trade_no] = merchant_no.get(line.trade_no) or line.out_trade_no
    receipts: dict[str, GatewayMovement] = {}
    received: dict[str, int] = defaultdict(int)
    for r in hub_side.receipts:
        receipts.setdefault(r.trade_no, r)
        received[r.trade_no] += r.amount
    by_trade = dict(receipts)
    for r in hub_side.refunds:
        by_trade.setdefault(r.trade_no, r)
    refunded: dict[str, int] = defaultdict(int)
    for r in hub_side.refunds:
        refunded[r.trade_no] += r.amount
    known = set(hub_side.known_trades) | set(by_trade)

    def about(m: GatewayMovement) -> dict[str, Any]:
        return dict(channel=m.channel, shop=m.shop, order_id=m.order_id, external_id=m.external_id)

    for trade_no, amount in received.items():
        m = receipts[trade_no]
        if trade_no not in trades:
            out.append(Difference(kind=DifferenceKind.PAYMENT_MISSING, expected_fen=amount,
                                  detail=f"trade {trade_no} not on the gateway statement", **about(m)))
        elif trades[trade_no] != amount:
            out.append(Difference(kind=DifferenceKind.AMOUNT_MISMATCH, expected_fen=amount,
                                  actual_fen=trades[trade_no], detail=f"gateway trade {trade_no}", **about(m)))
    for trade_no, amount in trades.items():
        if trade_no not in received and trade_no not in known:
            out.append(Difference(kind=DifferenceKind.PAYMENT_UNMATCHED, channel=GATEWAY_CHANNEL, shop="",
                                  external_id=merchant_no.get(trade_no), actual_fen=amount,
                                  detail=f"gateway trade {trade_no} matches no hub order"))
    for trade_no in sorted(set(refunds) | set(refunded)):
        if trade_no not in known:
            if trade_no not in trades:  # a refund on a trade already reported unmatched is that one difference
                out.append(Difference(kind=DifferenceKind.PAYMENT_UNMATCHED, channel=GATEWAY_CHANNEL, shop="",
                                      external_id=merchant_no.get(trade_no), actual_fen=refunds[trade_no],
                                      detail=f"gateway refund on {trade_no} matches no hub order"))
        elif refunds.get(trade_no, 0) != refunded.get(trade_no, 0) and trade_no in by_trade:
            out.append(Difference(kind=DifferenceKind.REFUND_MISMATCH, expected_fen=refunded.get(trade_no, 0),
                                  actual_fen=refunds.get(trade_no, 0), detail=f"gateway refunds on {trade_no}",
                                  **about(by_trade[trade_no])))
    return out


def summarize(hub_side: HubSide, platform_side: PlatformSide) -> dict[str, ChannelSummary]:
    """Per channel: orders seen on either side, what the hub received and refunded, the platforms' fees and
    payouts (own store: the gateway's trades less its refunds and fees)."""
    summary: dict[str, ChannelSummary] = defaultdict(ChannelSummary)
    keys: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for o in hub_side.orders:
        s = summary[o.channel]
        keys[o.channel].add((o.shop, o.external_id))
        if o.channel != GATEWAY_CHANNEL:
            s.paid_fen += o.received
            s.refunded_fen += o.refunded
    for b in platform_side.bills:
        keys[b.channel].add((b.shop, b.external_id))
        summary[b.channel].fees_fen += b.commission - b.subsidy
        summary[b.channel].settled_fen += b.settled
    gw = summary[GATEWAY_CHANNEL] if (hub_side.receipts or hub_side.refunds or platform_side.gateway) else None
    if gw is not None:
        gw.paid_fen += sum(r.amount for r in hub_side.receipts)
        gw.refunded_fen += sum(r.amount for r in hub_side.refunds)
        ours = {r.trade_no: (r.shop, r.external_id) for r in [*hub_side.receipts, *hub_side.refunds]}
        for line in platform_side.gateway:
            keys[GATEWAY_CHANNEL].add(ours.get(line.trade_no, ("", line.out_trade_no or line.trade_no)))
            gw.fees_fen += line.fee
            gw.settled_fen += (line.amount if line.kind == "trade" else -line.amount) - line.fee
    for channel, seen in keys.items():
        summary[channel].orders = len(seen)
    return {channel: summary[channel] for channel in sorted(summary)}


def counts_by_kind(differences: list[Difference]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for d in differences:
        counts[d.kind.value] += 1
    return dict(sorted(counts.items()))


# --- workflow and activity messages ------------------------------------------------------------------------

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class ReconcileDayInput(BaseModel):
    """`day` None: the day before the run's start in `time_zone` (what the daily Schedule sends)."""

    day: date | None = None
    time_zone: str = "Asia/Shanghai"
    notify: bool = True


class DayWindow(BaseModel):
    day: date
    time_zone: str
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive


class ReconcileDayRequest(BaseModel):
    """The `reconcile_day` activity's input."""

    window: DayWindow
    workflow_id: str


class FetchBillInput(BaseModel):
    channel: str
    shop: str
    day: date


class FetchBillResult(BaseModel):
    channel: str
    shop: str
    lines: list[BillLine] = Field(default_factory=list)


class FetchStatementInput(BaseModel):
    day: date


class ReadHubInput(BaseModel):
    window: DayWindow
    shops: list[str]  # "channel/shop" whose bills were fetched
    statement_trades: list[str] = Field(default_factory=list)  # trade numbers on the gateway statement


class ShopsToReconcile(BaseModel):
    shops: list[str] = Field(default_factory=list)  # "channel/shop", marketplaces only


class ListShopsInput(BaseModel):
    channels: list[str] = Field(default_factory=lambda: list(BILL_CHANNELS))


class StoreReportInput(BaseModel):
    window: DayWindow
    workflow_id: str
    summary: dict[str, ChannelSummary]
    differences: list[Difference]
    errors: list[str] = Field(default_factory=list)  # bills that could not be fetched


class ReconcileDayResult(BaseModel):
    day: date
    status: ReportStatus
    summary: dict[str, ChannelSummary]
    counts: dict[str, int]
    differences: int
    errors: list[str] = Field(default_factory=list)

    @field_validator("counts")
    @classmethod
    def _sorted(cls, value: dict[str, int]) -> dict[str, int]:
        return dict(sorted(value.items()))


def day_window(day: date, time_zone: str) -> DayWindow:
    """The day's [start, end) in UTC: midnight to midnight in `time_zone`."""
    zone = ZoneInfo(time_zone)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return DayWindow(day=day, time_zone=time_zone, start=start.astimezone(UTC), end=end.astimezone(UTC))


def previous_day(now: datetime, time_zone: str) -> date:
    """The day before `now`'s date in `time_zone` (what the 03:00 Schedule reconciles)."""
    return now.astimezone(ZoneInfo(time_zone)).date() - timedelta(days=1)


def parse_day(text: str) -> date:
    if not _DAY.fullmatch(text):
        raise ValueError(f"not a date YYYY-MM-DD: {text!r}")
    return date.fromisoformat(text)
