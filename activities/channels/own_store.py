"""The seller's own web store / mini-program: our own webhook contract.

The webhook body IS the unified order JSON (`models.order.Order`: money already integer fen, the
buyer and lines in our field names), signed with hex HMAC-SHA256 of the raw body
(`signing.verify_hex_hmac`). On top of the Order fields the store sends, by contract:
- `status`: one of the ChannelState names (AWAITING_PAYMENT, PAID, PARTLY_SHIPPED, SHIPPED, DELIVERED,
  COMPLETED, CANCELLED, REFUNDING, REFUNDED). Optional: without it the state follows `paid`
  (true -> PAID, false or absent -> AWAITING_PAYMENT). A `paid` that contradicts `status` is refused.
- `updated_at`: when the store last changed the order (ISO-8601 with offset); `placed_at` stands in
  when it is absent. One of the two is required: every ChannelOrder needs its modified time.
- `trade_no` (an Order field): the payment gateway's trade, which the hub keeps for refunds, and
  `paid_amount`: the fen that trade took (what the order comes to; for the reconciliation, not mapped).
Error paths are the unified names: `external_id`, `buyer.phone`, `lines[1].sku`.

Wire (`OwnStoreWire`), our own REST API under `/own_store/{shop}` with `Authorization: Bearer <token>`
and `X-OwnStore-App-Key`; errors are HTTP statuses with `{"error_code", "message"}` (401 token, 429 rate):
- Pull: `GET orders?updated_at_min=&updated_at_max=&page=&page_size<=100` (ISO times, inclusive, ordered by
  `updated_at` ascending) -> `{"orders": [<the webhook body>], "total"}`; read last page first.
- Ship-back: `POST shipments {request_id, order_id, waybill_no, carrier}`; the request id (the hub's
  shipment id) makes a retry one shipment.
- Stock: `POST stock {sku, quantity}` (absolute).
- Refund: `POST orders/{external_id}/refunds {refund_id, amount (fen), status: REFUNDED|REJECTED, reason}`;
  the refund id (the hub's after-sales ticket id) makes a retry one refund.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal
from urllib.parse import quote

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
from activities.channels.wire import (
    Call,
    ChannelCallError,
    Page,
    ShopAccess,
    Wire,
    WireRequest,
    WireResponse,
    iso_seconds,
    rest_error,
)
from models.channel import RefundOutcome
from models.order import Order, OrderIn

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


CARRIER_CODES = {code: code for code in ("SF", "ZTO", "YTO", "JD", "EMS")}  # our store uses the hub's codes


class OwnStoreWire(Wire):
    paging: ClassVar[Literal["offset", "cursor"]] = "offset"
    max_page_size = 100

    def headers(self, access: ShopAccess) -> dict[str, str]:
        return {"Authorization": f"Bearer {access.access_token}", "X-OwnStore-App-Key": access.app_key}

    def pull_request(self, access: ShopAccess, start: datetime, end: datetime, *, page: int,
                     page_size: int) -> WireRequest:
        params = {"updated_at_min": iso_seconds(start), "updated_at_max": iso_seconds(end),
                  "page": str(page), "page_size": str(page_size)}
        return WireRequest("GET", f"/own_store/{access.shop}/orders", params=params, headers=self.headers(access),
                           op="pull")

    def read_page(self, response: WireResponse, request: WireRequest, access: ShopAccess) -> Page:
        body = response.body if isinstance(response.body, Mapping) else {}
        orders, total = body.get("orders"), body.get("total")
        if not isinstance(orders, list) or not isinstance(total, int):
            raise ChannelCallError("refused", "unexpected_response", "orders: no orders list and total")
        return Page(items=[o for o in orders if isinstance(o, dict)], total=total)

    def error_of(self, response: WireResponse) -> dict[str, Any] | None:
        return rest_error(response)

    def error_code(self, error: dict[str, Any]) -> str:
        return str(error.get("error_code") or error.get("status", "unknown"))

    async def ship_back(self, call: Call, access: ShopAccess, adapter: ChannelAdapter, *, external_id: str,
                        waybill_no: str, carrier: str, is_split: bool, request_id: str) -> None:
        params = adapter.shipback_params(external_id, waybill_no, carrier, is_split=is_split)
        await call(WireRequest("POST", f"/own_store/{access.shop}/shipments", json={"request_id": request_id, **params},
                               headers=self.headers(access), op="shipback"))

    async def push_stock(self, call: Call, access: ShopAccess, adapter: ChannelAdapter, *, sku: str,
                         quantity: int) -> None:
        await call(WireRequest("POST", f"/own_store/{access.shop}/stock", json=adapter.stock_params(sku, quantity),
                               headers=self.headers(access), op="stock"))

    async def push_refund(self, call: Call, access: ShopAccess, adapter: ChannelAdapter, *, external_id: str,
                          refund_id: str, amount: int, status: RefundOutcome, reason: str,
                          platform_request: bool = False) -> None:
        params = adapter.refund_params(external_id, refund_id, amount, status=status, reason=reason)
        if params is None:
            return  # nothing to tell this platform
        await call(WireRequest("POST", f"/own_store/{access.shop}/orders/{quote(external_id, safe='')}/refunds",
                               json=params, headers=self.headers(access), op="refund"))


class OwnStoreAdapter(ChannelAdapter):
    channel = "own_store"
    max_window = None  # our own API: no window limit; webhooks carry the orders, pull only reconciles
    pushes_webhooks = True
    wire = OwnStoreWire()
    carrier_codes = CARRIER_CODES

    def map_state(self, payload: dict[str, Any]) -> ChannelState:
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

    def map_order(self, payload: dict[str, Any], *, shop: str) -> ChannelOrder:
        f = Fields(payload)
        state = self.map_state(payload)
        channel = f.raw("channel", default=self.channel)
        if channel != self.channel:
            raise MappingError("channel", f"expected {self.channel}, got {channel!r}")
        sent_shop = f.raw("shop")
        if sent_shop is not None and sent_shop != shop:
            raise MappingError("shop", f"payload says {sent_shop!r}, the webhook was for {shop!r}")
        # The fields a caller may send (OrderIn's): not the hub's own (`replaces`), whatever the payload says.
        fields: dict[str, Found | str | bool] = {key: Found(key, payload[key]) for key in OrderIn.model_fields
                                                 if key in payload}
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

    def shipback_params(self, external_id: str, waybill_no: str, carrier: str, *, is_split: bool) -> dict[str, Any]:
        # POST /own_store/{shop}/shipments. The caller adds `request_id` (the shipment id) so retries
        # are one ship-back; a split parcel is one more shipment on the same order.
        return {"order_id": external_id, "waybill_no": waybill_no, "carrier": carrier}

    def stock_params(self, outer_sku_id: str, quantity: int) -> dict[str, Any]:
        return {"sku": outer_sku_id, "quantity": check_stock_quantity(quantity)}

    def refund_params(self, external_id: str, refund_id: str, amount: int, *, status: RefundOutcome,
                      reason: str) -> dict[str, Any]:
        # Our own contract: money stays integer fen.
        return {"refund_id": refund_id, "amount": amount, "status": status, "reason": reason}

    def is_auth_error(self, error: dict[str, Any]) -> bool:
        return http_status(error) == 401  # our store answers 401 to a revoked or expired API token

    def is_rate_limited(self, error: dict[str, Any]) -> bool:
        return http_status(error) == 429
