"""JD POP (`jingdong.pop.order.search` -> `searchorderinfo_result.orderInfoList[]`).

Payload: one `orderInfoList` item. Money: yuan decimal strings. Times: "YYYY-MM-DD HH:MM:SS" Beijing time.
Unit price `jdPrice`, quantity `itemTotal` (JD sends it as a string: "2").
The order search only returns orders that are paid (or cash-on-delivery, UNVERIFIED: treated as paid
like the rest), so there is no awaiting-payment state; a cancelled order counts as paid when it carries
`paymentConfirmTime`.
Business parameters are shown flat; the transport wraps them into `360buy_param_json` for the call.
UNVERIFIED: no per-item share of the payment is read from `itemInfoList` (none found in the published
order fields) and no payment trade number (the buyer pays JD): the hub apportions `sellerDiscount` by
list price.

Wire (`WIRE`): a form POST to `/jd/routerjson` (sandbox; production `https://api.jd.com/routerjson`)
with `method, app_key, access_token, timestamp, v=2.0, format=json, sign_method=md5, 360buy_param_json,
sign` (MD5 over the sorted system parameters including the JSON text). Success under
`<method with dots as underscores>_responce` (JD's spelling); errors under `error_response {code,
zh_desc, en_desc}`. Pull: `jingdong.pop.order.search` -> `searchorderinfo_result {orderTotal,
orderInfoList}`, `page` from 1, `page_size` <= 100, `dateType` 1 = modified time (UNVERIFIED code).
Refund: `jingdong.pop.afs.soa.refundapply.replyRefund` (`status` 1 agree, 2 refuse; `applyRefundSum` in yuan).

After-sales requests: `jingdong.pop.afs.soa.refundapply.queryPageList` with `applyTimeStart`/`applyTimeEnd`,
`pageIndex` from 1, `pageSize` (reference names). UNVERIFIED answer shape (the sandbox's): root
`jingdong_pop_afs_soa_refundapply_queryPageList_responce {queryResult {totalCount, result: [{id, orderId,
status, applyRefundSum (yuan), applyTime, checkTime, reason, refundType, skuList: [{outerSkuId, skuNum}]}]}}`;
UNVERIFIED codes: `status` (`REQUEST_STATUS`), `refundType` 1 refund only / 2 return and refund. The
window is on the application time (a new request is what the hub needs; its later states come back as the
hub's own answers). The application is answered by its `id` through replyRefund.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from activities.channels import signing
from activities.channels.base import (
    AfterSaleDraft,
    ChannelAdapter,
    ChannelState,
    Fields,
    LineDraft,
    MappingError,
    OrderDraft,
    check_stock_quantity,
    code_in,
    error_body,
    lookup,
    reason_code,
)
from activities.channels.wire import RouterPull, RouterWire, beijing_text
from models.channel import PlatformAfterSale, PlatformRequestStatus, RefundOutcome
from models.money import fen_to_yuan

S = ChannelState

ORDER_STATE = {
    "WAIT_SELLER_STOCK_OUT": S.PAID,
    "WAIT_SELLER_DELIVERY": S.PAID,
    "WAIT_GOODS_RECEIVE_CONFIRM": S.SHIPPED,
    "FINISHED_L": S.COMPLETED,
    "TRADE_CANCELED": S.CANCELLED,
    # JD locks an order while a buyer's cancellation/after-sale request is pending (LOCKED) and
    # pauses it on risk control or a refund request (PAUSE): either way, do not ship; treat as an
    # open after-sale until the order moves on.
    "LOCKED": S.REFUNDING,
    "PAUSE": S.REFUNDING,
}

# UNVERIFIED refund application codes.
REQUEST_STATUS = {
    0: PlatformRequestStatus.PENDING,
    1: PlatformRequestStatus.AGREED,
    2: PlatformRequestStatus.REFUSED,
    3: PlatformRequestStatus.REFUNDED,  # JD finance paid it out
    10: PlatformRequestStatus.CLOSED,
}
REQUEST_TYPE = {1: "refund_only", 2: "return_and_refund"}
REASONS = {"7天无理由退货": "no_reason", "商品质量问题": "quality", "发错货": "wrong_item", "商品破损": "damaged",
           "未收到货": "not_received"}  # UNVERIFIED texts

# UNVERIFIED codes (JD `error_response {code, zh_desc, en_desc}`): 19 = access_token invalid or
# expired; 67 = call frequency limit exceeded.
AUTH_CODES = {19}
RATE_CODES = {67}

# UNVERIFIED `logiCoprId` values (JD's own logistics company ids).
CARRIER_CODES = {"SF": "467", "ZTO": "1499", "YTO": "463", "EMS": "465", "JD": "2087"}

ORDER_FIELDS = (
    "orderId,venderId,orderState,orderTotalPrice,orderPayment,freightPrice,sellerDiscount,paymentConfirmTime,"
    "orderStartTime,modified,waybill,logisticsId,orderRemark,venderRemark,consigneeInfo,itemInfoList"
)

WIRE = RouterWire(
    path="/jd/routerjson",
    method_param="method",
    app_key_param="app_key",
    token_param="access_token",
    timestamp=beijing_text,
    system={"v": "2.0", "format": "json", "sign_method": "md5"},
    sign=signing.md5_sign,
    business_param="360buy_param_json",
    roots={
        "jingdong.pop.order.search": "jingdong_pop_order_search_responce",
        "jingdong.pop.order.shipment": "jingdong_pop_order_shipment_responce",
        "jingdong.stock.write.updateSkuStock": "jingdong_stock_write_updateSkuStock_responce",
        "jingdong.pop.afs.soa.refundapply.replyRefund": "jingdong_pop_afs_soa_refundapply_replyRefund_responce",
        "jingdong.pop.afs.soa.refundapply.queryPageList": "jingdong_pop_afs_soa_refundapply_queryPageList_responce",
    },
    pull=RouterPull(
        method="jingdong.pop.order.search",
        start_param="start_date",
        end_param="end_date",
        page_param="page",
        page_size_param="page_size",
        items=("searchorderinfo_result", "orderInfoList"),
        total=("searchorderinfo_result", "orderTotal"),
        time=beijing_text,
        max_page_size=100,
        extra={"order_state": ",".join(ORDER_STATE), "optional_fields": ORDER_FIELDS, "dateType": 1},
    ),
    after_sales=RouterPull(
        method="jingdong.pop.afs.soa.refundapply.queryPageList",
        start_param="applyTimeStart",
        end_param="applyTimeEnd",
        page_param="pageIndex",
        page_size_param="pageSize",
        items=("queryResult", "result"),
        total=("queryResult", "totalCount"),
        time=beijing_text,
        max_page_size=100,
    ),
)


class JdAdapter(ChannelAdapter):
    channel = "jd"
    # UNVERIFIED: JD's search accepts longer ranges; one day keeps each pull small and like Taobao's.
    max_window = timedelta(days=1)
    pushes_webhooks = False
    wire = WIRE
    carrier_codes = CARRIER_CODES

    def map_state(self, payload: dict[str, Any]) -> ChannelState:
        return lookup(ORDER_STATE, Fields(payload).first("orderState"))

    def read_order(self, f: Fields) -> OrderDraft:
        consignee = f.obj("consigneeInfo")
        return OrderDraft(
            external_id=f.text("orderId"),
            buyer={
                "name": consignee.text("fullname"),
                "phone": consignee.text("mobile", "telephone"),
                "province": consignee.text("province"),
                "city": consignee.text("city"),
                "district": consignee.text("county", required=False) or "",
                "address": consignee.text("fullAddress"),
            },
            lines=[
                LineDraft(sku=item.text("outerSkuId"), quantity=item.count("itemTotal"),
                          unit_price=item.yuan("jdPrice", required=True), path=item.path)
                for item in f.items("itemInfoList")
            ],
            shipping_fee=f.yuan("freightPrice"),
            discount=f.yuan("sellerDiscount"),
            discount_path="sellerDiscount",
            buyer_message=f.text("orderRemark", required=False),
            placed_at=f.time("orderStartTime", required=False),
            modified_at=f.time("modified"),
            payment_evidence=f.raw("paymentConfirmTime") is not None,
            raw_status=str(f.raw("orderState", default="")),
        )

    def map_after_sale(self, payload: dict[str, Any], *, shop: str) -> PlatformAfterSale:
        f = Fields(payload)
        status = f.first("status")
        skus = f.raw("skuList", default=[])
        if not isinstance(skus, list):
            raise MappingError(f.at("skuList"), "expected a list")
        items = [Fields(item, f"skuList[{i}]") for i, item in enumerate(skus)]
        return self.assemble_after_sale(AfterSaleDraft(
            request_id=f.text("id"), external_id=f.text("orderId"),
            type=lookup(REQUEST_TYPE, f.first("refundType")),
            reason=reason_code(REASONS, f.text("reason", required=False)),
            amount=f.yuan("applyRefundSum", required=True) or None,
            lines=[(item.text("outerSkuId"), item.count("skuNum"), item.path) for item in items] or None,
            status=lookup(REQUEST_STATUS, status), raw_status=str(status.value),
            modified_at=f.time("checkTime", "applyTime"),
        ), shop=shop)

    def sign(self, params: dict[str, str], secret: str) -> str:
        return signing.md5_sign(params, secret)  # JD: the TOP-style sorted-concatenation MD5

    def shipback_params(self, external_id: str, waybill_no: str, carrier: str, *, is_split: bool) -> dict[str, Any]:
        # The reference call has no split flag: JD marks the whole order shipped with the first parcel.
        return {"method": "jingdong.pop.order.shipment", "orderId": external_id, "logiCoprId": carrier,
                "logiNo": waybill_no}

    def stock_params(self, outer_sku_id: str, quantity: int) -> dict[str, Any]:
        # UNVERIFIED call name: absolute stock by the seller's outer sku id.
        return {"method": "jingdong.stock.write.updateSkuStock", "outerId": outer_sku_id,
                "stockNum": check_stock_quantity(quantity)}

    def refund_params(self, external_id: str, refund_id: str, amount: int, *, status: RefundOutcome,
                      reason: str) -> dict[str, Any]:
        # UNVERIFIED reading of JD's refund-apply review: `id` is the refund application (here the hub's
        # after-sales ticket id), status 1 = agreed, 2 = refused; `orderId` and `applyRefundSum` (yuan) are
        # sent so the platform can check them against the order.
        return {"method": "jingdong.pop.afs.soa.refundapply.replyRefund", "id": refund_id, "orderId": external_id,
                "status": 1 if status == "REFUNDED" else 2, "applyRefundSum": fen_to_yuan(amount),
                "checkUserName": "orderhub", "remark": reason}

    def is_auth_error(self, error: dict[str, Any]) -> bool:
        return code_in(error_body(error), "code", AUTH_CODES)

    def is_rate_limited(self, error: dict[str, Any]) -> bool:
        return code_in(error_body(error), "code", RATE_CODES)
