"""Douyin shop open API: `POST /douyin/<method path>` (e.g. `/douyin/order/searchList`) with `app_key,
method, access_token, timestamp, v=2, sign_method=hmac-sha256, sign` in the query and `param_json` as the
JSON body; signature `signing.douyin_sign` (UNVERIFIED scheme: the reference is silent). Answers
`{code, msg, sub_code, sub_msg, data, log_id}`, code 10000 on success.

Calls: `order.searchList` (`update_time_start`/`update_time_end` epoch seconds, window <= 1 day, an
UNVERIFIED limit: the reference gives none; `page` from 0, `size` <= 100, `order_by` create_time (default)
or update_time, `order_asc`; `combine_status` is not imitated), `order.logisticsAdd`
(`order_id, company_code, logistics_code`), `sku.syncStock` (`out_sku_id, stock_num, incremental`),
`afterSale.operate` (UNVERIFIED: `aftersale_id` = the seller's after-sales ticket, `order_id`, `type` 201
agree / 202 refuse, `refund_amount` fen, `remark`).
`aftersale_id` may also be the platform's own id of a buyer's after-sale, which it then answers.
`afterSale.List` (`update_start_time`/`update_end_time` epoch seconds, window <= 1 day, `page` from 0,
`size` <= 100; answer `data {items, total, has_more}`, each item `{aftersale_id, order_id, aftersale_type,
aftersale_status, refund_amount (fen), reason, apply_time, update_time, sku_list: [{out_sku_id, item_num}]}`).
UNVERIFIED: the reference nests these under `aftersale_info`/`order_info`; here they are flat; type codes
0 return and refund, 1 refund only after shipping, 2 refund only before shipping; status codes 6 awaiting
the seller, 12 refunded, 27 refused, 28 closed; the reason texts; one sku order per after-sale.
Amounts are integer fen; `post_tel` and `post_receiver` are ciphertext with masked copies.
UNVERIFIED codes: 30001 isv.access-token-expired, 30002 isv.access-token-no-existed, 90000 isv.flow-limit,
40004 isv.* parameter/app/signature/method errors, 50002 isv.business-failed:* refusals.
"""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from sandbox.platforms import signing
from sandbox.platforms.base import (
    RouterApi,
    RouterPlatform,
    epoch,
    page_slice,
    parse_epoch,
    parse_fen,
    parse_int,
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
)

ERRORS = {
    "token": (30001, "isv.access-token-expired"),
    "rate": (90000, "isv.flow-limit"),
    "app_key": (40004, "isv.app-key-not-exist"),
    "sign": (40004, "isv.signature-invalid"),
    "method": (40004, "isv.method-not-exist"),
    "param": (40004, "isv.parameter-invalid"),
    "not_found": (50002, "isv.business-failed:order-not-exist"),
    "state": (50002, "isv.business-failed:order-state-invalid"),
}
ORDER_BY = {"create_time": lambda o: o.created, "update_time": lambda o: o.modified}
STATUS = {"unpaid": 1, "paid": 2, "shipped": 3, "cancelled": 4}
REFUND_TYPES = {201: "REFUNDED", 202: "REJECTED"}  # UNVERIFIED afterSale.operate types
AFTERSALE_STATUS = {"pending": 6, "agreed": 12, "refused": 27, "closed": 28}  # UNVERIFIED
REASONS = {"no_reason": "七天无理由", "quality": "质量问题", "wrong_item": "商家发错货", "damaged": "商品破损",
           "not_received": "未收到货", "other": "其他"}  # UNVERIFIED texts


class Douyin(RouterPlatform):
    channel = "douyin"
    max_window = timedelta(days=1)
    max_page_size = 100
    carriers = frozenset({"shunfeng", "zhongtong", "yuantong", "ems", "jd"})
    api = RouterApi(
        method_param="method", app_key_param="app_key", token_param="access_token",
        system_params=frozenset({"app_key", "method", "access_token", "timestamp", "v", "sign_method", "sign"}),
        sign=signing.douyin_sign, business_param="param_json", business_as_body=True,
        required=("timestamp", "v", "sign_method"),
        allowed={"v": frozenset({"2"}), "sign_method": frozenset({"hmac-sha256"})},
        ops={"order.searchList": "orders", "order.logisticsAdd": "shipback", "sku.syncStock": "stock",
             "afterSale.operate": "refund", "afterSale.List": "after_sales"},
    )
    after_sale_max_lines = 1

    def new_id(self) -> str:
        return new_digits(19)

    def raw_status(self, order: MarketOrder) -> str:
        return str(STATUS[order.phase])

    def payload(self, order: MarketOrder) -> dict[str, Any]:
        b = order.buyer
        refund = 3 if order.refunded else 0
        return {
            "order_id": order.external_id, "order_status": STATUS[order.phase],
            "pay_amount": order.paid_amount, "post_amount": order.shipping_fee,
            "create_time": epoch(order.created), "pay_time": epoch(order.paid_at),
            "update_time": epoch(order.modified), "buyer_words": order.message or "",
            "post_receiver": f"#{base64.b64encode(secrets.token_bytes(12)).decode()}#",
            "post_tel": f"$${base64.b64encode(secrets.token_bytes(18)).decode()}$1$$",
            "mask_post_receiver": mask_name(b.name), "mask_post_tel": mask_phone(b.phone),
            "post_addr": {"province": {"name": b.province, "id": ""}, "city": {"name": b.city, "id": ""},
                          "town": {"name": b.district, "id": ""}, "detail": b.address},
            "logistics_info": [{"tracking_no": s["waybill_no"], "company": s["carrier"]} for s in order.shipments],
            "sku_order_list": [
                {"order_id": f"{order.external_id[:-2]}{i:02d}", "product_id": line.product_id, "out_sku_id": line.sku,
                 "item_num": line.quantity, "origin_amount": line.unit_price * line.quantity, "pay_amount": share,
                 "after_sale_info": {"after_sale_status": 0, "refund_status": refund}}
                for i, (line, share) in enumerate(zip(order.lines, order.line_shares(), strict=True), 1)
            ],
        }

    def new_after_sale_id(self) -> str:
        return new_digits(19)

    def after_sale_status(self, request: AfterSaleRequest) -> str:
        return str(AFTERSALE_STATUS[request.status])

    def after_sale_payload(self, order: MarketOrder, request: AfterSaleRequest) -> dict[str, Any]:
        if request.type == "return_and_refund":
            kind = 0
        else:
            kind = 1 if order.phase == "shipped" else 2
        return {
            "aftersale_id": request.request_id, "order_id": order.external_id, "aftersale_type": kind,
            "aftersale_status": AFTERSALE_STATUS[request.status], "refund_amount": request.amount,
            "reason": REASONS.get(request.reason, request.reason), "apply_time": epoch(request.created),
            "update_time": epoch(request.modified),
            "sku_list": [{"out_sku_id": l["sku"], "item_num": l["quantity"]} for l in request.lines],
        }

    def after_sales(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        start = parse_epoch(p.get("update_start_time"), "update_start_time")
        end = parse_epoch(p.get("update_end_time"), "update_end_time")
        self.check_window(start, end, ("update_start_time", "update_end_time"))
        page, size = parse_int(p.get("page"), "page", 0), parse_int(p.get("size"), "size", 10)
        self.check_page(page, size, first=0)
        listed = market.after_sales_window(self.channel, account.shop, start, end)
        chosen = page_slice(listed, page, size)
        return {"items": [self.after_sale_payload(o, r) for o, r in chosen], "total": len(listed),
                "has_more": (page + 1) * size < len(listed)}

    def success(self, method: str, result: dict[str, Any]) -> dict[str, Any]:
        return {"code": 10000, "msg": "success", "sub_code": "", "sub_msg": "", "data": result,
                "log_id": secrets.token_hex(10)}

    def error(self, err: PlatformError) -> dict[str, Any]:
        code, sub_code = ERRORS[err.kind]
        if err.kind == "token" and err.code:
            code, sub_code = 30002, err.code
        return {"code": code, "msg": "调用失败", "sub_code": sub_code, "sub_msg": err.message, "data": {},
                "log_id": secrets.token_hex(10)}

    def handlers(self):
        return {"orders": self.orders, "shipback": self.shipback, "stock": self.stock, "refund": self.refund,
                "after_sales": self.after_sales}

    def orders(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        start = parse_epoch(p.get("update_time_start"), "update_time_start")
        end = parse_epoch(p.get("update_time_end"), "update_time_end")
        self.check_window(start, end, ("update_time_start", "update_time_end"))
        page, size = parse_int(p.get("page"), "page", 0), parse_int(p.get("size"), "size", 10)
        self.check_page(page, size, first=0)
        order_by = p.get("order_by", "create_time")
        if order_by not in ORDER_BY:
            raise PlatformError("param", f"order_by must be one of {', '.join(sorted(ORDER_BY))}")
        listed = sorted(self.listed(market, account, start, end), key=lambda o: (ORDER_BY[order_by](o), o.external_id),
                        reverse=p.get("order_asc") is False)
        return {"total": len(listed), "page": page, "size": size,
                "shop_order_list": [self.payload(o) for o in page_slice(listed, page, size)]}

    def shipback(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        order_id, company, waybill = (str(v) for v in required(p, "order_id", "company_code", "logistics_code"))
        self.check_carrier(company)
        market.ship(account, order_id, waybill, company)
        return {}

    def stock(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        out_sku_id, stock_num = required(p, "out_sku_id", "stock_num")
        if p.get("incremental") is True:
            raise PlatformError("param", "incremental updates are not supported here")
        market.set_stock(account, str(out_sku_id), parse_int(stock_num, "stock_num", 0))
        return {}

    def refund(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        aftersale_id, order_id, kind, amount = required(p, "aftersale_id", "order_id", "type", "refund_amount")
        status = REFUND_TYPES.get(parse_int(kind, "type", 0))
        if status is None:
            raise PlatformError("param", "type must be 201 (agree) or 202 (refuse)")
        record, _ = market.refund(account, str(order_id), str(aftersale_id), parse_fen(amount, "refund_amount"),
                                  status, reason=str(p.get("remark") or ""))
        return {"aftersale_id": str(aftersale_id), "refund_no": record.result["refund_no"]}

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/douyin", tags=["douyin"])

        @router.post("/{group}/{name}")
        async def call(group: str, name: str, request: Request) -> Response:
            return await self.serve(request, method_from_path=f"{group}.{name}")

        return router
