"""Pinduoduo (`pdd.order.number.list.increment.get` / `pdd.order.information.get` order items).

Receiver data: `receiver_name`, `receiver_phone`, `receiver_address` arrive ENCRYPTED; plain text only
via `pdd.open.decrypt.batch`, which this adapter does not call. NOTE: the buyer is therefore mapped
from the masked copies (`receiver_name_mask`, `receiver_phone_mask`, `receiver_address_mask`): the
unified order holds e.g. "张*" / "138****1234" until a decrypting step replaces them. Waybills for PDD
orders are printed through the platform's privacy (electronic waybill) service, which accepts the
encrypted receiver. `province`, `city`, `town` are sent in plain text (PDD field names; not in our
reference list, UNVERIFIED).
Money: yuan as JSON decimal numbers (UNVERIFIED whether some fields are fen; the reference says yuan).
`goods_price` is the unit price; shipping is `postage` (UNVERIFIED field name, absent = 0); the
discount is derived from `pay_amount` so that goods + shipping - discount = what the buyer paid.
Only paid orders are listed (order_status starts at 1 = awaiting shipment).
`pay_no` (支付单号, `pdd.order.information.get`) is the order's `trade_no`. `item_list` items carry no
share of the payment (only `goods_price` and `goods_count`): the hub apportions the discount by list price.

Wire (`WIRE`): a form POST to `/pinduoduo/api/router` (sandbox; production `https://gw-api.pinduoduo.com/api/router`)
with `type` (the API name), `client_id`, `access_token`, `timestamp` (epoch seconds), `data_type=JSON`,
`version=V1`, `sign` (MD5 as TOP) and the business parameters flat. Errors: `error_response {error_code,
error_msg, sub_code, sub_msg}`. Pull: `pdd.order.number.list.increment.get` ->
`order_sn_increment_get_response {total_count, has_next, order_sn_list}` with `use_has_next=false`,
`order_status=5` and `refund_status=5` (all; UNVERIFIED codes), times as epoch seconds (UNVERIFIED).
Refund: `pdd.refund.agree` / `pdd.refund.refuse` (UNVERIFIED names) with `refund_amount` in yuan.

After-sales requests: `pdd.refund.list.increment.get` -> `refund_increment_get_response {total_count,
refund_list}` with `start_updated_at`/`end_updated_at` (epoch seconds, <= 30 minutes, as the order pull),
`after_sales_status=1` and `after_sales_type=1` (all; UNVERIFIED codes), `page`, `page_size`. An item: `id`,
`order_sn`, `after_sales_type` (2 refund only, 3 return and refund; exchanges, resends and repairs are not
refunds and are refused here), `after_sales_status` (`REQUEST_STATUS`, the reference's codes),
`refund_amount` (UNVERIFIED: fen), `outer_id` + `goods_number` (the goods line; no `outer_id`: the whole
order), `after_sale_reason` (UNVERIFIED texts), `updated_time` (UNVERIFIED: Beijing text or epoch). The
after-sale is answered by its `id` (`after_sales_id`) through pdd.refund.agree / refuse.
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
    Found,
    LineDraft,
    OrderDraft,
    check_stock_quantity,
    code_in,
    derived_discount,
    error_body,
    lookup,
    reason_code,
    with_refunds,
    yuan_field,
)
from activities.channels.wire import RouterPull, RouterWire, epoch_seconds
from models.channel import PlatformAfterSale, PlatformRequestStatus, RefundOutcome
from models.money import fen_to_yuan

S = ChannelState

ORDER_STATUS = {1: S.PAID, 2: S.SHIPPED, 3: S.DELIVERED}  # 3 = received (signed for by the buyer)
REFUND_STATUS: dict[int, ChannelState | None] = {1: None, 2: S.REFUNDING, 3: S.REFUNDING, 4: S.REFUNDED}

# after_sales_status (reference codes) -> where the buyer's request stands.
REQUEST_STATUS = {
    2: PlatformRequestStatus.PENDING,  # buyer asks for a refund, awaiting the seller
    3: PlatformRequestStatus.PENDING,  # return and refund, awaiting the seller
    4: PlatformRequestStatus.AGREED,  # the seller agreed, refunding
    5: PlatformRequestStatus.AGREED,  # the platform agreed, refunding
    6: PlatformRequestStatus.REFUSED,
    7: PlatformRequestStatus.AGREED,  # return agreed, awaiting the buyer's parcel
    8: PlatformRequestStatus.PENDING,  # the platform is handling it
    9: PlatformRequestStatus.CLOSED,  # the platform refused, closed
    10: PlatformRequestStatus.REFUNDED,
    11: PlatformRequestStatus.CLOSED,  # withdrawn by the buyer
    12: PlatformRequestStatus.CLOSED,
    13: PlatformRequestStatus.CLOSED,
}
REQUEST_TYPE = {2: "refund_only", 3: "return_and_refund"}
REASONS = {"七天无理由退货": "no_reason", "质量问题": "quality", "商家发错货": "wrong_item", "商品破损": "damaged",
           "未收到货": "not_received"}  # UNVERIFIED texts

# UNVERIFIED codes (PDD `error_response {error_code, error_msg, sub_code, sub_msg}`):
# 10019 = access_token expired/invalid; 70031 = call rate limited.
AUTH_CODES = {10019}
RATE_CODES = {70031}

# UNVERIFIED `logistics_id` values (pdd.logistics.companies.get lists them).
CARRIER_CODES = {"SF": "44", "ZTO": "115", "YTO": "85", "EMS": "118", "JD": "120"}

WIRE = RouterWire(
    path="/pinduoduo/api/router",
    method_param="type",
    app_key_param="client_id",
    token_param="access_token",
    timestamp=epoch_seconds,
    system={"data_type": "JSON", "version": "V1"},
    sign=signing.md5_sign,
    error_code_key="error_code",
    roots={
        "pdd.order.number.list.increment.get": "order_sn_increment_get_response",
        "pdd.logistics.online.send": "logistics_online_send_response",
        "pdd.goods.sku.stock.update": "goods_sku_stock_update_response",
        "pdd.refund.agree": "refund_agree_response",
        "pdd.refund.refuse": "refund_refuse_response",
        "pdd.refund.list.increment.get": "refund_increment_get_response",
    },
    pull=RouterPull(
        method="pdd.order.number.list.increment.get",
        start_param="start_updated_at",
        end_param="end_updated_at",
        page_param="page",
        page_size_param="page_size",
        items=("order_sn_list",),
        total=("total_count",),
        time=epoch_seconds,
        max_page_size=100,
        extra={"order_status": 5, "refund_status": 5, "use_has_next": "false"},
    ),
    after_sales=RouterPull(
        method="pdd.refund.list.increment.get",
        start_param="start_updated_at",
        end_param="end_updated_at",
        page_param="page",
        page_size_param="page_size",
        items=("refund_list",),
        total=("total_count",),
        time=epoch_seconds,
        max_page_size=100,
        extra={"after_sales_status": 1, "after_sales_type": 1},
    ),
)


class PinduoduoAdapter(ChannelAdapter):
    channel = "pinduoduo"
    max_window = timedelta(minutes=30)  # increment.get: window at most 30 minutes
    pushes_webhooks = False
    wire = WIRE
    carrier_codes = CARRIER_CODES

    def map_state(self, payload: dict[str, Any]) -> ChannelState:
        f = Fields(payload)
        state = lookup(ORDER_STATUS, f.first("order_status"))
        refund = lookup(REFUND_STATUS, f.first("refund_status"))
        return with_refunds(state, [refund])

    def read_order(self, f: Fields) -> OrderDraft:
        drafts = [
            LineDraft(sku=item.text("outer_sku_id"), quantity=item.count("goods_count"),
                      unit_price=item.yuan("goods_price", required=True), path=item.path)
            for item in f.items("item_list")
        ]
        shipping = f.yuan("postage")
        paid = f.first("pay_amount")
        goods = sum(d.quantity * d.unit_price for d in drafts)
        return OrderDraft(
            external_id=f.text("order_sn"),
            buyer={
                "name": f.text("receiver_name_mask"),
                "phone": f.text("receiver_phone_mask"),
                "province": f.text("province"),
                "city": f.text("city"),
                "district": f.text("town", required=False) or "",
                "address": f.text("receiver_address_mask"),
            },
            lines=drafts,
            shipping_fee=shipping,
            discount=derived_discount(goods, shipping, Found(paid.path, yuan_field(paid))),
            discount_path=paid.path,
            buyer_message=f.text("buyer_memo", required=False),
            placed_at=f.time("created_time", required=False),
            modified_at=f.time("updated_at"),
            payment_evidence=f.raw("confirm_time") is not None,
            trade_no=f.text("pay_no", required=False),
            raw_status=f"order_status={f.raw('order_status')} refund_status={f.raw('refund_status')}",
        )

    def map_after_sale(self, payload: dict[str, Any], *, shop: str) -> PlatformAfterSale:
        f = Fields(payload)
        status = f.first("after_sales_status")
        sku = f.text("outer_id", required=False)
        return self.assemble_after_sale(AfterSaleDraft(
            request_id=f.text("id"), external_id=f.text("order_sn"),
            type=lookup(REQUEST_TYPE, f.first("after_sales_type")),
            reason=reason_code(REASONS, f.text("after_sale_reason", required=False)),
            amount=f.fen("refund_amount", required=True) or None,
            lines=None if sku is None else [(sku, f.count("goods_number"), f.path or "refund")],
            status=lookup(REQUEST_STATUS, status), raw_status=str(status.value),
            modified_at=f.time("updated_time"),
        ), shop=shop)

    def sign(self, params: dict[str, str], secret: str) -> str:
        return signing.md5_sign(params, secret)  # PDD: the TOP-style sorted-concatenation MD5

    def shipback_params(self, external_id: str, waybill_no: str, carrier: str, *, is_split: bool) -> dict[str, Any]:
        # PDD names the API in `type`. No split flag in the reference call: the first parcel ships the order.
        return {"type": "pdd.logistics.online.send", "order_sn": external_id, "logistics_id": carrier,
                "tracking_number": waybill_no}

    def stock_params(self, outer_sku_id: str, quantity: int) -> dict[str, Any]:
        # update_type 1 = full (absolute) quantity. UNVERIFIED that outer_id alone identifies the sku
        # (PDD may also want goods_id/sku_id).
        return {"type": "pdd.goods.sku.stock.update", "outer_id": outer_sku_id,
                "quantity": str(check_stock_quantity(quantity)), "update_type": "1"}

    def refund_params(self, external_id: str, refund_id: str, amount: int, *, status: RefundOutcome,
                      reason: str) -> dict[str, Any]:
        # UNVERIFIED: one call to agree and one to refuse an after-sale, keyed by `after_sales_id` (the hub's
        # ticket id); the amount in yuan like the reference's other amounts (PDD may want fen here).
        method = "pdd.refund.agree" if status == "REFUNDED" else "pdd.refund.refuse"
        return {"type": method, "order_sn": external_id, "after_sales_id": refund_id,
                "refund_amount": fen_to_yuan(amount), "operate_desc": reason}

    def is_auth_error(self, error: dict[str, Any]) -> bool:
        return code_in(error_body(error), "error_code", AUTH_CODES)

    def is_rate_limited(self, error: dict[str, Any]) -> bool:
        return code_in(error_body(error), "error_code", RATE_CODES)
