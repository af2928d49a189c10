"""Douyin shop (`order.searchList` -> `data.shop_order_list[]`).

Payload: one `shop_order_list` item with `sku_order_list`. Money: integer fen. Times: epoch seconds.
`post_addr {province, city, town, detail}`: each part may be an object `{"name": ...}` or a plain string.
Receiver: `post_tel` (and, UNVERIFIED, `post_receiver`) are encrypted; when the platform also sends the
masked copies `mask_post_receiver` / `mask_post_tel` (UNVERIFIED names) those are preferred, as for
Pinduoduo; no decryption is attempted here.
UNVERIFIED readings: a sku order's `origin_amount` is the line total (original unit price x item_num),
so the unit price is origin_amount / item_num and must divide exactly; shipping is `post_amount`
(absent = 0); the discount is derived from `pay_amount` (goods + shipping - discount = paid);
`after_sale_info.refund_status` 0 none, 1 awaiting refund, 2 refunding, 3 refunded, 4 refund failed.
A sku order's `pay_amount` (fen, 支付金额) is the line's share of the payment: the line's `paid_amount`
(UNVERIFIED whether it includes the line's part of `post_amount`; when the lines' amounts do not add up
to what was paid for the goods the hub apportions instead). No payment trade number is read (UNVERIFIED
which field carries one): a refund goes through Douyin's after-sales API, keyed by the order.

Wire (`WIRE`): `POST /douyin/<method with dots as slashes>` (sandbox; production
`https://openapi-fxg.jinritemai.com/order/searchList`) with `app_key, method, access_token, timestamp
(Beijing text), v=2, sign_method=hmac-sha256, sign` in the query and `param_json` (compact, sorted keys)
as the JSON body; the signature covers `param_json` (`signing.douyin_sign`). Answers are
`{code, msg, sub_code, sub_msg, data}` with code 10000 on success. Pull: `order.searchList` ->
`data {total, shop_order_list}` with `page` from 0, `size` <= 100, `order_by=update_time`,
`order_asc=true` (UNVERIFIED parameter name), times as epoch seconds.
Refund: `afterSale.operate` (`POST /douyin/afterSale/operate`), `type` 201 agree / 202 refuse (UNVERIFIED
codes), `refund_amount` in fen.

After-sales requests: `afterSale.List` -> `data {items, total, has_more}` with `update_start_time`/
`update_end_time` (epoch seconds), `page` from 0, `size` <= 100. UNVERIFIED: the reference nests an item's
fields under `aftersale_info` / `order_info`; the sandbox (and this mapping) reads them flat: `aftersale_id`,
`order_id`, `aftersale_type` (0 return and refund, 1 refund only after shipping, 2 refund only before
shipping; 3 exchange is not a refund and is refused here), `aftersale_status` (`REQUEST_STATUS`),
`refund_amount` (fen), `reason` (texts), `update_time`, `sku_list [{out_sku_id, item_num}]` (empty: the whole
order). The after-sale is answered by its `aftersale_id` through afterSale.operate.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    MappingError,
    OrderDraft,
    check_stock_quantity,
    code_in,
    derived_discount,
    error_body,
    lookup,
    optional_fen,
    reason_code,
    with_refunds,
)
from activities.channels.wire import RouterPull, RouterWire, beijing_text, epoch_seconds
from models.channel import PlatformAfterSale, PlatformRequestStatus, RefundOutcome

S = ChannelState

ORDER_STATUS = {
    1: S.AWAITING_PAYMENT,
    105: S.PAID,  # paid (pre-shipment bookkeeping state)
    2: S.PAID,  # awaiting shipment
    101: S.PARTLY_SHIPPED,
    3: S.SHIPPED,  # UNVERIFIED per the reference
    4: S.CANCELLED,
    5: S.COMPLETED,
}
REFUND_STATUS: dict[int, ChannelState | None] = {0: None, 1: S.REFUNDING, 2: S.REFUNDING, 3: S.REFUNDED, 4: None}

# UNVERIFIED (Douyin answers `{code, msg, sub_code, sub_msg}` at the top level, success code 10000):
# auth = code 30001/30002 or sub_code isv.access-token-*; rate limited = code 90000 or a *flow-limit sub_code.
AUTH_SUB_CODE_PREFIX = "isv.access-token-"  # ...-expired, ...-no-existed
AUTH_CODES = {30001, 30002}
RATE_CODES = {90000}

# UNVERIFIED aftersale_type and aftersale_status codes.
REQUEST_TYPE = {0: "return_and_refund", 1: "refund_only", 2: "refund_only"}
REQUEST_STATUS = {
    6: PlatformRequestStatus.PENDING,  # the buyer applied, awaiting the seller
    7: PlatformRequestStatus.AGREED,  # awaiting the buyer's return parcel
    11: PlatformRequestStatus.AGREED,  # the buyer shipped it back
    12: PlatformRequestStatus.REFUNDED,
    27: PlatformRequestStatus.REFUSED,
    28: PlatformRequestStatus.CLOSED,
}
REASONS = {"七天无理由": "no_reason", "质量问题": "quality", "商家发错货": "wrong_item", "商品破损": "damaged",
           "未收到货": "not_received"}  # UNVERIFIED texts

# UNVERIFIED afterSale.operate types: agree to refund, refuse.
REFUND_AGREE, REFUND_REFUSE = 201, 202

# UNVERIFIED `company_code` values (Douyin's logistics company list uses pinyin codes).
CARRIER_CODES = {"SF": "shunfeng", "ZTO": "zhongtong", "YTO": "yuantong", "EMS": "ems", "JD": "jd"}

WIRE = RouterWire(
    path="/douyin/{method_path}",
    method_param="method",
    app_key_param="app_key",
    token_param="access_token",
    timestamp=beijing_text,
    system={"v": "2", "sign_method": "hmac-sha256"},
    sign=signing.douyin_sign,
    business_param="param_json",
    business_as_body=True,
    error_root=None,
    ok_code=10000,
    roots={"order.searchList": "data", "order.logisticsAdd": "data", "sku.syncStock": "data",
           "afterSale.operate": "data", "afterSale.List": "data"},
    pull=RouterPull(
        method="order.searchList",
        start_param="update_time_start",
        end_param="update_time_end",
        page_param="page",
        page_size_param="size",
        items=("shop_order_list",),
        total=("total",),
        time=lambda moment: int(epoch_seconds(moment)),
        max_page_size=100,
        first_page=0,
        extra={"order_by": "update_time", "order_asc": True},
    ),
    after_sales=RouterPull(
        method="afterSale.List",
        start_param="update_start_time",
        end_param="update_end_time",
        page_param="page",
        page_size_param="size",
        items=("items",),
        total=("total",),
        time=lambda moment: int(epoch_seconds(moment)),
        max_page_size=100,
        first_page=0,
    ),
)


def _line_refund(line: Fields) -> ChannelState | None:
    info = line.obj("after_sale_info", required=False)
    if info is None or info.raw("refund_status") is None:
        return None
    return lookup(REFUND_STATUS, info.first("refund_status"))


def _place(addr: Fields, key: str, *, required: bool = True) -> Found | None:
    """A `post_addr` part: `{"name": "浙江省", "id": "33"}` or `"浙江省"`."""
    found = addr.first(key, required=required)
    if found is None or not isinstance(found.value, Mapping):
        return addr.text(key, required=required)
    return Fields(found.value, found.path).text("name", required=required)


class DouyinAdapter(ChannelAdapter):
    channel = "douyin"
    max_window = timedelta(days=1)  # UNVERIFIED limit; one day keeps each pull small
    pushes_webhooks = False  # Douyin has push messages, but this project pulls
    wire = WIRE
    carrier_codes = CARRIER_CODES

    def map_state(self, payload: dict[str, Any]) -> ChannelState:
        f = Fields(payload)
        state = lookup(ORDER_STATUS, f.first("order_status"))
        return with_refunds(state, [_line_refund(line) for line in f.items("sku_order_list")])

    def read_order(self, f: Fields) -> OrderDraft:
        drafts = []
        for line in f.items("sku_order_list"):
            quantity = line.count("item_num")
            total = line.first("origin_amount")
            amount = line.fen("origin_amount", required=True)
            if amount % quantity:
                raise MappingError(total.path, f"{amount} fen does not divide into {quantity} items")
            drafts.append(LineDraft(sku=line.text("out_sku_id"), quantity=quantity,
                                    unit_price=amount // quantity, path=line.path,
                                    paid_amount=optional_fen(line, "pay_amount")))
        shipping = f.fen("post_amount")
        paid = f.first("pay_amount")
        addr = f.obj("post_addr")
        goods = sum(d.quantity * d.unit_price for d in drafts)
        return OrderDraft(
            external_id=f.text("order_id"),
            buyer={
                "name": f.text("mask_post_receiver", "post_receiver"),
                "phone": f.text("mask_post_tel", "post_tel"),
                "province": _place(addr, "province"),
                "city": _place(addr, "city"),
                "district": _place(addr, "town", required=False) or "",
                "address": _place(addr, "detail"),
            },
            lines=drafts,
            shipping_fee=shipping,
            discount=derived_discount(goods, shipping, Found(paid.path, f.fen("pay_amount", required=True))),
            discount_path=paid.path,
            buyer_message=f.text("buyer_words", required=False),
            placed_at=f.time("create_time", required=False),
            modified_at=f.time("update_time"),
            payment_evidence=bool(f.raw("pay_time", default=0)),  # Douyin sends 0 when unpaid
            raw_status=str(f.raw("order_status", default="")),
        )

    def map_after_sale(self, payload: dict[str, Any], *, shop: str) -> PlatformAfterSale:
        f = Fields(payload)
        status = f.first("aftersale_status")
        skus = f.raw("sku_list", default=[])
        if not isinstance(skus, list):
            raise MappingError(f.at("sku_list"), "expected a list")
        items = [Fields(item, f"sku_list[{i}]") for i, item in enumerate(skus)]
        return self.assemble_after_sale(AfterSaleDraft(
            request_id=f.text("aftersale_id"), external_id=f.text("order_id"),
            type=lookup(REQUEST_TYPE, f.first("aftersale_type")),
            reason=reason_code(REASONS, f.text("reason", required=False)),
            amount=f.fen("refund_amount", required=True) or None,
            lines=[(item.text("out_sku_id"), item.count("item_num"), item.path) for item in items] or None,
            status=lookup(REQUEST_STATUS, status), raw_status=str(status.value), modified_at=f.time("update_time"),
        ), shop=shop)

    def sign(self, params: dict[str, str], secret: str) -> str:
        return signing.douyin_sign(params, secret)  # UNVERIFIED scheme, see signing.py

    def shipback_params(self, external_id: str, waybill_no: str, carrier: str, *, is_split: bool) -> dict[str, Any]:
        # No split flag in the reference call (Douyin has a separate multi-pack call, not used here):
        # the first parcel ships the order. Business parameters go into `param_json` in transport.
        return {"method": "order.logisticsAdd", "order_id": external_id, "company_code": carrier,
                "logistics_code": waybill_no}

    def stock_params(self, outer_sku_id: str, quantity: int) -> dict[str, Any]:
        return {"method": "sku.syncStock", "out_sku_id": outer_sku_id,
                "stock_num": check_stock_quantity(quantity), "incremental": False}

    def refund_params(self, external_id: str, refund_id: str, amount: int, *, status: RefundOutcome,
                      reason: str) -> dict[str, Any]:
        # UNVERIFIED reading of afterSale/operate: the after-sale id is the hub's ticket id, `type` says
        # agree (201) or refuse (202); amounts stay integer fen as everywhere at Douyin.
        return {"method": "afterSale.operate", "aftersale_id": refund_id, "order_id": external_id,
                "type": REFUND_AGREE if status == "REFUNDED" else REFUND_REFUSE, "refund_amount": amount,
                "remark": reason}

    def is_auth_error(self, error: dict[str, Any]) -> bool:
        body = error_body(error)
        return code_in(body, "code", AUTH_CODES) or str(body.get("sub_code") or "").startswith(AUTH_SUB_CODE_PREFIX)

    def is_rate_limited(self, error: dict[str, Any]) -> bool:
        body = error_body(error)
        return code_in(body, "code", RATE_CODES) or "flow-limit" in str(body.get("sub_code") or "")
