"""Alipay-style payment gateway with a ledger: payments (trades), refunds against them, refund query.

- `POST /gateway/trade/pay {out_trade_no, total_amount (yuan string), subject?}` -> `{"code": "10000",
  "trade_no", "out_trade_no", "total_amount", "gmt_payment"}`: the buyer pays; one trade per out_trade_no (a
  repeat answers the first trade and moves no money; the same out_trade_no with another amount is refused
  ACQ.TRADE_HAS_SUCCESS). The sandbox own store pays its orders through the same ledger (`GatewayState.pay`).
- `POST /gateway/refund {trade_no, out_request_no, refund_amount, refund_reason?}`: one refund per
  out_request_no (a repeat answers the first result with `fund_change: "N"`). Refused as Alipay refuses:
  ACQ.TRADE_NOT_EXIST for a trade the gateway never saw, ACQ.REASON_TRADE_REFUND_FEE_ERR ("退款金额无效")
  beyond what is left of the trade (its amount less the refunds accepted so far). A refused request
  leaves nothing behind, so it may be sent again once it can succeed.
- `POST /gateway/refund/query {trade_no, out_request_no}`.

Business failures are HTTP 200 with code 40004 and a sub_code (sandbox/errors.py `gateway_failure`).

The ledger is public for the sandbox's own reports (the daily statement): `GatewayState.payments` (trade_no ->
`Payment`) and `GatewayState.refunds` (out_request_no -> `Refund`, each naming its trade_no;
`GatewayState.refunds_of(trade_no)` lists one trade's). Amounts are `Decimal` yuan, times aware UTC.
`GET /_sandbox/records?kind=payment` lists the payments (key: trade_no), `kind=refund` the refunds.
"""

import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from sandbox.errors import gateway_failure
from sandbox.faults import FaultInjectedRoute
from sandbox.records import RecordStore

log = structlog.get_logger(__name__)

# Positive yuan amount, at most two decimal places, as a string ("19.99").
_YUAN = re.compile(r"\d{1,12}(?:\.\d{1,2})?")
_CENT = Decimal("0.01")
_BEIJING = timezone(timedelta(hours=8))  # gmt_payment is Beijing time without an offset, as Alipay writes it

RefundStatus = Literal["REFUND_SUCCESS", "REFUND_PROCESSING"]


def parse_yuan(text: str) -> Decimal | None:
    if not _YUAN.fullmatch(text):
        return None
    amount = Decimal(text)
    return amount if amount > 0 else None


def format_yuan(amount: Decimal) -> str:
    return str(amount.quantize(_CENT))


def alipay_time(at: datetime) -> str:
    return at.astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Payment:
    """One trade: what the buyer paid for the merchant's out_trade_no."""

    trade_no: str
    out_trade_no: str
    amount: Decimal  # yuan
    paid_at: datetime  # UTC
    subject: str = ""

    def answer(self) -> dict[str, Any]:
        return {"code": "10000", "msg": "Success", "trade_no": self.trade_no, "out_trade_no": self.out_trade_no,
                "total_amount": format_yuan(self.amount), "gmt_payment": alipay_time(self.paid_at)}


@dataclass
class Refund:
    trade_no: str
    out_request_no: str
    amount: Decimal
    # Seconds after acceptance at which the refund settles (0 = at once).
    settle_after_s: float
    accepted_mono: float = field(default_factory=time.monotonic)
    accepted_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def status(self) -> RefundStatus:
        if time.monotonic() - self.accepted_mono >= self.settle_after_s:
            return "REFUND_SUCCESS"
        return "REFUND_PROCESSING"


class GatewayRefusal(Exception):
    """A business failure, answered as `gateway_failure(sub_code, sub_msg)`."""

    def __init__(self, sub_code: str, sub_msg: str) -> None:
        super().__init__(f"{sub_code}: {sub_msg}")
        self.sub_code, self.sub_msg = sub_code, sub_msg


def new_trade_no(at: datetime) -> str:
    """28 digits like Alipay's (date, a fixed part, a random tail); unpredictable, so a restarted sandbox
    does not hand out a trade number the hub already holds."""
    return f"{at.astimezone(_BEIJING):%Y%m%d}2200{secrets.randbelow(10**16):016d}"


class GatewayState:
    def __init__(self, refund_async_delay_s: float, records: RecordStore) -> None:
        self.refund_async_delay_s = refund_async_delay_s
        self.records = records
        self.payments: dict[str, Payment] = {}  # by trade_no
        self.refunds: dict[str, Refund] = {}  # by out_request_no
        self._trade_of: dict[str, str] = {}  # out_trade_no -> trade_no

    def reset(self) -> None:
        self.payments.clear()
        self.refunds.clear()
        self._trade_of.clear()

    def refunds_of(self, trade_no: str) -> list[Refund]:
        return [r for r in self.refunds.values() if r.trade_no == trade_no]

    def left_of(self, payment: Payment) -> Decimal:
        """What can still be refunded on this trade."""
        return payment.amount - sum((r.amount for r in self.refunds_of(payment.trade_no)), Decimal(0))

    def payment_for(self, out_trade_no: str) -> Payment | None:
        trade_no = self._trade_of.get(out_trade_no)
        return self.payments[trade_no] if trade_no is not None else None

    def pay(self, out_trade_no: str, amount: Decimal, *, subject: str = "",
            paid_at: datetime | None = None) -> tuple[Payment, bool]:
        """The buyer pays `amount` yuan for `out_trade_no`: (the trade, first time). A repeat is the first
        trade; the same out_trade_no with another amount raises GatewayRefusal."""
        earlier = self.payment_for(out_trade_no)
        if earlier is not None:
            if earlier.amount != amount:
                raise GatewayRefusal("ACQ.TRADE_HAS_SUCCESS",
                                     f"out_trade_no was already paid with total_amount {format_yuan(earlier.amount)}")
            self.records.replay("payment", earlier.trade_no)
            return earlier, False
        at = (paid_at or datetime.now(UTC)).astimezone(UTC)
        trade_no = new_trade_no(at)
        while trade_no in self.payments:
            trade_no = new_trade_no(at)
        payment = Payment(trade_no=trade_no, out_trade_no=out_trade_no, amount=amount, paid_at=at, subject=subject)
        self.payments[trade_no] = payment
        self._trade_of[out_trade_no] = trade_no
        body = {"out_trade_no": out_trade_no, "total_amount": format_yuan(amount), "subject": subject,
                "paid_at": at.isoformat()}
        self.records.add("payment", trade_no, body, payment.answer())
        log.info("gateway.paid", trade_no=trade_no, out_trade_no=out_trade_no, total_amount=format_yuan(amount))
        return payment, True


class PayRequest(BaseModel):
    out_trade_no: str = Field(min_length=1, max_length=64)
    # A string on purpose: money at this edge is a yuan decimal string, never a JSON float.
    total_amount: str
    subject: str = Field(default="", max_length=256)


class RefundRequest(BaseModel):
    trade_no: str = Field(min_length=1)
    out_request_no: str = Field(min_length=1)
    refund_amount: str
    refund_reason: str | None = None


class RefundQueryRequest(BaseModel):
    trade_no: str = Field(min_length=1)
    out_request_no: str = Field(min_length=1)


router = APIRouter(prefix="/gateway", tags=["gateway"], route_class=FaultInjectedRoute)


def _state(request: Request) -> tuple[GatewayState, RecordStore]:
    return request.app.state.gateway, request.app.state.records


@router.post("/trade/pay", name="gateway.pay")
async def pay(body: PayRequest, request: Request) -> dict[str, Any]:
    gateway, _ = _state(request)
    amount = parse_yuan(body.total_amount)
    if amount is None:
        return gateway_failure(
            "ACQ.INVALID_PARAMETER", "total_amount must be a positive yuan amount with at most 2 decimals"
        )
    try:
        payment, first = gateway.pay(body.out_trade_no, amount, subject=body.subject)
    except GatewayRefusal as refusal:
        return gateway_failure(refusal.sub_code, refusal.sub_msg)
    if not first:
        log.info("gateway.pay_replayed", out_trade_no=body.out_trade_no, trade_no=payment.trade_no)
    return payment.answer()


@router.post("/refund", name="gateway.refund")
async def refund(body: RefundRequest, request: Request) -> dict[str, Any]:
    gateway, records = _state(request)
    amount = parse_yuan(body.refund_amount)
    if amount is None:
        return gateway_failure(
            "ACQ.INVALID_PARAMETER", "refund_amount must be a positive yuan amount with at most 2 decimals"
        )

    previous = records.replay("refund", body.out_request_no)
    if previous is not None:
        earlier = gateway.refunds[body.out_request_no]
        if earlier.trade_no != body.trade_no:
            return gateway_failure("ACQ.TRADE_NO_MISMATCH", "out_request_no was used with another trade_no")
        if earlier.amount != amount:
            return gateway_failure(
                "ACQ.REQUEST_AMOUNT_MISMATCH", "out_request_no was used with another refund_amount"
            )
        # Same request again: the first answer, no money moves this time.
        log.info("gateway.refund_replayed", out_request_no=body.out_request_no)
        return {**previous.result, "fund_change": "N", "refund_status": earlier.status()}

    payment = gateway.payments.get(body.trade_no)
    if payment is None:
        log.info("gateway.refund_refused", out_request_no=body.out_request_no, sub_code="ACQ.TRADE_NOT_EXIST")
        return gateway_failure("ACQ.TRADE_NOT_EXIST", "no payment with this trade_no")
    left = gateway.left_of(payment)
    if amount > left:
        log.info("gateway.refund_refused", out_request_no=body.out_request_no, trade_no=body.trade_no,
                 sub_code="ACQ.REASON_TRADE_REFUND_FEE_ERR", refund_amount=format_yuan(amount), left=format_yuan(left))
        return gateway_failure("ACQ.REASON_TRADE_REFUND_FEE_ERR",
                               f"refund_amount {format_yuan(amount)} exceeds what is left of the trade "
                               f"({format_yuan(left)} of {format_yuan(payment.amount)})")

    accepted = Refund(
        trade_no=body.trade_no,
        out_request_no=body.out_request_no,
        amount=amount,
        settle_after_s=gateway.refund_async_delay_s,
    )
    gateway.refunds[body.out_request_no] = accepted
    result = {
        "code": "10000",
        "msg": "Success",
        "trade_no": body.trade_no,
        "out_trade_no": payment.out_trade_no,
        "out_request_no": body.out_request_no,
        "refund_amount": format_yuan(amount),
        "fund_change": "Y",
        "refund_status": accepted.status(),
    }
    records.add("refund", body.out_request_no, body.model_dump(mode="json", exclude_unset=True), result)
    log.info(
        "gateway.refund_accepted",
        out_request_no=body.out_request_no,
        trade_no=body.trade_no,
        refund_amount=result["refund_amount"],
        refund_status=result["refund_status"],
    )
    return result


@router.post("/refund/query", name="gateway.refund_query")
async def refund_query(body: RefundQueryRequest, request: Request) -> dict[str, Any]:
    gateway, _ = _state(request)
    found = gateway.refunds.get(body.out_request_no)
    if found is None or found.trade_no != body.trade_no:
        return gateway_failure("ACQ.TRADE_NOT_EXIST", "no refund for this trade_no and out_request_no")
    return {
        "code": "10000",
        "msg": "Success",
        "trade_no": found.trade_no,
        "out_request_no": found.out_request_no,
        "refund_amount": format_yuan(found.amount),
        "refund_status": found.status(),
    }
