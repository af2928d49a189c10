"""Settlement bills of the sandbox marketplaces and the payment gateway's daily statement, plus the controls
that plant differences in them.

A bill for day D lists the shop's orders paid on D (Beijing time): what the buyer paid, what was refunded,
the platform's commission, a shipping subsidy, what the platform settles to the seller and on which date
(T+N per channel). Its orders are the shop's marketplace orders paid that day and the lines planted with
`POST /_sandbox/settlement/{channel}/shops/{shop}/lines`; overrides change what the bill says about one order.

Bill shapes, per platform (fields named after the published APIs where known; all of them UNVERIFIED
against the live platforms, the sandbox adds an order status to every line so a status can be compared):
- taobao  `GET /settlement/taobao/{shop}/bills`: `taobao.bill.bills.get`-style (查询账单明细数据) rows, one per
  account (交易收款, 退款, 佣金, 运费补贴) per order, `{"bill_bills_get_response": {"bills": {"bill_dto": [...]}}}`,
  amounts in fen.
- jd      `GET /settlement/jd/{shop}/bills`: `{"jingdong_settlement_bill_query_responce": {"result": {"data": [...]}}}`,
  yuan strings.
- pinduoduo `GET /settlement/pinduoduo/{shop}/bills`: `{"bill_list_response": {"bill_list": [...], "total": n}}`, fen.
- douyin  `GET /settlement/douyin/{shop}/bills`: `{"code": 10000, "data": {"settle_list": [...]}}` (order settle
  detail style), fen.
- shopify `GET /settlement/shopify/{shop}/bills`: Shopify Payments balance-transaction style
  `{"transactions": [{"type": "charge"|"refund"|"adjustment", "source_order_id", "amount", "fee", "net", ...}]}`,
  decimal strings.
Every bill call takes `date=YYYY-MM-DD`, `app_key` and `access_token` (the shop's, as the sandbox knows it).

Gateway statement, Alipay style (UNVERIFIED as JSON: Alipay answers a download URL of a zipped CSV):
`GET /gateway/bill/downloadurl?bill_type=trade&bill_date=D` -> `{"alipay_data_dataservice_bill_downloadurl_query_response":
{"code": "10000", "bill_download_url"}}`, and the URL answers `{"bill_date", "items": [{"trade_no", "out_trade_no",
"business_type": "交易"|"退款", "amount", "service_fee", "out_request_no", "finish_time"}]}` (yuan strings). The
day's trades are the gateway's payments paid on D (`GatewayState.payments`, when the gateway keeps them) and the
planted ones; refunds are those on the day's trades.

Controls (`/_sandbox/settlement`):
- `POST /{channel}/shops/{shop}/lines` `{"external_id", "paid_at", "amount", "refunded"?, "closed"?, "subsidy"?}`
- `PUT  /{channel}/shops/{shop}/orders/{external_id}` `{"amount"?, "closed"?, "hidden"?, "settled_delta"?,
  "extra_refund"?}`: what the bill says about that order
- `POST /gateway/payments` `{"trade_no", "out_trade_no"?, "amount", "paid_at"}`, `POST /gateway/refunds`
  `{"trade_no", "out_request_no", "amount"}`, `PUT /gateway/trades/{trade_no}` `{"hidden"?, "amount"?}`
- `GET  /{channel}/shops/{shop}/lines?date=`: the bill's neutral lines (for tests); `DELETE ""`: forget all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from sandbox.errors import ServiceError
from sandbox.gateway import GatewayState
from sandbox.platforms.state import MarketOrder, Marketplaces

BEIJING = timezone(timedelta(hours=8))
BillChannel = Literal["taobao", "jd", "pinduoduo", "douyin", "shopify"]

# Days from the bill day to the payout (T+N) and the platform's commission in basis points. UNVERIFIED: the
# sandbox's choices; real cycles depend on the shop's contract (Taobao/Tmall pay out when the buyer
# confirms receipt, JD and Douyin typically T+7 after completion, Shopify Payments about 2 business days).
SETTLEMENT_DAYS = {"taobao": 1, "jd": 7, "pinduoduo": 1, "douyin": 7, "shopify": 2, "own_store": 1}
COMMISSION_BP = {"taobao": 200, "jd": 500, "pinduoduo": 60, "douyin": 500, "shopify": 290}


@dataclass
class Line:
    """What a bill says about one order, in fen."""

    channel: str
    shop: str
    external_id: str
    paid_at: datetime
    paid: int
    refunded: int = 0
    closed: bool = False
    subsidy: int = 0
    settled_delta: int = 0

    @property
    def commission(self) -> int:
        return (max(self.paid - self.refunded, 0) * COMMISSION_BP[self.channel] + 5000) // 10000

    @property
    def settled(self) -> int:
        return self.paid - self.refunded - self.commission + self.subsidy + self.settled_delta

    @property
    def settle_date(self) -> date:
        return self.paid_at.astimezone(BEIJING).date() + timedelta(days=SETTLEMENT_DAYS[self.channel])


@dataclass
class Override:
    amount: int | None = None
    closed: bool | None = None
    hidden: bool = False
    settled_delta: int = 0
    extra_refund: int = 0


@dataclass
class Movement:
    kind: Literal["trade", "refund"]
    trade_no: str
    amount: int  # fen
    at: datetime
    out_trade_no: str | None = None
    out_request_no: str | None = None


@dataclass
class SettlementState:
    lines: dict[tuple[str, str, str], Line] = field(default_factory=dict)
    overrides: dict[tuple[str, str, str], Override] = field(default_factory=dict)
    payments: list[Movement] = field(default_factory=list)
    refunds: list[Movement] = field(default_factory=list)
    trade_overrides: dict[str, Override] = field(default_factory=dict)

    def reset(self) -> None:
        self.lines.clear()
        self.overrides.clear()
        self.payments.clear()
        self.refunds.clear()
        self.trade_overrides.clear()


def _day_of(at: datetime) -> date:
    return at.astimezone(BEIJING).date()


def _from_order(order: MarketOrder) -> Line | None:
    if order.paid_at is None:
        return None
    refunded = order.refunded_amount
    if order.phase == "cancelled" or order.refunded:
        refunded = order.paid_amount  # the platform gave the buyer everything back
    return Line(channel=order.channel, shop=order.shop, external_id=order.external_id, paid_at=order.paid_at,
                paid=order.paid_amount, refunded=refunded,
                closed=order.phase == "cancelled" or order.refunded or refunded >= order.paid_amount > 0)


def bill_lines(market: Marketplaces, state: SettlementState, channel: str, shop: str, day: date) -> list[Line]:
    found: dict[str, Line] = {}
    for order in market.shop_orders(channel, shop).values():
        line = _from_order(order)
        if line is not None and _day_of(line.paid_at) == day:
            found[order.external_id] = line
    for (c, s, external_id), line in state.lines.items():
        if c == channel and s == shop and _day_of(line.paid_at) == day:
            found[external_id] = Line(**vars(line))
    lines = []
    for external_id, line in sorted(found.items()):
        o = state.overrides.get((channel, shop, external_id))
        if o is not None:
            if o.hidden:
                continue
            line.paid = line.paid if o.amount is None else o.amount
            line.closed = line.closed if o.closed is None else o.closed
            line.refunded += o.extra_refund
            line.settled_delta += o.settled_delta
        lines.append(line)
    return lines


# --- the platforms' bill shapes --------------------------------------------------------------------------------


def _yuan(fen: int) -> str:
    return str((Decimal(fen) / 100).quantize(Decimal("0.01")))


def _time(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


STATUS_TEXT = {  # (open, closed) per platform: the order status the sandbox puts on each line
    "taobao": ("TRADE_FINISHED", "TRADE_CLOSED"),
    "jd": ("FINISHED_L", "TRADE_CANCELED"),
    "pinduoduo": ("1", "2"),  # settled / refunded-closed (UNVERIFIED codes)
    "douyin": ("settled", "closed"),
    "shopify": ("paid", "refunded"),
}


def _status(line: Line) -> str:
    return STATUS_TEXT[line.channel][1 if line.closed else 0]


def taobao_bill(lines: list[Line], day: date) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for line in lines:
        common = {"trade_id": line.external_id, "book_time": _time(line.paid_at), "biz_time": _time(line.paid_at),
                  "pay_time": f"{line.settle_date.isoformat()} 00:00:00", "trade_status": _status(line)}
        accounts = [("交易收款", "trade", line.paid), ("退款", "refund", -line.refunded),
                    ("佣金", "commission", -line.commission), ("运费补贴", "subsidy", line.subsidy),
                    ("调账", "adjustment", line.settled_delta)]
        for name, code, amount in accounts:
            if amount or code == "trade":
                rows.append({"bid": f"{line.external_id}-{code}", "account_id": code, "account_name": name,
                             "amount": amount, **common})
    return {"bill_bills_get_response": {"bills": {"bill_dto": rows}, "total_results": len(rows)}}


def jd_bill(lines: list[Line], day: date) -> dict[str, Any]:
    data = [{"orderId": line.external_id, "orderStatus": _status(line), "payAmount": _yuan(line.paid),
             "refundAmount": _yuan(line.refunded), "commission": _yuan(line.commission),
             "freightSubsidy": _yuan(line.subsidy), "settleAmount": _yuan(line.settled),
             "settleDate": line.settle_date.isoformat(), "payTime": _time(line.paid_at)} for line in lines]
    return {"jingdong_settlement_bill_query_responce": {"code": "0", "result": {"success": True, "data": data,
                                                                                "billDate": day.isoformat()}}}


def pinduoduo_bill(lines: list[Line], day: date) -> dict[str, Any]:
    items = [{"order_sn": line.external_id, "order_status": _status(line), "pay_amount": line.paid,
              "refund_amount": line.refunded, "platform_discount": 0, "service_fee": line.commission,
              "freight_subsidy": line.subsidy, "settle_amount": line.settled,
              "settle_time": f"{line.settle_date.isoformat()} 00:00:00", "pay_time": _time(line.paid_at)}
             for line in lines]
    return {"bill_list_response": {"bill_list": items, "total": len(items)}}


def douyin_bill(lines: list[Line], day: date) -> dict[str, Any]:
    items = [{"shop_order_id": line.external_id, "order_status": _status(line), "pay_amount": line.paid,
              "refund_amount": line.refunded, "commission": line.commission, "platform_service_fee": 0,
              "freight_subsidy": line.subsidy, "settle_amount": line.settled,
              "settle_time": f"{line.settle_date.isoformat()} 00:00:00", "order_time": _time(line.paid_at)}
             for line in lines]
    return {"code": 10000, "msg": "success", "data": {"settle_list": items, "total": len(items)}}


def shopify_bill(lines: list[Line], day: date) -> dict[str, Any]:
    transactions: list[dict[str, Any]] = []
    for line in lines:
        payout = line.settle_date.isoformat()
        fee = line.commission
        transactions.append({"id": f"{line.external_id}-c", "type": "charge", "source_order_id": line.external_id,
                             "order_status": _status(line), "amount": _yuan(line.paid), "fee": _yuan(fee),
                             "net": _yuan(line.paid - fee), "currency": "CNY", "payout_date": payout,
                             "processed_at": line.paid_at.isoformat()})
        if line.refunded:
            transactions.append({"id": f"{line.external_id}-r", "type": "refund", "source_order_id": line.external_id,
                                 "order_status": _status(line), "amount": _yuan(-line.refunded), "fee": "0.00",
                                 "net": _yuan(-line.refunded), "currency": "CNY", "payout_date": payout})
        extra = line.subsidy + line.settled_delta
        if extra:
            transactions.append({"id": f"{line.external_id}-a", "type": "adjustment",
                                 "source_order_id": line.external_id, "order_status": _status(line),
                                 "amount": _yuan(extra), "fee": "0.00", "net": _yuan(extra), "currency": "CNY",
                                 "payout_date": payout, "subsidy": _yuan(line.subsidy)})
    return {"transactions": transactions}


SHAPES = {"taobao": taobao_bill, "jd": jd_bill, "pinduoduo": pinduoduo_bill, "douyin": douyin_bill,
          "shopify": shopify_bill}


# --- the gateway's statement ------------------------------------------------------------------------------------


def _fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def statement(gateway: GatewayState, state: SettlementState, day: date) -> list[Movement]:
    """The day's trades and the refunds accepted that day, as the gateway's ledger has them, with what
    the controls planted."""
    trades: dict[str, Movement] = {}
    for p in gateway.payments.values():
        if _day_of(p.paid_at) == day:
            trades[p.trade_no] = Movement("trade", p.trade_no, _fen(p.amount), p.paid_at, out_trade_no=p.out_trade_no)
    for m in state.payments:
        if _day_of(m.at) == day:
            trades[m.trade_no] = m
    moves: list[Movement] = []
    for trade_no, m in sorted(trades.items()):
        o = state.trade_overrides.get(trade_no)
        if o is not None and o.hidden:
            continue
        moves.append(m if o is None or o.amount is None else Movement("trade", trade_no, o.amount, m.at, m.out_trade_no))
    for r in gateway.refunds.values():
        if _day_of(r.accepted_at) == day:
            moves.append(Movement("refund", r.trade_no, _fen(r.amount), r.accepted_at, out_request_no=r.out_request_no))
    moves.extend(m for m in state.refunds if m.trade_no in trades or _day_of(m.at) == day)
    return moves


# --- routes ----------------------------------------------------------------------------------------------------

router = APIRouter(tags=["sandbox settlement"])
control_router = APIRouter(prefix="/_sandbox/settlement", tags=["sandbox settlement"])


def _state(request: Request) -> SettlementState:
    return request.app.state.settlement


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ServiceError(400, "INVALID_DATE", f"not a date YYYY-MM-DD: {text}") from None


@router.get("/settlement/{channel}/{shop}/bills", name="settlement.bill")
async def bill(channel: BillChannel, shop: str, date: str, request: Request, app_key: str = "",
               access_token: str = "") -> dict[str, Any]:
    market: Marketplaces = request.app.state.platforms
    account = market.shop(channel, shop)
    if account is None:
        raise ServiceError(404, "SHOP_NOT_FOUND", f"no {channel} shop {shop}")
    if account.app_key != app_key or not account.token_ok(access_token):
        raise ServiceError(401, "INVALID_TOKEN", "app key or access token invalid")
    day = _day(date)
    return SHAPES[channel](bill_lines(market, _state(request), channel, shop, day), day)


@router.get("/gateway/bill/downloadurl", name="gateway.bill_downloadurl")
async def bill_downloadurl(bill_date: str, request: Request, bill_type: str = "trade") -> dict[str, Any]:
    _day(bill_date)
    return {"alipay_data_dataservice_bill_downloadurl_query_response": {
        "code": "10000", "msg": "Success",
        "bill_download_url": f"/gateway/bill/download?bill_type={bill_type}&bill_date={bill_date}"}}


@router.get("/gateway/bill/download", name="gateway.bill_download")
async def bill_download(bill_date: str, request: Request, bill_type: str = "trade") -> dict[str, Any]:
    day = _day(bill_date)
    items = [{"trade_no": m.trade_no, "out_trade_no": m.out_trade_no,
              "business_type": "交易" if m.kind == "trade" else "退款",
              "amount": _yuan(m.amount), "service_fee": "0.00", "out_request_no": m.out_request_no,
              "finish_time": _time(m.at)} for m in statement(request.app.state.gateway, _state(request), day)]
    return {"bill_type": bill_type, "bill_date": bill_date, "items": items}


class LineBody(BaseModel):
    external_id: str = Field(min_length=1, max_length=64)
    paid_at: datetime
    amount: int = Field(ge=0)
    refunded: int = Field(default=0, ge=0)
    closed: bool = False
    subsidy: int = Field(default=0, ge=0)


class OverrideBody(BaseModel):
    amount: int | None = Field(default=None, ge=0)
    closed: bool | None = None
    hidden: bool = False
    settled_delta: int = 0
    extra_refund: int = Field(default=0, ge=0)


class PaymentBody(BaseModel):
    trade_no: str = Field(min_length=1, max_length=64)
    out_trade_no: str | None = None
    amount: int = Field(ge=0)
    paid_at: datetime


class RefundBody(BaseModel):
    trade_no: str = Field(min_length=1, max_length=64)
    out_request_no: str = Field(min_length=1, max_length=64)
    amount: int = Field(ge=0)
    at: datetime | None = None


class TradeOverrideBody(BaseModel):
    hidden: bool = False
    amount: int | None = Field(default=None, ge=0)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@control_router.post("/{channel}/shops/{shop}/lines")
async def plant_line(channel: BillChannel, shop: str, body: LineBody, request: Request) -> dict[str, Any]:
    _state(request).lines[(channel, shop, body.external_id)] = Line(
        channel=channel, shop=shop, external_id=body.external_id, paid_at=_aware(body.paid_at), paid=body.amount,
        refunded=body.refunded, closed=body.closed, subsidy=body.subsidy)
    return {"ok": True}


@control_router.put("/{channel}/shops/{shop}/orders/{external_id}")
async def override(channel: BillChannel, shop: str, external_id: str, body: OverrideBody,
                   request: Request) -> dict[str, Any]:
    _state(request).overrides[(channel, shop, external_id)] = Override(**body.model_dump())
    return {"ok": True}


@control_router.get("/{channel}/shops/{shop}/lines")
async def list_lines(channel: BillChannel, shop: str, date: str, request: Request) -> dict[str, Any]:
    lines = bill_lines(request.app.state.platforms, _state(request), channel, shop, _day(date))
    return {"items": [{"external_id": x.external_id, "paid": x.paid, "refunded": x.refunded, "closed": x.closed,
                       "commission": x.commission, "subsidy": x.subsidy, "settled": x.settled,
                       "settle_date": x.settle_date.isoformat()} for x in lines]}


@control_router.post("/gateway/payments")
async def plant_payment(body: PaymentBody, request: Request) -> dict[str, Any]:
    _state(request).payments.append(Movement("trade", body.trade_no, body.amount, _aware(body.paid_at),
                                             out_trade_no=body.out_trade_no))
    return {"ok": True}


@control_router.post("/gateway/refunds")
async def plant_refund(body: RefundBody, request: Request) -> dict[str, Any]:
    _state(request).refunds.append(Movement("refund", body.trade_no, body.amount,
                                            _aware(body.at or datetime.now(UTC)), out_request_no=body.out_request_no))
    return {"ok": True}


@control_router.put("/gateway/trades/{trade_no}")
async def override_trade(trade_no: str, body: TradeOverrideBody, request: Request) -> dict[str, Any]:
    _state(request).trade_overrides[trade_no] = Override(amount=body.amount, hidden=body.hidden)
    return {"ok": True}


@control_router.delete("")
async def forget(request: Request) -> dict[str, Any]:
    _state(request).reset()
    return {"ok": True}
