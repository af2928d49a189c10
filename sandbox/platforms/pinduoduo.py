"""Pinduoduo router: `POST /pinduoduo/api/router` (form), API name in `type`, app in `client_id`, signed with
`signing.wrapped_md5` over every parameter sent.

Calls: `pdd.order.number.list.increment.get` (`start_updated_at`/`end_updated_at` epoch seconds, window
<= 30 minutes, page from 1, page_size <= 100, paid orders only; `order_status` 1/2/3 or 5 = all,
`refund_status` 1..4 or 5 = all), `pdd.logistics.online.send`, `pdd.goods.sku.stock.update` (by
`outer_id`, UNVERIFIED), `pdd.refund.agree` / `pdd.refund.refuse` (UNVERIFIED: `order_sn, after_sales_id` =
the seller's after-sales ticket, `refund_amount` yuan, `operate_desc`). Receivers are encrypted (`~...~`
ciphertext carrying no plain text) with masked copies, as the real API sends them.
`after_sales_id` may also be the platform's own id of a buyer's after-sale, which it then answers.
`pdd.refund.list.increment.get` (reference names: `start_updated_at`/`end_updated_at` epoch seconds, window
<= 30 minutes, `after_sales_status` and `after_sales_type` required, 1 = all (UNVERIFIED), `page` from 1,
`page_size` <= 100; answer `refund_increment_get_response {total_count, refund_list: [{id, order_sn,
after_sales_type (2 refund only, 3 return and refund), after_sales_status (2 refund awaiting the seller,
3 return awaiting the seller, 6 refused, 10 refunded, 11 withdrawn by the buyer), refund_amount, order_amount,
outer_id, goods_number, after_sale_reason, created_time, updated_time}]}`). UNVERIFIED: `refund_amount` and
`order_amount` in fen (one public SDK says yuan), the reason texts, and times as "YYYY-MM-DD HH:MM:SS"
text; one goods line per after-sale, as the reference's single `outer_id` says.
Errors `error_response {error_code, error_msg, sub_code, sub_msg, request_id}`; UNVERIFIED codes:
10000 bad parameter, 10001 unknown type, 10013 unknown client_id, 10016 bad sign, 10019 access_token
expired/invalid, 70031 rate limited, 50001 not found, 50002 order state forbids it.
"""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response

from sandbox.platforms import signing
from sandbox.platforms.base import (
    RouterApi,
    RouterPlatform,
    beijing,
    page_slice,
    parse_epoch,
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
    mask_phone,
    new_digits,
    now_s,
)

ERRORS = {
    "param": (10000, "参数错误"),
    "method": (10001, "接口不存在"),
    "app_key": (10013, "client_id不存在"),
    "sign": (10016, "签名错误"),
    "token": (10019, "access_token已过期"),
    "rate": (70031, "调用过于频繁"),
    "not_found": (50001, "数据不存在"),
    "state": (50002, "订单状态不允许此操作"),
}
# Reference: order_status 1 awaiting shipment, 2 shipped, 3 received; refund_status 1 none, 2 after-sale in
# progress, 3 refunding, 4 refunded. 5 = all in a query (UNVERIFIED).
ORDER_STATUSES = frozenset({1, 2, 3, 5})
AFTER_SALES_TYPE = {"refund_only": 2, "return_and_refund": 3}
REASONS = {"no_reason": "七天无理由退货", "quality": "质量问题", "wrong_item": "商家发错货", "damaged": "商品破损",
           "not_received": "未收到货", "other": "其他原因"}  # UNVERIFIED texts


def after_sales_status(request: AfterSaleRequest) -> int:
    if request.status == "pending":
        return 2 if request.type == "refund_only" else 3
    return {"agreed": 10, "refused": 6, "closed": 11}[request.status]
REFUND_STATUSES = frozenset({1, 2, 3, 4, 5})
ROOTS = {
    "pdd.order.number.list.increment.get": "order_sn_increment_get_response",
    "pdd.logistics.online.send": "logistics_online_send_response",
    "pdd.goods.sku.stock.update": "goods_sku_stock_update_response",
    "pdd.refund.agree": "refund_agree_response",
    "pdd.refund.refuse": "refund_refuse_response",
    "pdd.refund.list.increment.get": "refund_increment_get_response",
}


def cipher() -> str:
    """An opaque stand-in for PDD's ciphertext: random bytes, no plain text inside."""
    return f"~{base64.b64encode(secrets.token_bytes(24)).decode()}~0~"


class Pinduoduo(RouterPlatform):
    channel = "pinduoduo"
    paid_only = True
    max_window = timedelta(minutes=30)
    max_page_size = 100
    carriers = frozenset({"44", "115", "85", "118", "120"})
    api = RouterApi(
        method_param="type", app_key_param="client_id", token_param="access_token",
        system_params=frozenset({"type", "client_id", "access_token", "timestamp", "data_type", "version", "sign"}),
        sign=signing.wrapped_md5, required=("timestamp",),
        ops={"pdd.order.number.list.increment.get": "orders", "pdd.logistics.online.send": "shipback",
             "pdd.goods.sku.stock.update": "stock", "pdd.refund.agree": "refund", "pdd.refund.refuse": "refund",
             "pdd.refund.list.increment.get": "after_sales"},
    )
    after_sale_max_lines = 1

    def new_id(self) -> str:
        return f"{beijing_date()}-{new_digits(15)}"

    def codes(self, order: MarketOrder) -> tuple[int, int]:
        status = 2 if order.phase == "shipped" else 1
        refund = 4 if (order.refunded or order.phase == "cancelled") else 1
        return status, refund

    def raw_status(self, order: MarketOrder) -> str:
        if order.paid_at is None:
            return "unpaid"  # sandbox marker: never listed
        status, refund = self.codes(order)
        return f"order_status={status} refund_status={refund}"

    def payload(self, order: MarketOrder) -> dict[str, Any]:
        b = order.buyer
        status, refund = self.codes(order)
        return {
            "order_sn": order.external_id, "order_status": status, "refund_status": refund,
            "confirm_time": beijing(order.paid_at), "created_time": beijing(order.created),
            "updated_at": beijing(order.modified), "shipping_time": beijing(order.shipped_at),
            "buyer_memo": order.message or "", "remark": "",
            "tracking_number": order.shipments[0]["waybill_no"] if order.shipments else "",
            "risk_control_status": 0, "stock_out_handle_status": -1, "pre_sale_time": "",
            "pay_amount": order.paid_amount / 100, "goods_amount": order.goods / 100,
            "postage": order.shipping_fee / 100, "discount_amount": order.discount / 100,
            "pay_no": order.payment_no("XP") or "",
            "province": b.province, "city": b.city, "town": b.district,
            "receiver_name": cipher(), "receiver_phone": cipher(), "receiver_address": cipher(),
            "receiver_name_mask": mask_name(b.name), "receiver_phone_mask": mask_phone(b.phone),
            "receiver_address_mask": f"{b.province}{b.city}{b.district}****",
            "item_list": [{"goods_id": line.product_id, "sku_id": int(line.line_id[:10]), "outer_sku_id": line.sku,
                           "goods_count": line.quantity, "goods_price": line.unit_price / 100,
                           "goods_name": line.sku} for line in order.lines],
        }

    def after_sale_status(self, request: AfterSaleRequest) -> str:
        return str(after_sales_status(request))

    def after_sale_payload(self, order: MarketOrder, request: AfterSaleRequest) -> dict[str, Any]:
        line = request.lines[0] if request.lines else None
        return {
            "id": int(request.request_id), "order_sn": order.external_id,
            "after_sales_type": AFTER_SALES_TYPE[request.type], "after_sales_status": after_sales_status(request),
            "refund_amount": request.amount, "order_amount": order.paid_amount,
            "outer_id": line["sku"] if line else None,
            "goods_number": line["quantity"] if line else sum(l.quantity for l in order.lines),
            "after_sale_reason": REASONS.get(request.reason, request.reason),
            "created_time": beijing(request.created), "updated_time": beijing(request.modified),
        }

    def after_sales(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        required(p, "after_sales_status", "after_sales_type", "start_updated_at", "end_updated_at")
        start = parse_epoch(p.get("start_updated_at"), "start_updated_at")
        end = parse_epoch(p.get("end_updated_at"), "end_updated_at")
        self.check_window(start, end, ("start_updated_at", "end_updated_at"))
        page, size = parse_int(p.get("page"), "page", 1), parse_int(p.get("page_size"), "page_size", 100)
        self.check_page(page, size)
        status = parse_int(p.get("after_sales_status"), "after_sales_status", 1)
        kind = parse_int(p.get("after_sales_type"), "after_sales_type", 1)
        listed = [(o, r) for o, r in market.after_sales_window(self.channel, account.shop, start, end)
                  if status in (1, after_sales_status(r)) and kind in (1, AFTER_SALES_TYPE[r.type])]
        return {"total_count": len(listed),
                "refund_list": [self.after_sale_payload(o, r) for o, r in page_slice(listed, page - 1, size)]}

    def success(self, method: str, result: dict[str, Any]) -> dict[str, Any]:
        return {ROOTS[method]: {**result, "request_id": secrets.token_hex(8)}}

    def error(self, err: PlatformError) -> dict[str, Any]:
        code, msg = ERRORS[err.kind]
        return {"error_response": {"error_code": int(err.code or code), "error_msg": msg, "sub_code": str(code),
                                   "sub_msg": err.message, "request_id": secrets.token_hex(8)}}

    def handlers(self):
        return {"orders": self.orders, "shipback": self.shipback, "stock": self.stock,
                "pdd.refund.agree": partial(self.refund, status="REFUNDED"),
                "pdd.refund.refuse": partial(self.refund, status="REJECTED"), "after_sales": self.after_sales}

    def orders(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        start = parse_epoch(p.get("start_updated_at"), "start_updated_at")
        end = parse_epoch(p.get("end_updated_at"), "end_updated_at")
        self.check_window(start, end, ("start_updated_at", "end_updated_at"))
        page, size = parse_int(p.get("page"), "page", 1), parse_int(p.get("page_size"), "page_size", 100)
        self.check_page(page, size)
        order_status = parse_int(p.get("order_status"), "order_status", 5)
        refund_status = parse_int(p.get("refund_status"), "refund_status", 5)
        if order_status not in ORDER_STATUSES or refund_status not in REFUND_STATUSES:
            raise PlatformError("param", "order_status must be 1, 2, 3 or 5 (all); refund_status 1..4 or 5 (all)")
        listed = [o for o in self.listed(market, account, start, end)
                  if order_status in (5, self.codes(o)[0]) and refund_status in (5, self.codes(o)[1])]
        chosen = page_slice(listed, page - 1, size)
        result: dict[str, Any] = {"has_next": page * size < len(listed),
                                  "order_sn_list": [self.payload(o) for o in chosen]}
        if str(p.get("use_has_next", "false")).lower() != "true":
            result["total_count"] = len(listed)
        return result

    def shipback(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        order_sn, logistics_id, tracking = (str(v) for v in required(p, "order_sn", "logistics_id", "tracking_number"))
        self.check_carrier(logistics_id)
        market.ship(account, order_sn, tracking, logistics_id)
        return {"is_success": True}

    def stock(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        outer_id, quantity = required(p, "outer_id", "quantity")
        if str(p.get("update_type", "1")) != "1":
            raise PlatformError("param", "only update_type=1 (full) is supported here")
        market.set_stock(account, str(outer_id), parse_int(quantity, "quantity", 0))
        return {"is_success": True}

    def refund(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any], *, status: str
               ) -> dict[str, Any]:
        order_sn, after_sales_id, amount = required(p, "order_sn", "after_sales_id", "refund_amount")
        record, _ = market.refund(account, str(order_sn), str(after_sales_id), parse_yuan(amount, "refund_amount"),
                                  status, reason=str(p.get("operate_desc") or ""))
        return {"is_success": True, "refund_no": record.result["refund_no"]}

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/pinduoduo", tags=["pinduoduo"])

        @router.post("/api/router")
        async def api_router(request: Request) -> Response:
            return await self.serve(request)

        return router


def beijing_date() -> str:
    return (beijing(now_s()) or "")[2:10].replace("-", "")
