"""What the token-authenticated REST platforms (Shopify, own store) share: shop lookup, token check and
rate limit in each platform's own error shape, ISO time parameters, webhook events."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, ClassVar

from fastapi import Request
from fastapi.responses import JSONResponse

from sandbox.platforms.base import Platform, state
from sandbox.platforms.state import MarketOrder, Marketplaces, PlatformError, ShopAccount
from sandbox.platforms.webhooks import WebhookEvent


class RestError(Exception):
    """An HTTP error answer in the platform's own shape."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


class RestPlatform(Platform):
    pushes = True
    topics: ClassVar[dict[str, str]]  # neutral event -> webhook topic

    def refusal(self, err: PlatformError) -> RestError:
        raise NotImplementedError

    def token_of(self, request: Request) -> str | None:
        raise NotImplementedError

    def authenticate(self, request: Request, shop: str) -> tuple[Marketplaces, ShopAccount]:
        market = state(request)
        account = market.shop(self.channel, shop)
        if account is None:
            raise self.refusal(PlatformError("not_found", f"no shop {shop}"))
        try:
            market.take_call(self.channel, account.app_key)
        except PlatformError as err:
            raise self.refusal(err) from None
        if not account.token_ok(self.token_of(request)):
            raise self.refusal(PlatformError("token", "access token invalid or expired"))
        return market, account

    def parse_time(self, value: str | None, name: str) -> datetime | None:
        if not value:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise self.refusal(PlatformError("param", f"{name} must be an ISO-8601 time")) from None
        if moment.tzinfo is None:
            raise self.refusal(PlatformError("param", f"{name} needs a UTC offset"))
        return moment

    # -- webhooks --------------------------------------------------------------------------------
    def webhook_headers(self, account: ShopAccount, topic: str, event_id: str, body: bytes) -> dict[str, str]:
        raise NotImplementedError

    def webhook(self, account: ShopAccount, order: MarketOrder, event: str, url: str, *,
                duplicate: bool = False) -> WebhookEvent:
        topic = self.topics[event]
        body = json.dumps(self.payload(order), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        event_id = str(uuid.uuid4())
        headers = {"Content-Type": "application/json", **self.webhook_headers(account, topic, event_id, body)}
        return WebhookEvent(channel=self.channel, shop=account.shop, external_id=order.external_id, topic=topic,
                            event_id=event_id, url=url, body=body, headers=headers, duplicate=duplicate)
