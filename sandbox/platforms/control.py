"""`/_sandbox/platforms`: drive the sandbox marketplaces from tests and the dev stack.

- `PUT  /{channel}/shops/{shop}` `{"app_key", "app_secret", "access_token", "webhook_url"?, "skus"?}`
- `POST /{channel}/shops/{shop}/token` `{"action": "expire"|"revoke"|"issue"}` (issue -> `{"access_token"}`)
- `POST /{channel}/shops/{shop}/orders` `{"count", "skus"?, "paid"?, "duplicates"?, "spread_s"?}` ->
  `{"created": [...]}`; pushing platforms queue webhooks (orders/create, and orders/paid for Shopify)
- `POST /{channel}/shops/{shop}/orders/{external_id}/events` `{"event": "pay"|"cancel"|"refund"}` -> the order
  (an own-store order is paid through the sandbox gateway's ledger, as are own-store orders created paid)
- `POST /{channel}/shops/{shop}/orders/{external_id}/after-sales` `{"type": "refund_only"|"return_and_refund",
  "reason", "amount"? (fen; default what the lines cost, or what is left of the payment), "lines"?: [{"sku",
  "quantity"}] (default the whole order)}`: the buyer opens an after-sales request on a marketplace (not the
  own store); -> `{"request_id", "type", "status", "platform_status", "amount", "payload"}`, the payload as
  that platform's after-sales list sends it. `POST .../after-sales/{request_id}/close`: the buyer withdraws it.
- `GET  /{channel}/shops/{shop}/orders[/{external_id}]` (status, shipments, after-sales refunds pushed to it,
  the buyer's after-sales requests, payload), `GET /{channel}/shops/{shop}/stock`
- `PUT  /{channel}/rate_limit` `{"per_s", "burst"}`: that channel's per-app token bucket
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, field_validator

from sandbox.errors import ServiceError
from sandbox.platforms import PLATFORMS
from sandbox.platforms.rest import RestPlatform
from sandbox.platforms.state import (
    DEFAULT_SKUS,
    AfterSaleRequest,
    MarketOrder,
    Marketplaces,
    PlatformError,
    ShopAccount,
)

router = APIRouter(prefix="/_sandbox/platforms", tags=["sandbox platforms"])
ChannelName = Literal["taobao", "jd", "pinduoduo", "douyin", "shopify", "own_store"]
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class ShopBody(BaseModel):
    app_key: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)
    access_token: str = Field(min_length=1)
    webhook_url: str | None = None
    skus: list[str] = Field(default_factory=list)


class TokenBody(BaseModel):
    action: Literal["expire", "revoke", "issue"]


class CreateOrders(BaseModel):
    count: int = Field(ge=1, le=2000)
    skus: list[str] = Field(default_factory=lambda: list(DEFAULT_SKUS), min_length=1)
    paid: bool = True
    duplicates: float = Field(default=0.0, ge=0.0, le=1.0, description="share of webhooks delivered twice")
    spread_s: float = Field(default=0.0, ge=0.0, description="modified times spread over this many past seconds")

    @field_validator("skus")
    @classmethod
    def _skus(cls, value: list[str]) -> list[str]:
        import re

        bad = [s for s in value if not re.match(SKU_PATTERN, s)]
        if bad:
            raise ValueError(f"not sku codes: {bad}")
        return value


class EventBody(BaseModel):
    event: Literal["pay", "cancel", "refund"]


class AfterSaleLine(BaseModel):
    sku: str = Field(pattern=SKU_PATTERN)
    quantity: int = Field(ge=1)


class AfterSaleBody(BaseModel):
    type: Literal["refund_only", "return_and_refund"]
    reason: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$",
                        description="no_reason, quality, wrong_item, damaged, not_received, other, ...")
    amount: int | None = Field(default=None, ge=1, description="fen")
    lines: list[AfterSaleLine] | None = Field(default=None, min_length=1)


class RateBody(BaseModel):
    per_s: float = Field(gt=0)
    burst: int = Field(ge=1)


def _market(request: Request) -> Marketplaces:
    return request.app.state.platforms


def _shop(request: Request, channel: str, shop: str) -> ShopAccount:
    account = _market(request).shop(channel, shop)
    if account is None:
        raise ServiceError(404, "SHOP_NOT_FOUND", f"no {channel} shop {shop}")
    return account


def _order(request: Request, channel: str, shop: str, external_id: str) -> MarketOrder:
    order = _market(request).order(channel, shop, external_id)
    if order is None:
        raise ServiceError(404, "ORDER_NOT_FOUND", f"no {channel} order {external_id} in shop {shop}")
    return order


def view(order: MarketOrder) -> dict[str, Any]:
    platform = PLATFORMS[order.channel]
    return {"external_id": order.external_id, "status": platform.raw_status(order),
            "modified": order.modified.isoformat(),
            "shipments": [{"waybill_no": s["waybill_no"], "carrier": s["carrier"]} for s in order.shipments],
            "refunds": [{"refund_id": r["refund_id"], "status": r["status"], "amount": r["amount"]}
                        for r in order.refunds],
            "after_sales": [after_sale_view(order, r) for r in order.after_sales],
            "payload": platform.payload(order)}


def after_sale_view(order: MarketOrder, request: AfterSaleRequest) -> dict[str, Any]:
    platform = PLATFORMS[order.channel]
    return {"request_id": request.request_id, "type": request.type, "status": request.status,
            "platform_status": platform.after_sale_status(request), "amount": request.amount,
            "payload": platform.after_sale_payload(order, request)}


def push(request: Request, account: ShopAccount, order: MarketOrder, event: str, duplicate: bool = False) -> None:
    platform = PLATFORMS[account.channel]
    if not isinstance(platform, RestPlatform) or not platform.pushes:
        return
    settings = request.app.state.settings
    url = account.webhook_url or f"{settings.hub_url.rstrip('/')}/v1/webhooks/{account.channel}/{account.shop}"
    request.app.state.webhooks.send(platform.webhook(account, order, event, url, duplicate=duplicate))


@router.put("/{channel}/shops/{shop}")
async def register_shop(channel: ChannelName, shop: str, body: ShopBody, request: Request) -> dict[str, Any]:
    account = _market(request).register(ShopAccount(channel=channel, shop=shop, app_key=body.app_key,
                                                    app_secret=body.app_secret, access_token=body.access_token,
                                                    webhook_url=body.webhook_url))
    account.skus.update(body.skus)
    return {"channel": channel, "shop": shop, "app_key": account.app_key, "skus": sorted(account.skus)}


@router.post("/{channel}/shops/{shop}/token")
async def token(channel: ChannelName, shop: str, body: TokenBody, request: Request) -> dict[str, Any]:
    new = _market(request).token_action(_shop(request, channel, shop), body.action)
    return {"ok": True} if new is None else {"access_token": new}


@router.post("/{channel}/shops/{shop}/orders")
async def create_orders(channel: ChannelName, shop: str, body: CreateOrders, request: Request) -> dict[str, Any]:
    account = _shop(request, channel, shop)
    market = _market(request)
    platform = PLATFORMS[channel]
    orders = market.create_orders(channel, account, body.count, body.skus, paid=body.paid, spread_s=body.spread_s,
                                  new_id=platform.new_id)
    for order in orders:
        events = ["create", "pay"] if channel == "shopify" and body.paid else ["create"]
        for event in events:
            push(request, account, order, event, duplicate=market.random.random() < body.duplicates)
    return {"created": [o.external_id for o in orders]}


@router.get("/{channel}/shops/{shop}/orders")
async def list_orders(channel: ChannelName, shop: str, request: Request) -> dict[str, Any]:
    _shop(request, channel, shop)
    orders = sorted(_market(request).shop_orders(channel, shop).values(), key=lambda o: (o.modified, o.external_id))
    return {"items": [view(o) for o in orders], "total": len(orders)}


@router.get("/{channel}/shops/{shop}/orders/{external_id}")
async def get_order(channel: ChannelName, shop: str, external_id: str, request: Request) -> dict[str, Any]:
    return view(_order(request, channel, shop, external_id))


@router.post("/{channel}/shops/{shop}/orders/{external_id}/events")
async def order_event(channel: ChannelName, shop: str, external_id: str, body: EventBody,
                      request: Request) -> dict[str, Any]:
    account = _shop(request, channel, shop)
    order = _order(request, channel, shop, external_id)
    try:
        _market(request).apply_event(order, body.event)
    except PlatformError as err:
        raise ServiceError(409, "ILLEGAL_EVENT", err.message) from None
    push(request, account, order, body.event)
    return view(order)


@router.post("/{channel}/shops/{shop}/orders/{external_id}/after-sales")
async def open_after_sale(channel: ChannelName, shop: str, external_id: str, body: AfterSaleBody,
                          request: Request) -> dict[str, Any]:
    if channel == "own_store":
        raise ServiceError(409, "NO_PLATFORM_AFTER_SALES", "own-store buyers ask the seller (POST /v1/after-sales)")
    _shop(request, channel, shop)
    order = _order(request, channel, shop, external_id)
    platform = PLATFORMS[channel]
    lines = [(l.sku, l.quantity) for l in body.lines] if body.lines else None
    if lines and platform.after_sale_max_lines is not None and len(lines) > platform.after_sale_max_lines:
        raise ServiceError(422, "ONE_LINE_PER_REQUEST", f"{channel} after-sales requests name one line each")
    market = _market(request)
    request_id = platform.new_after_sale_id()
    while any(r.request_id == request_id for o in market.shop_orders(channel, shop).values() for r in o.after_sales):
        request_id = platform.new_after_sale_id()
    try:
        made = market.open_after_sale(order, type=body.type, reason=body.reason, amount=body.amount, lines=lines,
                                      request_id=request_id)
    except PlatformError as err:
        raise ServiceError(409 if err.kind == "state" else 422, "ILLEGAL_AFTER_SALE", err.message) from None
    return after_sale_view(order, made)


@router.post("/{channel}/shops/{shop}/orders/{external_id}/after-sales/{request_id}/close")
async def close_after_sale(channel: ChannelName, shop: str, external_id: str, request_id: str,
                           request: Request) -> dict[str, Any]:
    order = _order(request, channel, shop, external_id)
    try:
        made = _market(request).close_after_sale(order, request_id)
    except PlatformError as err:
        raise ServiceError(404 if err.kind == "not_found" else 409, "ILLEGAL_AFTER_SALE", err.message) from None
    return after_sale_view(order, made)


@router.get("/{channel}/shops/{shop}/stock")
async def shown_stock(channel: ChannelName, shop: str, request: Request) -> dict[str, int]:
    return dict(sorted(_shop(request, channel, shop).stock.items()))


@router.put("/{channel}/rate_limit")
async def rate_limit(channel: ChannelName, body: RateBody, request: Request) -> dict[str, Any]:
    _market(request).set_rate(channel, body.per_s, body.burst)
    return {"channel": channel, "per_s": body.per_s, "burst": body.burst}
