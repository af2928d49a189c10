"""The seller's own web store under `/own_store/{shop}`: `Authorization: Bearer <token>` (and, when sent,
`X-OwnStore-App-Key` must match); errors `{"error_code", "message"}` with HTTP statuses (401 token,
429 rate limit, 404, 409, 400).

- `GET orders?updated_at_min&updated_at_max&page&page_size<=100` (ISO, inclusive, oldest change first)
  -> `{"orders": [<the webhook body>], "total"}`.
- `POST shipments {request_id, order_id, waybill_no, carrier, lines?}`: one shipment per request id. The
  store also accepts shipments for orders it did not create here (orders posted to the hub directly,
  as in the README's walk-through): they are recorded without a state change.
- `POST stock {sku, quantity}` (absolute; the sku must be listed in the shop).
- `POST orders/{external_id}/refunds {refund_id, amount (fen), status: REFUNDED|REJECTED, reason?}`: one
  refund per order and refund id (a repeat answers the first one). Like shipments, refunds for orders the
  store did not create here are recorded without a state change.
- Payment: the buyer pays through the sandbox payment gateway (sandbox/gateway.py), one trade per order with
  out_trade_no `{shop}-{external_id}` for what the order comes to; the order JSON then carries the trade's
  `trade_no` and `paid_amount` (fen), null while unpaid.
- Webhooks: the unified order JSON plus `status` and `updated_at` (our own contract, see the hub's adapter),
  headers `X-OwnStore-Hmac-SHA256` (hex HMAC-SHA256 of the body, app secret), `X-OwnStore-Event-Id`,
  `X-OwnStore-Topic` (`orders/create`, `orders/paid`, `orders/cancelled`, `orders/refunded`).
"""

from __future__ import annotations

from typing import Any, Literal

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.faults import FaultInjectedRoute
from sandbox.platforms import signing
from sandbox.platforms.rest import RestError, RestPlatform
from sandbox.platforms.shopify import iso
from sandbox.platforms.state import MarketOrder, PlatformError, ShopAccount, new_digits, now_s

log = structlog.get_logger(__name__)

ERRORS = {
    "token": (401, "UNAUTHORIZED"), "app_key": (401, "UNAUTHORIZED"), "sign": (401, "UNAUTHORIZED"),
    "rate": (429, "RATE_LIMITED"), "not_found": (404, "NOT_FOUND"), "state": (409, "ORDER_CLOSED"),
    "param": (400, "INVALID_REQUEST"), "method": (404, "NOT_FOUND"),
}


class ShipbackRequest(BaseModel):
    request_id: str = Field(min_length=1)
    order_id: str = Field(min_length=1, description="the store's own order number")
    waybill_no: str = Field(min_length=1)
    carrier: str = Field(min_length=1)
    lines: list[Any] | None = None


class RefundRequest(BaseModel):
    refund_id: str = Field(min_length=1, description="the seller's after-sales ticket id")
    amount: int = Field(ge=0, description="fen")
    status: Literal["REFUNDED", "REJECTED"]
    reason: str = Field(default="", max_length=200)


class StockRequest(BaseModel):
    sku: str = Field(min_length=1)
    quantity: int = Field(ge=0)


class OwnStore(RestPlatform):
    channel = "own_store"
    max_page_size = 100
    carriers = frozenset({"SF", "ZTO", "YTO", "JD", "EMS"})
    topics = {"create": "orders/create", "pay": "orders/paid", "cancel": "orders/cancelled",
              "refund": "orders/refunded"}

    def new_id(self) -> str:
        return f"WS{now_s().strftime('%y%m%d')}-{new_digits(6)}"

    def refusal(self, err: PlatformError) -> RestError:
        status, code = ERRORS[err.kind]
        return RestError(status, {"error_code": err.code or code, "message": err.message})

    def token_of(self, request: Request) -> str | None:
        value = request.headers.get("authorization", "")
        return value[7:].strip() if value.lower().startswith("bearer ") else None

    def authenticate(self, request: Request, shop: str):
        market, account = super().authenticate(request, shop)
        app_key = request.headers.get("x-ownstore-app-key")
        if app_key is not None and app_key != account.app_key:
            raise self.refusal(PlatformError("app_key", "app key does not match the token"))
        return market, account

    def raw_status(self, order: MarketOrder) -> str:
        if order.phase == "cancelled":
            return "CANCELLED"
        if order.refunded:
            return "REFUNDED"
        return {"unpaid": "AWAITING_PAYMENT", "paid": "PAID", "shipped": "SHIPPED"}[order.phase]

    def payload(self, order: MarketOrder) -> dict[str, Any]:
        b = order.buyer
        return {
            "channel": "own_store", "shop": order.shop, "external_id": order.external_id,
            "paid": order.paid_at is not None, "status": self.raw_status(order),
            # The gateway's trade and what it took (fen), as the payment callback told the store.
            "trade_no": order.trade_no, "paid_amount": order.paid_amount if order.paid_at else None,
            "buyer": {"name": b.name, "phone": b.phone, "province": b.province, "city": b.city,
                      "district": b.district, "address": b.address, "zip": b.zip},
            "lines": [{"sku": line.sku, "quantity": line.quantity, "unit_price": line.unit_price}
                      for line in order.lines],
            "shipping_fee": order.shipping_fee, "discount": order.discount, "priority_tags": [],
            "buyer_message": order.message, "placed_at": iso(order.created), "updated_at": iso(order.modified),
        }

    def webhook_headers(self, account: ShopAccount, topic: str, event_id: str, body: bytes) -> dict[str, str]:
        signature = signing.own_store_webhook_hmac(body, account.app_secret)
        return {"X-OwnStore-Hmac-SHA256": signature, "X-OwnStore-Event-Id": event_id, "X-OwnStore-Topic": topic}

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/own_store", tags=["own_store"], route_class=FaultInjectedRoute)
        platform = self

        @router.get("/{shop}/orders", name="own_store.orders")
        async def orders(shop: str, request: Request) -> Response:
            try:
                market, account = platform.authenticate(request, shop)
                q = request.query_params
                start = platform.parse_time(q.get("updated_at_min"), "updated_at_min")
                end = platform.parse_time(q.get("updated_at_max"), "updated_at_max")
                try:
                    page, size = int(q.get("page", "1")), int(q.get("page_size", "50"))
                    platform.check_window(start, end, ("updated_at_min", "updated_at_max"))
                    platform.check_page(page, size)
                except ValueError:
                    raise platform.refusal(PlatformError("param", "page and page_size are whole numbers")) from None
                except PlatformError as err:
                    raise platform.refusal(err) from None
                listed = platform.listed(market, account, start, end)
                chosen = listed[(page - 1) * size:page * size]
                return JSONResponse({"orders": [platform.payload(o) for o in chosen], "total": len(listed)})
            except RestError as err:
                return err.response()

        @router.post("/{shop}/shipments", name="own_store.shipback")
        async def ship_back(shop: str, body: ShipbackRequest, request: Request) -> Response:
            try:
                market, account = platform.authenticate(request, shop)
                try:
                    platform.check_carrier(body.carrier)
                    record, first = market.ship(
                        account, body.order_id, body.waybill_no, body.carrier, unknown_ok=True,
                        key=f"own_store/{shop}/{body.request_id}", request_id=body.request_id,
                        **({"lines": body.lines} if body.lines is not None else {}))
                except PlatformError as err:
                    raise platform.refusal(err) from None
                log.info("own_store.shipped_back" if first else "own_store.shipback_replayed", shop=shop,
                         request_id=body.request_id, order_id=body.order_id, waybill_no=body.waybill_no)
                return JSONResponse({**record.result, "request_id": record.body["request_id"]})
            except RestError as err:
                return err.response()

        @router.post("/{shop}/orders/{external_id}/refunds", name="own_store.refund")
        async def refund(shop: str, external_id: str, body: RefundRequest, request: Request) -> Response:
            try:
                market, account = platform.authenticate(request, shop)
                try:
                    record, first = market.refund(account, external_id, body.refund_id, body.amount, body.status,
                                                  reason=body.reason, unknown_ok=True)
                except PlatformError as err:
                    raise platform.refusal(err) from None
                log.info("own_store.refund_recorded" if first else "own_store.refund_replayed", shop=shop,
                         order_id=external_id, refund_id=body.refund_id, status=body.status)
                return JSONResponse({**record.result, "refund_id": body.refund_id, "status": record.body["status"],
                                     "amount": record.body["amount"]})
            except RestError as err:
                return err.response()

        @router.post("/{shop}/stock", name="own_store.stock")
        async def stock(shop: str, body: StockRequest, request: Request) -> Response:
            try:
                market, account = platform.authenticate(request, shop)
                try:
                    market.set_stock(account, body.sku, body.quantity)
                except PlatformError as err:
                    raise platform.refusal(err) from None
                return JSONResponse({"ok": True, "sku": body.sku, "quantity": body.quantity})
            except RestError as err:
                return err.response()

        return router
