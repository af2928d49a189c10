"""Taobao / Tmall TOP router: `POST /taobao/router/rest` (form), signed, `error_response`.

Every call carries `method, app_key, session, timestamp, format=json, v=2.0, sign_method (md5 or hmac),
sign` (reference); a call without timestamp, format, v or sign_method, or with another value of one of
those, is refused as invalid arguments (41). Signatures: `signing.top_sign`.

Amounts: `alipay_no` (the payment's trade number, once paid) and per line `total_fee` and `payment` (list
price x num: the sandbox has no line-level promotions) and `divide_order_fee` (the line's share of the
payment after the trade's `discount_fee`, largest remainder; the lines' shares add up to `payment` -
`post_fee`).
Calls: `taobao.trades.sold.increment.get` (window <= 1 day, page_no from 1, page_size <= 100,
`use_has_next=true` drops `total_results`, `status` one of the reference's; `fields` is required and a
trade carries only the fields it names: `orders` for whole lines, `orders.<field>` for that field of
each), `taobao.logistics.offline.send` (`sub_tid`, when sent, must name lines of the trade),
`taobao.item.quantity.update` (UNVERIFIED stock call, by `outer_id`, type 1 = absolute),
`taobao.rp.refund.review` (UNVERIFIED reading: `tid, refund_id` = the seller's after-sales ticket,
`result` true/false, `refund_fee` yuan, `message`; `refund_id` may also be the platform's own refund id of a
buyer's request, which it then answers), `taobao.refunds.receive.get` (the buyer's refund requests a seller
received: `fields` required, `start_modified`/`end_modified` window <= 1 day, `status` one of the refund
statuses, `page_no`/`page_size`/`use_has_next` as the trade search; answer `refunds_receive_get_response
{total_results, has_next, refunds: {refund: [...]}}` with `refund_id, tid, oid, outer_id, num, total_fee,
refund_fee, payment, status (WAIT_SELLER_AGREE, WAIT_BUYER_RETURN_GOODS, WAIT_SELLER_CONFIRM_GOODS,
SELLER_REFUSE_BUYER, CLOSED, SUCCESS), good_status, has_good_return, reason, desc, created, modified,
order_status`; a whole-trade refund has `oid` = `tid` and no `outer_id`, as for a single-line trade).
UNVERIFIED: the reason texts; one line (oid) per refund request, so a request names at most one line.
Errors (TOP's published codes): 7 App Call Limited / accesscontrol.limited-by-app-access-count,
22 Invalid method, 25 Invalid signature, 27 Invalid session / invalid-sessionkey, 29 Invalid app Key,
41 Invalid arguments / isv.invalid-parameter, 15 Remote service error with isv.* sub codes.
UNVERIFIED: the increment call carries every field asked for, receiver included (real TOP may need
`taobao.trade.fullinfo.get` for some).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from sandbox.platforms import signing
from sandbox.platforms.base import (
    RouterApi,
    RouterPlatform,
    beijing,
    field_names,
    only_fields,
    page_slice,
    parse_beijing,
    parse_int,
    parse_yuan,
    required,
)
from sandbox.platforms.state import (
    AfterSaleRequest,
    MarketOrder,
    Marketplaces,
    PlatformError,
    ShopAccount,
    mask_name,
    new_digits,
)

ERRORS = {
    "rate": (7, "App Call Limited", "accesscontrol.limited-by-app-access-count"),
    "method": (22, "Invalid method", None),
    "sign": (25, "Invalid signature", None),
    "token": (27, "Invalid session", "invalid-sessionkey"),
    "app_key": (29, "Invalid app Key", None),
    "param": (41, "Invalid arguments", "isv.invalid-parameter"),
    "not_found": (15, "Remote service error", "isv.trade-not-exist"),
    "state": (15, "Remote service error", "isv.logistics-offline-service-error"),
}
# The trade `status` values (reference).
TRADE_STATUSES = frozenset({
    "WAIT_BUYER_PAY", "WAIT_SELLER_SEND_GOODS", "SELLER_CONSIGNED_PART", "WAIT_BUYER_CONFIRM_GOODS",
    "TRADE_BUYER_SIGNED", "TRADE_FINISHED", "TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO", "TRADE_NO_CREATE_PAY",
    "PAY_PENDING",
})
# Neutral after-sales status -> TOP refund `status` (reference values).
REFUND_STATUS = {"pending": "WAIT_SELLER_AGREE", "agreed": "SUCCESS", "refused": "SELLER_REFUSE_BUYER",
                 "closed": "CLOSED"}
REFUND_STATUSES = frozenset({*REFUND_STATUS.values(), "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS"})
# Neutral reason code -> the reason text the buyer picks (UNVERIFIED texts).
REASONS = {"no_reason": "七天无理由退换货", "quality": "质量问题", "wrong_item": "卖家发错货", "damaged": "商品破损",
           "not_received": "未收到货", "other": "其他"}
ROOTS = {
    "taobao.trades.sold.increment.get": "trades_sold_increment_get_response",
    "taobao.logistics.offline.send": "logistics_offline_send_response",
    "taobao.item.quantity.update": "item_quantity_update_response",
    "taobao.rp.refund.review": "rp_refund_review_response",
    "taobao.refunds.receive.get": "refunds_receive_get_response",
}


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


class Taobao(RouterPlatform):
    channel = "taobao"
    max_window = timedelta(days=1)
    max_page_size = 100
    carriers = frozenset({"SF", "ZTO", "YTO", "EMS", "JD", "STO", "YUNDA"})
    api = RouterApi(
        method_param="method", app_key_param="app_key", token_param="session",
        system_params=frozenset({"method", "app_key", "session", "timestamp", "format", "v", "sign_method", "sign",
                                 "partner_id", "simplify", "target_app_key"}),
        sign=signing.top_sign,
        required=("timestamp", "format", "v", "sign_method"),
        allowed={"format": frozenset({"json"}), "v": frozenset({"2.0"}), "sign_method": signing.TOP_SIGN_METHODS},
        ops={"taobao.trades.sold.increment.get": "orders", "taobao.logistics.offline.send": "shipback",
             "taobao.item.quantity.update": "stock", "taobao.rp.refund.review": "refund",
             "taobao.refunds.receive.get": "after_sales"},
    )
    after_sale_max_lines = 1

    def new_id(self) -> str:
        return new_digits(19)

    def status(self, order: MarketOrder) -> str:
        if order.phase == "cancelled" or (order.refunded and order.phase != "shipped"):
            return "TRADE_CLOSED" if order.paid_at else "TRADE_CLOSED_BY_TAOBAO"
        return {"unpaid": "WAIT_BUYER_PAY", "paid": "WAIT_SELLER_SEND_GOODS",
                "shipped": "WAIT_BUYER_CONFIRM_GOODS"}[order.phase]

    def raw_status(self, order: MarketOrder) -> str:
        return self.status(order)

    def payload(self, order: MarketOrder) -> dict[str, Any]:
        status, b = self.status(order), order.buyer
        waybill = order.shipments[0]["waybill_no"] if order.shipments else None
        return {
            "tid": order.external_id, "status": status, "type": "fixed",
            "created": beijing(order.created), "modified": beijing(order.modified),
            "pay_time": beijing(order.paid_at), "consign_time": beijing(order.shipped_at),
            "payment": yuan(order.paid_amount), "total_fee": yuan(order.goods), "post_fee": yuan(order.shipping_fee),
            "discount_fee": yuan(order.discount), "buyer_nick": mask_name(b.name), "buyer_message": order.message,
            "seller_flag": 0, "receiver_name": b.name, "receiver_state": b.province, "receiver_city": b.city,
            "receiver_district": b.district, "receiver_address": b.address, "receiver_zip": b.zip,
            "receiver_mobile": b.phone, "receiver_phone": None, "alipay_no": order.payment_no("2200"),
            "orders": {"order": [
                {"oid": line.line_id, "status": status, "refund_status": "SUCCESS" if order.refunded else "NO_REFUND",
                 "num_iid": line.product_id, "outer_sku_id": line.sku, "num": line.quantity,
                 "price": yuan(line.unit_price), "total_fee": yuan(line.unit_price * line.quantity),
                 "payment": yuan(line.unit_price * line.quantity), "divide_order_fee": yuan(share),
                 "invoice_no": waybill}
                for line, share in zip(order.lines, order.line_shares(), strict=True)
            ]},
        }

    def after_sale_status(self, request: AfterSaleRequest) -> str:
        return REFUND_STATUS[request.status]

    def after_sale_payload(self, order: MarketOrder, request: AfterSaleRequest) -> dict[str, Any]:
        line = request.lines[0] if request.lines else None
        return {
            "refund_id": request.request_id, "tid": order.external_id,
            "oid": line["line_id"] if line else order.external_id, "outer_id": line["sku"] if line else None,
            "num": line["quantity"] if line else sum(l.quantity for l in order.lines),
            "total_fee": yuan(order.paid_amount), "payment": yuan(order.paid_amount),
            "refund_fee": yuan(request.amount), "status": REFUND_STATUS[request.status],
            "good_status": "BUYER_RECEIVED" if order.phase == "shipped" else "BUYER_NOT_RECEIVED",
            "has_good_return": request.type == "return_and_refund",
            "reason": REASONS.get(request.reason, request.reason), "desc": "",
            "created": beijing(request.created), "modified": beijing(request.modified),
            "order_status": self.status(order),
        }

    def success(self, method: str, result: dict[str, Any]) -> dict[str, Any]:
        return {ROOTS[method]: {**result, "request_id": secrets.token_hex(6)}}

    def error(self, err: PlatformError) -> dict[str, Any]:
        code, msg, sub_code = ERRORS[err.kind]
        body: dict[str, Any] = {"code": code, "msg": msg, "request_id": secrets.token_hex(6)}
        if sub_code or err.code:
            body.update(sub_code=err.code or sub_code, sub_msg=err.message)
        return {"error_response": body}

    def handlers(self):
        return {"orders": self.orders, "shipback": self.shipback, "stock": self.stock, "refund": self.refund,
                "after_sales": self.after_sales}

    def after_sales(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        required(p, "fields", "start_modified", "end_modified")
        start = parse_beijing(p.get("start_modified"), "start_modified")
        end = parse_beijing(p.get("end_modified"), "end_modified")
        self.check_window(start, end, ("start_modified", "end_modified"))
        page, size = parse_int(p.get("page_no"), "page_no", 1), parse_int(p.get("page_size"), "page_size", 40)
        self.check_page(page, size)
        listed = market.after_sales_window(self.channel, account.shop, start, end)
        if p.get("status"):
            if p["status"] not in REFUND_STATUSES:
                raise PlatformError("param", f"status {p['status']} is not a refund status")
            listed = [(o, r) for o, r in listed if REFUND_STATUS[r.status] == p["status"]]
        chosen = page_slice(listed, page - 1, size)
        result: dict[str, Any] = {"has_next": page * size < len(listed)}
        if str(p.get("use_has_next", "false")).lower() != "true":
            result["total_results"] = len(listed)
        if chosen:
            names = field_names(p["fields"])
            result["refunds"] = {"refund": [only_fields(self.after_sale_payload(o, r), names) for o, r in chosen]}
        return result

    def orders(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        required(p, "fields", "start_modified", "end_modified")
        start = parse_beijing(p.get("start_modified"), "start_modified")
        end = parse_beijing(p.get("end_modified"), "end_modified")
        self.check_window(start, end, ("start_modified", "end_modified"))
        page, size = parse_int(p.get("page_no"), "page_no", 1), parse_int(p.get("page_size"), "page_size", 40)
        self.check_page(page, size)
        listed = self.listed(market, account, start, end)
        if p.get("status"):
            if p["status"] not in TRADE_STATUSES:
                raise PlatformError("param", f"status {p['status']} is not a trade status")
            listed = [o for o in listed if self.status(o) == p["status"]]
        chosen = page_slice(listed, page - 1, size)
        result: dict[str, Any] = {"has_next": page * size < len(listed)}
        if str(p.get("use_has_next", "false")).lower() != "true":
            result["total_results"] = len(listed)
        if chosen:
            names = field_names(p["fields"])
            result["trades"] = {"trade": [self.fields_of(self.payload(o), names) for o in chosen]}
        return result

    @staticmethod
    def fields_of(trade: dict[str, Any], names: set[str]) -> dict[str, Any]:
        """Only the fields asked for: `orders` brings whole lines, `orders.<field>` that field of each line."""
        selected = only_fields(trade, names - {"orders"})
        line_fields = {name.split(".", 1)[1] for name in names if name.startswith("orders.")}
        if "orders" in names:
            selected["orders"] = trade["orders"]
        elif line_fields:
            selected["orders"] = {"order": [only_fields(line, line_fields) for line in trade["orders"]["order"]]}
        return selected

    def shipback(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        tid, out_sid, company = required(p, "tid", "out_sid", "company_code")
        self.check_carrier(company)
        extra: dict[str, Any] = {"is_split": str(p.get("is_split", "0")) == "1"}
        if p.get("sub_tid"):  # the lines (oids) in this parcel of a split consignment
            order = market.order(self.channel, account.shop, str(tid))
            sub_tids = field_names(p["sub_tid"])
            unknown = sub_tids - {line.line_id for line in order.lines} if order is not None else set()
            if unknown:
                raise PlatformError("param", f"sub_tid names no line of trade {tid}: {', '.join(sorted(unknown))}")
            extra["sub_tid"] = sorted(sub_tids)
        market.ship(account, tid, out_sid, company, **extra)
        return {"shipping": {"is_success": True}}

    def stock(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        outer_id, quantity = required(p, "outer_id", "quantity")
        if str(p.get("type", "1")) != "1":
            raise PlatformError("param", "only type=1 (full update) is supported here")
        try:
            market.set_stock(account, outer_id, parse_int(quantity, "quantity", 0))
        except PlatformError as err:
            if err.kind == "not_found":
                raise PlatformError("not_found", err.message, code="isv.item-not-exist") from None
            raise
        return {"item": {"outer_id": outer_id, "num": int(quantity), "modified": beijing(None)}}

    def refund(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        tid, refund_id, result, fee = (str(v) for v in required(p, "tid", "refund_id", "result", "refund_fee"))
        if result not in ("true", "false"):
            raise PlatformError("param", "result must be true or false")
        status = "REFUNDED" if result == "true" else "REJECTED"
        try:
            record, _ = market.refund(account, tid, refund_id, parse_yuan(fee, "refund_fee"), status,
                                      reason=str(p.get("message") or ""))
        except PlatformError as err:
            if err.kind == "state":
                raise PlatformError("state", err.message, code="isv.refund-status-not-support") from None
            raise
        return {"is_success": True, "refund_no": record.result["refund_no"]}

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/taobao", tags=["taobao"])

        @router.post("/router/rest")
        async def rest(request: Request) -> Response:
            return await self.serve(request)

        return router

