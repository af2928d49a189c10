"""The sandbox marketplace interface and the pieces every marketplace imitation uses.

A `Platform` renders the neutral `MarketOrder` as its native payload, names its raw status, and serves
its API on its own router. Signed router APIs (Taobao, JD, Pinduoduo, Douyin) share `RouterPlatform.serve`:
parse the call, fault injection for `<channel>.<op>`, system parameters, app key, rate limit, signature
(`signing`), token, then the platform's handler; every refusal in the platform's own error shape.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from sandbox.faults import run_with_faults
from sandbox.platforms.signing import same_signature
from sandbox.platforms.state import (
    AfterSaleRequest,
    MarketOrder,
    Marketplaces,
    PlatformError,
    ShopAccount,
    new_digits,
)

CHINA_TZ = timezone(timedelta(hours=8))


def state(request: Request) -> Marketplaces:
    return request.app.state.platforms


class Platform(ABC):
    channel: ClassVar[str]
    pushes: ClassVar[bool] = False  # delivers order webhooks
    paid_only: ClassVar[bool] = False  # its order search lists paid orders only
    max_window: ClassVar[timedelta | None] = None
    max_page_size: ClassVar[int] = 100
    carriers: ClassVar[frozenset[str]]  # logistics company codes it accepts

    @abstractmethod
    def new_id(self) -> str: ...

    @abstractmethod
    def payload(self, order: MarketOrder) -> dict[str, Any]:
        """The order as the platform's API (and webhooks) send it."""

    @abstractmethod
    def raw_status(self, order: MarketOrder) -> str: ...

    # -- after-sales requests the buyer opens (marketplaces only) ----------------------------------
    after_sale_max_lines: ClassVar[int | None] = None  # per-line platforms (Taobao's oid) take one line a request

    def new_after_sale_id(self) -> str:
        return new_digits(15)

    def after_sale_payload(self, order: MarketOrder, request: AfterSaleRequest) -> dict[str, Any]:
        """The request as the platform's after-sales list sends it."""
        raise PlatformError("method", f"{self.channel} has no after-sales requests")

    def after_sale_status(self, request: AfterSaleRequest) -> str:
        """The request's status in the platform's own code, for the control API's view."""
        return request.status

    @abstractmethod
    def router(self) -> APIRouter: ...

    def check_carrier(self, code: str) -> None:
        if code not in self.carriers:
            raise PlatformError("param", f"unknown logistics company code {code}")

    def check_window(self, start: datetime | None, end: datetime | None, names: tuple[str, str]) -> None:
        if start is None or end is None:
            raise PlatformError("param", f"{names[0]} and {names[1]} are required")
        if end < start:
            raise PlatformError("param", f"{names[1]} is before {names[0]}")
        if self.max_window is not None and end - start > self.max_window:
            raise PlatformError("param", f"{names[0]}..{names[1]} spans more than {self.max_window}")

    def check_page(self, page: int, size: int, *, first: int = 1) -> None:
        if page < first:
            raise PlatformError("param", f"page must be >= {first}")
        if not 1 <= size <= self.max_page_size:
            raise PlatformError("param", f"page size must be 1..{self.max_page_size}")

    def listed(self, market: Marketplaces, account: ShopAccount, start: datetime, end: datetime
               ) -> list[MarketOrder]:
        return market.window(self.channel, account.shop, start, end, paid_only=self.paid_only)


def page_slice(orders: list[Any], index: int, size: int) -> list[Any]:
    """`index` counts pages from 0."""
    return orders[index * size:(index + 1) * size]


# --- time fields and parameters ---------------------------------------------------------------------


def beijing(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


def epoch(moment: datetime | None) -> int:
    return 0 if moment is None else int(moment.timestamp())


def parse_beijing(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ)
    except ValueError:
        raise PlatformError("param", f"{name} must be yyyy-MM-dd HH:mm:ss") from None


def parse_epoch(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(value), CHINA_TZ)
    except (TypeError, ValueError, OverflowError):
        raise PlatformError("param", f"{name} must be epoch seconds") from None


def parse_int(value: Any, name: str, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PlatformError("param", f"{name} must be a whole number") from None


def parse_yuan(value: Any, name: str) -> int:
    """A yuan amount (decimal string or JSON number, at most two decimals, >= 0) as integer fen."""
    text = str(value).strip() if value is not None and not isinstance(value, bool) else ""
    try:
        amount = Decimal(text) * 100
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount != amount.to_integral_value() or amount < 0:
        raise PlatformError("param", f"{name} must be a yuan amount with at most two decimals")
    return int(amount)


def parse_fen(value: Any, name: str) -> int:
    """A whole, non-negative amount in fen."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise PlatformError("param", f"{name} must be whole fen")
    amount = parse_int(value, name, -1)
    if amount < 0:
        raise PlatformError("param", f"{name} must be whole fen >= 0")
    return amount


def field_names(value: Any) -> set[str]:
    """A comma list of response field names (TOP `fields`, JD `optional_fields`)."""
    return {name.strip() for name in str(value or "").split(",") if name.strip()}


def only_fields(payload: Mapping[str, Any], names: set[str]) -> dict[str, Any]:
    """The payload cut down to the top-level fields asked for, as those APIs answer."""
    return {key: value for key, value in payload.items() if key in names}


def required(params: Mapping[str, Any], *names: str) -> list[Any]:
    missing = [n for n in names if params.get(n) in (None, "")]
    if missing:
        raise PlatformError("param", f"missing required parameter(s): {', '.join(missing)}")
    return [params[n] for n in names]


# --- signed router APIs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RouterApi:
    """A platform's router protocol facts, as the sandbox (the platform) reads them."""

    method_param: str
    app_key_param: str
    token_param: str
    system_params: frozenset[str]  # everything that is not a business parameter in the flat form
    sign: Callable[[Mapping[str, str], str], str]  # sandbox.platforms.signing
    ops: Mapping[str, str]  # API method -> "orders" | "shipback" | "stock" | "refund"
    business_param: str | None = None  # the JSON parameter holding the business parameters
    business_as_body: bool = False  # that parameter arrives as the request body (Douyin)
    # Further system parameters every call carries (an absent method, app key, token or sign is refused as
    # that one's own error) and the values some of them may take.
    required: tuple[str, ...] = ()
    allowed: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def check_system(self, params: Mapping[str, str]) -> None:
        missing = [name for name in self.required if not params.get(name)]
        if missing:
            raise PlatformError("param", f"missing required system parameter(s): {', '.join(missing)}")
        for name, values in self.allowed.items():
            if name in params and params[name] not in values:
                raise PlatformError("param", f"{name} must be one of {', '.join(sorted(values))}, "
                                             f"got {params[name]!r}")


Handler = Callable[[Marketplaces, ShopAccount, dict[str, Any]], dict[str, Any]]


class RouterPlatform(Platform):
    api: ClassVar[RouterApi]

    @abstractmethod
    def success(self, method: str, result: dict[str, Any]) -> dict[str, Any]:
        """The platform's success envelope."""

    @abstractmethod
    def error(self, err: PlatformError) -> dict[str, Any]:
        """The platform's error envelope for a refusal."""

    @abstractmethod
    def handlers(self) -> Mapping[str, Handler]:
        """op (or an API method, when two methods share an op) -> handler(market, account, business params)
        -> result."""

    def business(self, params: Mapping[str, str]) -> dict[str, Any]:
        if self.api.business_param is None:
            return {k: v for k, v in params.items() if k not in self.api.system_params}
        raw = params.get(self.api.business_param) or "{}"
        try:
            value = json.loads(raw)
        except ValueError:
            raise PlatformError("param", f"{self.api.business_param} is not JSON") from None
        if not isinstance(value, dict):
            raise PlatformError("param", f"{self.api.business_param} must be a JSON object")
        return value

    async def read_params(self, request: Request) -> dict[str, str]:
        if self.api.business_as_body and self.api.business_param:
            params = dict(request.query_params)
            params[self.api.business_param] = (await request.body()).decode("utf-8", "replace")
            return params
        # application/x-www-form-urlencoded, parsed here (Starlette's form parser needs python-multipart)
        form = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        return {**dict(request.query_params), **dict(form)}

    async def serve(self, request: Request, method_from_path: str | None = None) -> Response:
        api = self.api
        params = await self.read_params(request)
        method = params.get(api.method_param) or method_from_path
        op = api.ops.get(method or "")
        if op is None or (method_from_path and method_from_path != method):
            return JSONResponse(self.error(PlatformError("method", f"invalid method {method}")))

        async def handle() -> Response:
            market = state(request)
            try:
                api.check_system(params)
                app_key, token = params.get(api.app_key_param), params.get(api.token_param)
                if not market.apps(self.channel, app_key):
                    raise PlatformError("app_key", "unknown app key")
                market.take_call(self.channel, app_key or "")
                secret = market.secret_for(self.channel, app_key, token)
                if not same_signature(params.get("sign"), api.sign(params, secret)):
                    raise PlatformError("sign", "invalid signature")
                account = market.by_token(self.channel, token)
                if account is None or account.app_key != app_key or not account.token_ok(token):
                    raise PlatformError("token", "access token invalid or expired")
                handlers = self.handlers()
                result = handlers.get(method or "", handlers.get(op))(market, account, self.business(params))
            except PlatformError as err:
                return JSONResponse(self.error(err))
            return JSONResponse(self.success(method or "", result))

        return await run_with_faults(request, f"{self.channel}.{op}", handle)


def json_route(router: APIRouter, path: str, endpoint: Callable[..., Awaitable[Any]], methods: list[str]) -> None:
    router.add_api_route(path, endpoint, methods=methods, include_in_schema=True)
