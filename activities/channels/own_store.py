"""The seller's own web store / mini-program: our own webhook contract.

The webhook body IS the unified order JSON (`models.order.Order`: money already integer fen, the
buyer and lines in our field names), signed with hex HMAC-SHA256 of the raw body
(`signing.verify_hex_hmac`). On top of the Order fields the store sends, by contract:
- `status`: one of the ChannelState names (AWAITING_PAYMENT, PAID, PARTLY_SHIPPED, SHIPPED, DELIVERED,
  COMPLETED, CANCELLED, REFUNDING, REFUNDED). Optional: without it the state follows `paid`
  (true -> PAID, false or absent -> AWAITING_PAYMENT). A `paid` that contradicts `status` is refused.
- `updated_at`: when the store last changed the order (ISO-8601 with offset); `placed_at` stands in
  when it is absent. One of the two is required: every ChannelOrder needs its modified time.
Error paths are the unified names: `external_id`, `buyer.phone`, `lines[1].sku`.
"""

from __future__ import annotations

from activities.channels.base import (
    PAID_STATES,
    ChannelAdapter,
    ChannelOrder,
    ChannelState,
    Fields,
    Found,
    MappingError,
    OrderDraft,
    build_model,
    check_stock_quantity,
    http_status,
    lookup,
    paid_flag,
)
from models.order import Order

S = ChannelState

STATUS = {
    "AWAITING_PAYMENT": S.AWAITING_PAYMENT,
    "PAID": S.PAID,
    "PARTLY_SHIPPED": S.PARTLY_SHIPPED,
    "SHIPPED": S.SHIPPED,
    "DELIVERED": S.DELIVERED,
    "COMPLETED": S.COMPLETED,
    "CANCELLED": S.CANCELLED,
    "REFUNDING": S.REFUNDING,
    "REFUNDED": S.REFUNDED,
}


class OwnStoreAdapter(ChannelAdapter):
    channel = "own_store"
    max_window = None  # our own API: no window limit; webhooks carry the orders, pull only reconciles
    pushes_webhooks = True

    def map_state(self, payload: dict) -> ChannelState:
        f = Fields(payload)
        paid = f.raw("paid")
        if paid is not None and not isinstance(paid, bool):
            raise MappingError("paid", f"expected true or false, got {paid!r}")
        status = f.first("status", required=False)
        if status is None:
            return S.PAID if paid else S.AWAITING_PAYMENT
        state = lookup(STATUS, status)
        if (paid is False and state in PAID_STATES) or (paid is True and state is S.AWAITING_PAYMENT):
            raise MappingError("paid", f"{paid} contradicts status {status.value}")
        return state

    def map_order(self, payload: dict, *, shop: str) -> ChannelOrder:
        f = Fields(payload)
        state = self.map_state(payload)
        channel = f.raw("channel", default=self.channel)
        if channel != self.channel:
            raise MappingError("channel", f"expected {self.channel}, got {channel!r}")
        sent_shop = f.raw("shop")
        if sent_shop is not None and sent_shop != shop:
            raise MappingError("shop", f"payload says {sent_shop!r}, the webhook was for {shop!r}")
        fields = {key: Found(key, payload[key]) for key in Order.model_fields if key in payload}
        fields.update(
            channel=self.channel,
            shop=Found("shop", shop),
            paid=paid_flag(state, payload.get("paid") is True),
        )
        order = build_model(Order, fields, where="")  # paths are the unified names
        modified_at = f.time("updated_at", "placed_at", naive_tz=None)
        raw = str(f.raw("status", default=f"paid={f.raw('paid', default=False)}"))
        return ChannelOrder(order=order, state=state, modified_at=modified_at, raw_status=raw)

    def read_order(self, f: Fields) -> OrderDraft:  # pragma: no cover - map_order validates the JSON whole
        raise NotImplementedError("the own store sends the unified order; see map_order")

    def shipback_params(self, external_id: str, waybill_no: str, carrier: str, *, is_split: bool) -> dict:
        # POST /own_store/{shop}/shipments. The caller adds `request_id` (the shipment id) so retries
        # are one ship-back; a split parcel is one more shipment on the same order.
        return {"order_id": external_id, "waybill_no": waybill_no, "carrier": carrier}

    def stock_params(self, outer_sku_id: str, quantity: int) -> dict:
        return {"sku": outer_sku_id, "quantity": check_stock_quantity(quantity)}

    def is_auth_error(self, error: dict) -> bool:
        return http_status(error) == 401  # our store answers 401 to a revoked or expired API token

    def is_rate_limited(self, error: dict) -> bool:
        return http_status(error) == 429
