"""Settlement bills and the gateway's daily statement: fetched over the partners' HTTP client and read into the
neutral `BillLine` / `GatewayLine` (models.reconciliation), one reader per platform as the order adapters do.

Each platform's bill shape is the sandbox's imitation of the published one (sandbox/settlement.py says which
parts are UNVERIFIED). A reader names the platform's own field in its error, like the order adapters.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from activities.channels.base import Fields, Found, MappingError, yuan_field
from activities.http import PartnerHttp
from models.reconciliation import BillLine, GatewayLine

Reader = Callable[[str, str, dict[str, Any]], list[BillLine]]


def _day(text: Any, path: str) -> date | None:
    if text in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(text).strip()).date()
    except ValueError:
        raise MappingError(path, f"not a date: {text!r}") from None


def _signed_fen(row: Fields, key: str) -> int:
    value = row.raw(key, default=0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MappingError(row.at(key), f"not an amount in fen: {value!r}")
    return value


def _signed_yuan(row: Fields, key: str) -> int:
    """A yuan amount that may be negative (refunds, payouts after a refund) as fen."""
    found = row.first(key, required=False)
    if found is None:
        return 0
    text = str(found.value).strip()
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text)
    return sign * yuan_field(Found(found.path, digits))


def read_taobao(channel: str, shop: str, body: dict[str, Any]) -> list[BillLine]:
    """`taobao.bill.bills.get`-style: one row per account per order, grouped back into one line per trade."""
    root = Fields(body).obj("bill_bills_get_response")
    bills = root.obj("bills", required=False)
    rows = bills.items("bill_dto") if bills is not None and bills.raw("bill_dto") else []
    by_trade: dict[str, dict[str, Any]] = {}
    for row in rows:
        tid = row.text("trade_id").value
        line = by_trade.setdefault(tid, {"paid": 0, "refunded": 0, "commission": 0, "subsidy": 0, "adjust": 0,
                                         "status": "", "settle": None})
        account, amount = row.text("account_id").value, _signed_fen(row, "amount")
        if account == "trade":
            line["paid"] += amount
            line["status"] = row.text("trade_status").value
            line["settle"] = _day(row.raw("pay_time"), row.at("pay_time"))
        elif account == "refund":
            line["refunded"] -= amount
        elif account == "commission":
            line["commission"] -= amount
        elif account == "subsidy":
            line["subsidy"] += amount
        elif account == "adjustment":
            line["adjust"] += amount
        else:
            raise MappingError(row.at("account_id"), f"unknown account {account}")
    return [BillLine(channel=channel, shop=shop, external_id=tid, closed=v["status"] == "TRADE_CLOSED",
                     raw_status=v["status"], paid=v["paid"], refunded=v["refunded"], commission=v["commission"],
                     subsidy=v["subsidy"], settle_date=v["settle"],
                     settled=v["paid"] - v["refunded"] - v["commission"] + v["subsidy"] + v["adjust"])
            for tid, v in sorted(by_trade.items())]


def read_jd(channel: str, shop: str, body: dict[str, Any]) -> list[BillLine]:
    result = Fields(body).obj("jingdong_settlement_bill_query_responce").obj("result")
    rows = result.items("data") if result.raw("data") else []
    return [BillLine(channel=channel, shop=shop, external_id=row.text("orderId").value,
                     raw_status=row.text("orderStatus").value, closed=row.text("orderStatus").value == "TRADE_CANCELED",
                     paid=row.yuan("payAmount", required=True), refunded=row.yuan("refundAmount"),
                     commission=row.yuan("commission"), subsidy=row.yuan("freightSubsidy"),
                     settled=_signed_yuan(row, "settleAmount"), settle_date=_day(row.raw("settleDate"), row.at("settleDate")))
            for row in rows]


def _fen_rows(channel: str, shop: str, rows: list[Fields], *, id_key: str, commission: str, closed: str,
              ) -> list[BillLine]:
    return [BillLine(channel=channel, shop=shop, external_id=row.text(id_key).value,
                     raw_status=row.text("order_status").value, closed=row.text("order_status").value == closed,
                     paid=row.fen("pay_amount", required=True), refunded=row.fen("refund_amount"),
                     commission=row.fen(commission) + row.fen("platform_service_fee"),
                     subsidy=row.fen("freight_subsidy"), settled=_signed_fen(row, "settle_amount"),
                     settle_date=_day(row.raw("settle_time"), row.at("settle_time")))
            for row in rows]


def read_pinduoduo(channel: str, shop: str, body: dict[str, Any]) -> list[BillLine]:
    root = Fields(body).obj("bill_list_response")
    rows = root.items("bill_list") if root.raw("bill_list") else []
    return _fen_rows(channel, shop, rows, id_key="order_sn", commission="service_fee", closed="2")


def read_douyin(channel: str, shop: str, body: dict[str, Any]) -> list[BillLine]:
    data = Fields(body).obj("data")
    rows = data.items("settle_list") if data.raw("settle_list") else []
    return _fen_rows(channel, shop, rows, id_key="shop_order_id", commission="commission", closed="closed")


def read_shopify(channel: str, shop: str, body: dict[str, Any]) -> list[BillLine]:
    """Balance transactions: a charge (amount, fee), refunds, adjustments (subsidy and corrections) per order."""
    fields = Fields(body)
    rows = fields.items("transactions") if fields.raw("transactions") else []
    by_order: dict[str, dict[str, Any]] = {}
    for row in rows:
        oid = row.text("source_order_id").value
        v = by_order.setdefault(oid, {"paid": 0, "refunded": 0, "fee": 0, "subsidy": 0, "net": 0, "status": "",
                                      "settle": None})
        kind = row.text("type").value
        v["status"] = row.text("order_status").value
        v["net"] += _signed_yuan(row, "net")
        v["settle"] = _day(row.raw("payout_date"), row.at("payout_date"))
        if kind == "charge":
            v["paid"] += _signed_yuan(row, "amount")
            v["fee"] += _signed_yuan(row, "fee")
        elif kind == "refund":
            v["refunded"] -= _signed_yuan(row, "amount")
        elif kind == "adjustment":
            v["subsidy"] += row.yuan("subsidy")
        else:
            raise MappingError(row.at("type"), f"unknown transaction type {kind}")
    return [BillLine(channel=channel, shop=shop, external_id=oid, raw_status=v["status"],
                     closed=v["status"] == "refunded", paid=v["paid"], refunded=v["refunded"], commission=v["fee"],
                     subsidy=v["subsidy"], settled=v["net"], settle_date=v["settle"])
            for oid, v in sorted(by_order.items())]


READERS: dict[str, Reader] = {"taobao": read_taobao, "jd": read_jd, "pinduoduo": read_pinduoduo,
                              "douyin": read_douyin, "shopify": read_shopify}


def read_statement(body: dict[str, Any]) -> list[GatewayLine]:
    fields = Fields(body)
    rows = fields.items("items") if fields.raw("items") else []
    lines = []
    for row in rows:
        kind = row.text("business_type").value
        if kind not in ("交易", "退款"):
            raise MappingError(row.at("business_type"), f"unknown business type {kind}")
        out_trade = row.text("out_trade_no", required=False)
        out_request = row.text("out_request_no", required=False)
        lines.append(GatewayLine(kind="trade" if kind == "交易" else "refund", trade_no=row.text("trade_no").value,
                                 out_trade_no=out_trade.value if out_trade else None,
                                 out_request_no=out_request.value if out_request else None,
                                 amount=row.yuan("amount", required=True), fee=row.yuan("service_fee")))
    return lines


async def fetch_bill(http: PartnerHttp, channel: str, shop: str, day: date, *, app_key: str,
                     access_token: str) -> list[BillLine]:
    query = urlencode({"date": day.isoformat(), "app_key": app_key, "access_token": access_token})
    body = await http.request("GET", f"/settlement/{channel}/{shop}/bills?{query}", partner=f"{channel} bills")
    return READERS[channel](channel, shop, body)


async def fetch_statement(http: PartnerHttp, day: date) -> list[GatewayLine]:
    query = urlencode({"bill_type": "trade", "bill_date": day.isoformat()})
    answer = await http.request("GET", f"/gateway/bill/downloadurl?{query}", partner="gateway bill")
    found = Fields(answer).obj("alipay_data_dataservice_bill_downloadurl_query_response")
    url = found.text("bill_download_url").value
    return read_statement(await http.request("GET", url, partner="gateway bill"))
