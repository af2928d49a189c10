"""Alipay-style payment gateway: idempotent refunds keyed by out_request_no, refund query."""

import re
import time
from dataclasses import dataclass, field
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

RefundStatus = Literal["REFUND_SUCCESS", "REFUND_PROCESSING"]


def parse_yuan(text: str) -> Decimal | None:
    if not _YUAN.fullmatch(text):
        return None
    amount = Decimal(text)
    return amount if amount > 0 else None


def format_yuan(amount: Decimal) -> str:
    return str(amount.quantize(_CENT))


@dataclass
class Refund:
    trade_no: str
    out_request_no: str
    amount: Decimal
    # Seconds after acceptance at which the refund settles (0 = at once).
    settle_after_s: float
    accepted_mono: float = field(default_factory=time.monotonic)

    def status(self) -> RefundStatus:
        if time.monotonic() - self.accepted_mono >= self.settle_after_s:
            return "REFUND_SUCCESS"
        return "REFUND_PROCESSING"


class GatewayState:
    def __init__(self, refund_async_delay_s: float) -> None:
        self.refund_async_delay_s = refund_async_delay_s
        self.refunds: dict[str, Refund] = {}

    def reset(self) -> None:
        self.refunds.clear()


class RefundRequest(BaseModel):
    trade_no: str = Field(min_length=1)
    out_request_no: str = Field(min_length=1)
    # A string on purpose: money at this edge is a yuan decimal string, never a JSON float.
    refund_amount: str
    refund_reason: str | None = None


class RefundQueryRequest(BaseModel):
    trade_no: str = Field(min_length=1)
    out_request_no: str = Field(min_length=1)


router = APIRouter(prefix="/gateway", tags=["gateway"], route_class=FaultInjectedRoute)


def _state(request: Request) -> tuple[GatewayState, RecordStore]:
    return request.app.state.gateway, request.app.state.records


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
