"""JD POP router: `POST /jd/routerjson` (form), business parameters in `360buy_param_json`, signed with
`signing.wrapped_md5` over every parameter sent.

Calls: `jingdong.pop.order.search` (answer root `jingdong_pop_order_search_responce`, JD's spelling;
window <= 1 day, UNVERIFIED: the reference gives no limit; page from 1, page_size <= 100; paid orders only;
`optional_fields` required, an order carries only the fields it names; `order_state` a comma list of the
reference's states),
`jingdong.pop.order.shipment` (`orderId, logiCoprId, logiNo`), `jingdong.stock.write.updateSkuStock`
(UNVERIFIED stock call: `outerId, stockNum`), `jingdong.pop.afs.soa.refundapply.replyRefund` (UNVERIFIED:
`id` = the seller's after-sales ticket, `orderId`, `status` 1 agree / 2 refuse, `applyRefundSum` yuan).
`id` may also be the platform's own id of a buyer's refund application, which it then answers.
`jingdong.pop.afs.soa.refundapply.queryPageList` (UNVERIFIED shape: the parameter names `applyTimeStart`,
`applyTimeEnd` (window <= 1 day, on the application time), `pageIndex` from 1, `pageSize` <= 100, `status`
are the reference's; the answer `queryResult {success, totalCount, result: [{id, orderId, status,
applyRefundSum (yuan), applyTime, checkTime, reason, refundType, skuList: [{outerSkuId, skuNum}]}]}`
is not: `status` 0 awaiting review, 1 agreed, 2 refused, 10 withdrawn by the buyer; `refundType` 1 refund
only, 2 return and refund; `skuList` empty for the whole order).
Errors `error_response {code, zh_desc, en_desc}`; UNVERIFIED codes: 14 bad signature, 15 unknown app key,
19 access_token invalid/expired, 22 unknown method, 66 bad parameter, 67 call limit, 10100 order/sku not
found, 10400 order state forbids it.
"""

from __future__ import annotations

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
from sandbox.platforms.state import AfterSaleRequest, MarketOrder, Marketplaces, PlatformError, ShopAccount, new_digits
from sandbox.platforms.taobao import yuan

ERRORS = {
    "sign": ("14", "签名无效", "Invalid signature"),
    "app_key": ("15", "app_key不存在", "Invalid app_key"),
    "token": ("19", "token已过期或者不存在", "Invalid access_token"),
    "method": ("22", "方法不存在", "Invalid method"),
    "param": ("66", "参数错误", "Invalid parameter"),
    "rate": ("67", "调用次数超限", "Call limit exceeded"),
    "not_found": ("10100", "数据不存在", "Not found"),
    "state": ("10400", "订单状态不允许此操作", "Order state does not allow this"),
}
# `orderState` values (reference).
ORDER_STATES = frozenset({"WAIT_SELLER_STOCK_OUT", "WAIT_SELLER_DELIVERY", "WAIT_GOODS_RECEIVE_CONFIRM", "FINISHED_L",
                          "TRADE_CANCELED", "LOCKED", "PAUSE"})
# Neutral after-sales status -> refund application `status` (UNVERIFIED codes).
APPLY_STATUS = {"pending": 0, "agreed": 1, "refused": 2, "closed": 10}
APPLY_TYPE = {"refund_only": 1, "return_and_refund": 2}  # UNVERIFIED
REASONS = {"no_reason": "7天无理由退货", "quality": "商品质量问题", "wrong_item": "发错货", "damaged": "商品破损",
           "not_received": "未收到货", "other": "其他"}  # UNVERIFIED texts
ROOTS = {
    "jingdong.pop.order.search": "jingdong_pop_order_search_responce",
    "jingdong.pop.order.shipment": "jingdong_pop_order_shipment_responce",
    "jingdong.stock.write.updateSkuStock": "jingdong_stock_write_updateSkuStock_responce",
    "jingdong.pop.afs.soa.refundapply.replyRefund": "jingdong_pop_afs_soa_refundapply_replyRefund_responce",
    "jingdong.pop.afs.soa.refundapply.queryPageList": "jingdong_pop_afs_soa_refundapply_queryPageList_responce",
}


class Jd(RouterPlatform):
    channel = "jd"
    paid_only = True
    max_window = timedelta(days=1)
    max_page_size = 100
    carriers = frozenset({"467", "1499", "463", "465", "2087"})
    api = RouterApi(
        method_param="method", app_key_param="app_key", token_param="access_token",
        system_params=frozenset({"method", "app_key", "access_token", "timestamp", "v", "format", "sign_method",
                                 "sign", "360buy_param_json"}),
        sign=signing.wrapped_md5, business_param="360buy_param_json", required=("timestamp",),
        allowed={"sign_method": frozenset({"md5"})},  # JD publishes md5 only (UNVERIFIED)
        ops={"jingdong.pop.order.search": "orders", "jingdong.pop.order.shipment": "shipback",
             "jingdong.stock.write.updateSkuStock": "stock",
             "jingdong.pop.afs.soa.refundapply.replyRefund": "refund",
             "jingdong.pop.afs.soa.refundapply.queryPageList": "after_sales"},
    )

    def new_id(self) -> str:
        return new_digits(12)

    def raw_status(self, order: MarketOrder) -> str:
        if order.phase == "cancelled" or order.refunded:
            return "TRADE_CANCELED"
        return {"unpaid": "WAIT_PAY", "paid": "WAIT_SELLER_STOCK_OUT", "shipped": "WAIT_GOODS_RECEIVE_CONFIRM"}[
            order.phase]  # WAIT_PAY: sandbox marker, never listed (the search lists paid orders only)

    def payload(self, order: MarketOrder) -> dict[str, Any]:
        b = order.buyer
        return {
            "orderId": order.external_id, "venderId": "10086", "orderState": self.raw_status(order),
            "orderTotalPrice": yuan(order.goods + order.shipping_fee), "orderPayment": yuan(order.paid_amount),
            "freightPrice": yuan(order.shipping_fee), "sellerDiscount": yuan(order.discount),
            "paymentConfirmTime": beijing(order.paid_at), "orderStartTime": beijing(order.created),
            "modified": beijing(order.modified),
            "waybill": ",".join(s["waybill_no"] for s in order.shipments),
            "logisticsId": order.shipments[0]["carrier"] if order.shipments else "",
            "orderRemark": order.message or "", "venderRemark": "",
            "consigneeInfo": {"fullname": b.name, "telephone": "", "mobile": b.phone, "province": b.province,
                              "city": b.city, "county": b.district, "town": "", "fullAddress":
                              f"{b.province}{b.city}{b.district}{b.address}"},
            "itemInfoList": [{"skuId": str(line.product_id), "outerSkuId": line.sku, "skuName": line.sku,
                              "itemTotal": str(line.quantity), "jdPrice": yuan(line.unit_price)}
                             for line in order.lines],
        }

    def after_sale_status(self, request: AfterSaleRequest) -> str:
        return str(APPLY_STATUS[request.status])

    def after_sale_payload(self, order: MarketOrder, request: AfterSaleRequest) -> dict[str, Any]:
        return {
            "id": int(request.request_id), "orderId": order.external_id, "status": APPLY_STATUS[request.status],
            "applyRefundSum": yuan(request.amount), "applyTime": beijing(request.created),
            "checkTime": beijing(request.modified) if request.status != "pending" else None,
            "reason": REASONS.get(request.reason, request.reason), "refundType": APPLY_TYPE[request.type],
            "skuList": [{"outerSkuId": l["sku"], "skuNum": l["quantity"]} for l in request.lines],
        }

    def after_sales(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        start = parse_beijing(p.get("applyTimeStart"), "applyTimeStart")
        end = parse_beijing(p.get("applyTimeEnd"), "applyTimeEnd")
        self.check_window(start, end, ("applyTimeStart", "applyTimeEnd"))
        page, size = parse_int(p.get("pageIndex"), "pageIndex", 1), parse_int(p.get("pageSize"), "pageSize", 10)
        self.check_page(page, size)
        listed = market.after_sales_window(self.channel, account.shop, start, end, by="created")
        if p.get("status") not in (None, ""):
            wanted = parse_int(p["status"], "status", -1)
            listed = [(o, r) for o, r in listed if APPLY_STATUS[r.status] == wanted]
        chosen = page_slice(listed, page - 1, size)
        return {"queryResult": {"success": True, "totalCount": len(listed),
                                "result": [self.after_sale_payload(o, r) for o, r in chosen]}}

    def success(self, method: str, result: dict[str, Any]) -> dict[str, Any]:
        return {ROOTS[method]: {"code": "0", **result}}

    def error(self, err: PlatformError) -> dict[str, Any]:
        code, zh, en = ERRORS[err.kind]
        return {"error_response": {"code": err.code or code, "zh_desc": zh, "en_desc": f"{en}: {err.message}"}}

    def handlers(self):
        return {"orders": self.orders, "shipback": self.shipback, "stock": self.stock, "refund": self.refund,
                "after_sales": self.after_sales}

    def orders(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        required(p, "optional_fields")
        start, end = parse_beijing(p.get("start_date"), "start_date"), parse_beijing(p.get("end_date"), "end_date")
        self.check_window(start, end, ("start_date", "end_date"))
        page, size = parse_int(p.get("page"), "page", 1), parse_int(p.get("page_size"), "page_size", 20)
        self.check_page(page, size)
        listed = self.listed(market, account, start, end)
        if p.get("order_state"):
            wanted = field_names(p["order_state"])
            if wanted - ORDER_STATES:
                raise PlatformError("param", f"order_state: unknown state(s) {', '.join(sorted(wanted - ORDER_STATES))}")
            listed = [o for o in listed if self.raw_status(o) in wanted]
        chosen, names = page_slice(listed, page - 1, size), field_names(p["optional_fields"])
        return {"searchorderinfo_result": {"apiResult": {"success": True}, "orderTotal": len(listed),
                                           "orderInfoList": [only_fields(self.payload(o), names) for o in chosen]}}

    def shipback(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        order_id, company, waybill = (str(v) for v in required(p, "orderId", "logiCoprId", "logiNo"))
        self.check_carrier(company)
        market.ship(account, order_id, waybill, company)
        return {"sopjosshipment_result": {"success": True}}

    def stock(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        outer_id, quantity = required(p, "outerId", "stockNum")
        market.set_stock(account, str(outer_id), parse_int(quantity, "stockNum", 0))
        return {"success": True}

    def refund(self, market: Marketplaces, account: ShopAccount, p: dict[str, Any]) -> dict[str, Any]:
        refund_id, order_id, status, total = required(p, "id", "orderId", "status", "applyRefundSum")
        code = parse_int(status, "status", 0)
        if code not in (1, 2):
            raise PlatformError("param", "status must be 1 (agree) or 2 (refuse)")
        record, _ = market.refund(account, str(order_id), str(refund_id), parse_yuan(total, "applyRefundSum"),
                                  "REFUNDED" if code == 1 else "REJECTED", reason=str(p.get("remark") or ""))
        return {"replyResult": {"success": True, "refundNo": record.result["refund_no"]}}

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/jd", tags=["jd"])

        @router.post("/routerjson")
        async def routerjson(request: Request) -> Response:
            return await self.serve(request)

        return router
