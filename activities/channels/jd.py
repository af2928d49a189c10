"""JD POP (`jingdong.pop.order.search` -> `searchorderinfo_result.orderInfoList[]`).

Payload: one `orderInfoList` item. Money: yuan decimal strings. Times: "YYYY-MM-DD HH:MM:SS" Beijing time.
Unit price `jdPrice`, quantity `itemTotal` (JD sends it as a string: "2").
The order search only returns orders that are paid (or cash-on-delivery, UNVERIFIED: treated as paid
like the rest), so there is no awaiting-payment state; a cancelled order counts as paid when it carries
`paymentConfirmTime`.
Business parameters are shown flat; the transport wraps them into `360buy_param_json` for the call.
"""

from __future__ import annotations

from datetime import timedelta

from activities.channels import signing
from activities.channels.base import (
    ChannelAdapter,
    ChannelState,
    Fields,
    LineDraft,
    OrderDraft,
    check_stock_quantity,
    code_in,
    error_body,
    lookup,
)

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

# UNVERIFIED codes (JD `error_response {code, zh_desc, en_desc}`): 19 = access_token invalid or
# expired; 67 = call frequency limit exceeded.
AUTH_CODES = {19}
RATE_CODES = {67}


class JdAdapter(ChannelAdapter):
    channel = "jd"
    # UNVERIFIED: JD's search accepts longer ranges; one day keeps each pull small and like Taobao's.
    max_window = timedelta(days=1)
    pushes_webhooks = False

    def map_state(self, payload: dict) -> ChannelState:
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

    def sign(self, params: dict[str, str], secret: str) -> str:
        return signing.md5_sign(params, secret)  # JD: the TOP-style sorted-concatenation MD5

    def shipback_params(self, external_id: str, waybill_no: str, carrier: str, *, is_split: bool) -> dict:
        # The reference call has no split flag: JD marks the whole order shipped with the first parcel.
        return {"method": "jingdong.pop.order.shipment", "orderId": external_id, "logiCoprId": carrier,
                "logiNo": waybill_no}

    def stock_params(self, outer_sku_id: str, quantity: int) -> dict:
        # UNVERIFIED call name: absolute stock by the seller's outer sku id.
        return {"method": "jingdong.stock.write.updateSkuStock", "outerId": outer_sku_id,
                "stockNum": check_stock_quantity(quantity)}

    def is_auth_error(self, error: dict) -> bool:
        return code_in(error_body(error), "code", AUTH_CODES)

    def is_rate_limited(self, error: dict) -> bool:
        return code_in(error_body(error), "code", RATE_CODES)
