"""Taobao / Tmall (TOP open platform).

Payload: one trade as `taobao.trade.fullinfo.get` / `taobao.trades.sold.increment.get` return it.
Lines: TOP's JSON keeps its XML heritage and wraps lists, so the published shape is
`"orders": {"order": [...]}` (our golden payload uses it); a plain `"orders": [...]` list is accepted too
and error paths name whichever shape arrived (`orders.order[1].outer_sku_id` / `orders[1].outer_sku_id`).
Money: yuan decimal strings. Times: "YYYY-MM-DD HH:MM:SS" Beijing time.
State: the trade `status`, then line `refund_status` overlaid (see `REFUND_STATES`).
Amounts as Taobao computes them: `alipay_no` (the Alipay trade number the buyer paid under) is the
order's `trade_no`; each line's `divide_order_fee` (its share of the payment after the trade's
discounts are apportioned, `trade.fullinfo.get`) is the line's `paid_amount`. The line's `payment`
is what the line paid before trade-level discounts: not used. Both are optional (older payloads,
a `fields` list without them): the hub then apportions the discount itself.

Wire (`WIRE`): TOP router, a form POST to `/taobao/router/rest` (sandbox; production
`https://eco.taobao.com/router/rest`) with `method, app_key, session, timestamp, format=json, v=2.0,
sign_method=md5, sign` and the business parameters flat. Success under `<method without "taobao.",
dots as underscores>_response`, errors under `error_response {code, msg, sub_code, sub_msg}`.
Pull: `taobao.trades.sold.increment.get` -> `trades_sold_increment_get_response {total_results, trades:
{trade: [...]}}`, with `use_has_next=false` so that `total_results` comes back and pages can be read
from the last. UNVERIFIED: increment.get is assumed to return every field asked for in `fields` incl.
the receiver; a production integration may need `taobao.trade.fullinfo.get` per tid for those.
Refund: `taobao.rp.refund.review` (`result` true = refunded, false = refused; `refund_fee` in yuan).

After-sales requests: `taobao.refunds.receive.get` (refunds a seller received) -> `refunds_receive_get_response
{total_results, refunds: {refund: [...]}}`, `start_modified`/`end_modified` (<= 1 day, as the trade search),
`page_no`/`page_size`/`use_has_next=false`, `fields` required. A refund: `refund_id`, `tid`, `oid` (the line;
equal to `tid` for the whole trade), `outer_id` + `num` (the line's sku and quantity), `refund_fee` (yuan),
`status` (`REQUEST_STATUS`), `has_good_return` (true: return and refund), `reason` (buyer's reason text,
`REASONS`, UNVERIFIED texts), `modified`. The request is answered by its `refund_id` through
`taobao.rp.refund.review`.
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
    OrderDraft,
    check_stock_quantity,
    code_in,
    error_body,
    lookup,
    optional_yuan,
    reason_code,
    with_refunds,
)
from activities.channels.wire import RouterPull, RouterWire, beijing_text
from models.channel import PlatformAfterSale, PlatformRequestStatus, RefundOutcome
from models.money import fen_to_yuan

S = ChannelState

STATUS = {
    "TRADE_NO_CREATE_PAY": S.AWAITING_PAYMENT,
    "WAIT_BUYER_PAY": S.AWAITING_PAYMENT,
    "PAY_PENDING": S.AWAITING_PAYMENT,
    "WAIT_SELLER_SEND_GOODS": S.PAID,
    "SELLER_CONSIGNED_PART": S.PARTLY_SHIPPED,
    "WAIT_BUYER_CONFIRM_GOODS": S.SHIPPED,
    "TRADE_BUYER_SIGNED": S.DELIVERED,
    "TRADE_FINISHED": S.COMPLETED,
    "TRADE_CLOSED": S.CANCELLED,
    "TRADE_CLOSED_BY_TAOBAO": S.CANCELLED,
}

# Line refund_status -> None (no refund open), REFUNDING (open) or REFUNDED (refund paid out).
# A refund the buyer withdrew (CLOSED) or the seller refused (SELLER_REFUSE_BUYER) is not open.
REFUND_STATES: dict[str, ChannelState | None] = {
    "NO_REFUND": None,
    "WAIT_SELLER_AGREE": S.REFUNDING,
    "WAIT_BUYER_RETURN_GOODS": S.REFUNDING,
    "WAIT_SELLER_CONFIRM_GOODS": S.REFUNDING,
    "SELLER_REFUSE_BUYER": None,
    "CLOSED": None,
    "SUCCESS": S.REFUNDED,
}

# TOP refund `status` (reference values) -> where the buyer's request stands.
REQUEST_STATUS = {
    "WAIT_SELLER_AGREE": PlatformRequestStatus.PENDING,
    "WAIT_BUYER_RETURN_GOODS": PlatformRequestStatus.AGREED,
    "WAIT_SELLER_CONFIRM_GOODS": PlatformRequestStatus.AGREED,
    "SELLER_REFUSE_BUYER": PlatformRequestStatus.REFUSED,
    "CLOSED": PlatformRequestStatus.CLOSED,
    "SUCCESS": PlatformRequestStatus.REFUNDED,
}
# The buyer's reason text -> the hub's reason code (UNVERIFIED texts; anything else is `other`).
REASONS = {"七天无理由退换货": "no_reason", "七天无理由": "no_reason", "质量问题": "quality", "卖家发错货": "wrong_item",
           "商品破损": "damaged", "未收到货": "not_received"}
REFUND_FIELDS = ("refund_id,tid,oid,outer_id,num,total_fee,refund_fee,payment,status,good_status,has_good_return,"
                 "reason,desc,created,modified,order_status")

AUTH_CODES = {27}  # invalid-sessionkey: the shop's session expired or was revoked
AUTH_SUB_CODES = ("invalid-sessionkey", "sessionkey-not-exist")
RATE_CODES = {7}  # App Call Limited
RATE_SUB_CODE_PREFIX = "accesscontrol.limited-by-"  # ...-app-access-count, ...-api-access-count


# UNVERIFIED logistics company codes (TOP `taobao.logistics.companies.get` lists them).
CARRIER_CODES = {"SF": "SF", "ZTO": "ZTO", "YTO": "YTO", "EMS": "EMS", "JD": "JD"}

TRADE_FIELDS = (
    "tid,status,type,created,modified,pay_time,consign_time,payment,total_fee,post_fee,discount_fee,buyer_nick,"
    "buyer_message,seller_flag,receiver_name,receiver_state,receiver_city,receiver_district,receiver_address,"
    "receiver_zip,receiver_mobile,receiver_phone,alipay_no,orders"
)

WIRE = RouterWire(
    path="/taobao/router/rest",
    method_param="method",
    app_key_param="app_key",
    token_param="session",
    timestamp=beijing_text,
    system={"format": "json", "v": "2.0", "sign_method": "md5"},
    sign=signing.md5_sign,
    roots={
        "taobao.trades.sold.increment.get": "trades_sold_increment_get_response",
        "taobao.logistics.offline.send": "logistics_offline_send_response",
        "taobao.item.quantity.update": "item_quantity_update_response",
        "taobao.rp.refund.review": "rp_refund_review_response",
        "taobao.refunds.receive.get": "refunds_receive_get_response",
    },
    pull=RouterPull(
        method="taobao.trades.sold.increment.get",
        start_param="start_modified",
        end_param="end_modified",
        page_param="page_no",
        page_size_param="page_size",
        items=("trades",),
        total=("total_results",),
        time=beijing_text,
        max_page_size=100,
        extra={"fields": TRADE_FIELDS, "use_has_next": "false"},
    ),
    after_sales=RouterPull(
        method="taobao.refunds.receive.get",
        start_param="start_modified",
        end_param="end_modified",
        page_param="page_no",
        page_size_param="page_size",
        items=("refunds",),
        total=("total_results",),
        time=beijing_text,
        max_page_size=100,
        extra={"fields": REFUND_FIELDS, "use_has_next": "false"},
    ),
)


def _lines(f: Fields) -> list[Fields]:
    return f.items("orders", wrapper="order")


class TaobaoAdapter(ChannelAdapter):
    channel = "taobao"
    max_window = timedelta(days=1)  # taobao.trades.sold.increment.get: window at most one day
    pushes_webhooks = False  # TMC messages exist, but this project pulls
    wire = WIRE
    carrier_codes = CARRIER_CODES

    def map_state(self, payload: dict[str, Any]) -> ChannelState:
        f = Fields(payload)
        state = lookup(STATUS, f.first("status"))
        refunds = [lookup(REFUND_STATES, line.first("refund_status")) if line.raw("refund_status") else None
                   for line in _lines(f)]
        return with_refunds(state, refunds)

    def read_order(self, f: Fields) -> OrderDraft:
        lines = _lines(f)
        refund_statuses = sorted({str(line.raw("refund_status")) for line in lines if line.raw("refund_status")}
                                 - {"NO_REFUND"})
        raw = str(f.raw("status", default="")) + "".join(f" refund:{r}" for r in refund_statuses)
        return OrderDraft(
            external_id=f.text("tid"),
            buyer={
                "name": f.text("receiver_name"),
                "phone": f.text("receiver_mobile", "receiver_phone"),
                "province": f.text("receiver_state"),
                "city": f.text("receiver_city"),
                "district": f.text("receiver_district", required=False) or "",
                "address": f.text("receiver_address"),
                "zip": f.text("receiver_zip", required=False),
            },
            lines=[
                LineDraft(sku=line.text("outer_sku_id"), quantity=line.count("num"),
                          unit_price=line.yuan("price", required=True), path=line.path,
                          paid_amount=optional_yuan(line, "divide_order_fee"))
                for line in lines
            ],
            shipping_fee=f.yuan("post_fee"),
            discount=f.yuan("discount_fee"),
            discount_path="discount_fee",
            buyer_message=f.text("buyer_message", required=False),
            placed_at=f.time("created", required=False),
            modified_at=f.time("modified"),
            payment_evidence=f.raw("pay_time") is not None,
            trade_no=f.text("alipay_no", required=False),
            raw_status=raw,
        )

    def map_after_sale(self, payload: dict[str, Any], *, shop: str) -> PlatformAfterSale:
        f = Fields(payload)
        status = f.first("status")
        tid, oid = f.text("tid"), f.text("oid", required=False)
        sku = f.text("outer_id", required=False)
        whole = sku is None or oid is None or oid.value == tid.value
        returned = f.raw("has_good_return", default=False)
        return self.assemble_after_sale(AfterSaleDraft(
            request_id=f.text("refund_id"), external_id=tid,
            type="return_and_refund" if returned is True or str(returned).lower() == "true" else "refund_only",
            reason=reason_code(REASONS, f.text("reason", required=False)),
            amount=f.yuan("refund_fee", required=True) or None,
            lines=None if whole or sku is None else [(sku, f.count("num"), f.path or "refund")],
            status=lookup(REQUEST_STATUS, status), raw_status=str(status.value), modified_at=f.time("modified"),
        ), shop=shop)

    def sign(self, params: dict[str, str], secret: str) -> str:
        method = params.get("sign_method", "md5")
        if method == "md5":
            return signing.md5_sign(params, secret)
        if method == "hmac":
            return signing.hmac_md5_sign(params, secret)
        if method == "hmac-sha256":
            return signing.hmac_sha256_sign(params, secret)
        raise ValueError(f"unknown TOP sign_method {method!r}")

    def shipback_params(self, external_id: str, waybill_no: str, carrier: str, *, is_split: bool) -> dict[str, Any]:
        # A split consignment also needs `sub_tid` (the oids shipped in this parcel); the caller adds it,
        # since only the shipment knows its lines.
        return {
            "method": "taobao.logistics.offline.send",
            "tid": external_id,
            "out_sid": waybill_no,
            "company_code": carrier,
            "is_split": "1" if is_split else "0",
        }

    def stock_params(self, outer_sku_id: str, quantity: int) -> dict[str, Any]:
        # UNVERIFIED which call: taobao.item.quantity.update by outer_id, full update (type=1).
        # TOP may also want num_iid, which the hub does not hold; the sandbox accepts outer_id alone.
        return {
            "method": "taobao.item.quantity.update",
            "outer_id": outer_sku_id,
            "quantity": str(check_stock_quantity(quantity)),
            "type": "1",
        }

    def refund_params(self, external_id: str, refund_id: str, amount: int, *, status: RefundOutcome,
                      reason: str) -> dict[str, Any]:
        # UNVERIFIED reading: TOP's review call takes the platform's own refund id and `refund_version` and
        # no amount; the hub sends the buyer's refund id when the ticket came from one (else its after-sales
        # ticket id, the idempotency key at the sandbox), the trade and the amount, and the sandbox takes
        # that. `refund_phase` aftersale: after shipping or not.
        return {
            "method": "taobao.rp.refund.review",
            "tid": external_id,
            "refund_id": refund_id,
            "refund_phase": "aftersale",
            "result": "true" if status == "REFUNDED" else "false",
            "refund_fee": fen_to_yuan(amount),
            "message": reason,
            "operator": "orderhub",
        }

    def is_auth_error(self, error: dict[str, Any]) -> bool:
        body = error_body(error)
        sub_code = str(body.get("sub_code") or "")
        return code_in(body, "code", AUTH_CODES) or any(s in sub_code for s in AUTH_SUB_CODES)

    def is_rate_limited(self, error: dict[str, Any]) -> bool:
        body = error_body(error)
        return code_in(body, "code", RATE_CODES) or str(body.get("sub_code") or "").startswith(RATE_SUB_CODE_PREFIX)
