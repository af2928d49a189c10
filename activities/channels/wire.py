"""The HTTP wire to the platforms: the shared request/response shapes and the mechanisms that several
platforms share, written once. Platform facts (paths, method names, parameter names, response roots,
page parameters, carrier codes) live in each platform's adapter module, which builds its `Wire` from
these pieces; `activities.channels.transport.ChannelTransport` does the I/O.

Mechanisms:
- `RouterWire`: signed "router" calls (Taobao TOP, JD, Pinduoduo, and Douyin, whose open API is the
  same idea with the method in the URL path and the business parameters as a JSON body): system
  parameters (method, app key, token, timestamp, ...) plus business parameters, signed with the app
  secret; success under a per-call response root, errors under an error root (or a top-level code).
  Pull is page-numbered, read last page first (`windows.pages_backwards`).
- `Wire` subclasses for REST platforms (Shopify, own store) live in their adapter modules and use
  `rest_error` / `WireRequest` / `Page` from here.

Time parameters are floored to whole seconds and windows are read as inclusive at both ends, so a
window never grows past the platform's limit and an order modified at a window's last second is in it
(adjacent windows may both list it: the hub dedupes on the order id).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from activities.channels.base import CHINA_TZ
from models.channel import RefundOutcome

if TYPE_CHECKING:  # pragma: no cover
    from activities.channels.base import ChannelAdapter

ErrorKind = Literal["auth", "rate_limited", "unavailable", "refused"]


@dataclass(frozen=True)
class ShopAccess:
    """A shop's credentials as the hub's `shops` table holds them."""

    channel: str
    shop: str
    app_key: str
    app_secret: str
    access_token: str

    def __repr__(self) -> str:  # never print secrets
        return f"ShopAccess(channel={self.channel!r}, shop={self.shop!r}, app_key={self.app_key!r})"


class ChannelCallError(Exception):
    """A platform call that did not succeed.

    kind: auth (token expired/revoked: re-authorise), rate_limited (back off), unavailable (connection
    error, timeout, 5xx: retry), refused (any other business error or 4xx: retrying will not help).
    code: the platform's own code ("27", "invalid-sessionkey", "401", ...). message: no personal data.
    """

    def __init__(self, kind: ErrorKind, code: str, message: str) -> None:
        super().__init__(f"{kind} [{code}] {message}")
        self.kind = kind
        self.code = code
        self.message = message

    def __reduce__(self):
        return (type(self), (self.kind, self.code, self.message))


@dataclass(frozen=True)
class WireRequest:
    method: str  # HTTP method
    path: str  # relative to the transport's base URL, or an absolute URL (a cursor link)
    params: Mapping[str, str] | None = None  # query string
    form: Mapping[str, str] | None = None
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    op: str = ""  # for errors and logs: "pull", "shipback", "stock", "refund"


@dataclass(frozen=True)
class WireResponse:
    status: int
    body: Any  # parsed JSON, or None when the body is not JSON
    headers: Mapping[str, str]
    links: Mapping[str, Mapping[str, str]]  # RFC 8288 Link header by rel (httpx.Response.links)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int | None = None  # page-numbered paging: the total result count
    next: WireRequest | None = None  # cursor paging: the request for the next page


Call = Callable[[WireRequest], Awaitable[WireResponse]]
"""Sends one request; raises ChannelCallError for transport trouble and platform errors."""


class Wire(ABC):
    """How the hub speaks to one platform. Stateless; one instance per adapter class (`adapter.wire`)."""

    paging: ClassVar[Literal["offset", "cursor"]]

    @property
    @abstractmethod
    def max_page_size(self) -> int:
        """The largest page the platform serves (a class attribute in REST wires)."""

    @abstractmethod
    def pull_request(self, access: ShopAccess, start: datetime, end: datetime, *, page: int,
                     page_size: int) -> WireRequest:
        """The request for one page of orders modified in start..end. `page` is 1-based (offset paging;
        ignored by cursor paging, which asks for the first page and follows `Page.next`)."""

    @abstractmethod
    def read_page(self, response: WireResponse, request: WireRequest, access: ShopAccess) -> Page:
        """The raw order payloads of one page (each what `adapter.map_order` takes)."""

    # -- after-sales requests the buyer opened (marketplaces; paging as the order pull's) ---------
    def after_sales_request(self, access: ShopAccess, start: datetime, end: datetime, *, page: int,
                            page_size: int) -> WireRequest:
        """The request for one page of after-sales requests modified (or opened) in start..end."""
        raise NotImplementedError(f"{access.channel} lists no after-sales requests")

    def read_after_sales_page(self, response: WireResponse, request: WireRequest, access: ShopAccess) -> Page:
        """The raw after-sales payloads of one page (each what `adapter.map_after_sale` takes)."""
        raise NotImplementedError(f"{access.channel} lists no after-sales requests")

    @property
    def lists_after_sales(self) -> bool:
        return False

    @abstractmethod
    def error_of(self, response: WireResponse) -> dict[str, Any] | None:
        """The platform's error payload (as `adapter.is_auth_error` reads it), or None for success."""

    @abstractmethod
    def error_code(self, error: dict[str, Any]) -> str:
        """The platform's own code of an error payload."""

    def error_message(self, error: dict[str, Any]) -> str:
        """A short message from the error payload. Platform messages name fields, not buyers' data."""
        for key in ("msg", "error_msg", "en_desc", "message", "errors", "zh_desc"):
            value = error.get(key)
            if value:
                return str(value)[:200]
        return ""

    @abstractmethod
    async def ship_back(self, call: Call, access: ShopAccess, adapter: ChannelAdapter, *, external_id: str,
                        waybill_no: str, carrier: str, is_split: bool, request_id: str) -> None:
        """`carrier` is already the platform's code."""

    @abstractmethod
    async def push_stock(self, call: Call, access: ShopAccess, adapter: ChannelAdapter, *, sku: str,
                         quantity: int) -> None: ...

    @abstractmethod
    async def push_refund(self, call: Call, access: ShopAccess, adapter: ChannelAdapter, *, external_id: str,
                          refund_id: str, amount: int, status: RefundOutcome, reason: str,
                          platform_request: bool = False) -> None:
        """`amount` is fen (the adapter converts it); `refund_id` (the after-sales ticket id, or the platform's
        own request id when `platform_request`) makes a repeat one refund at the platform."""


# --- time parameters -------------------------------------------------------------------------------


def beijing_text(moment: datetime) -> str:
    """"YYYY-MM-DD HH:MM:SS" Beijing time, floored to the second (TOP, JD, Pinduoduo and Douyin text times)."""
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


def epoch_seconds(moment: datetime) -> str:
    return str(int(moment.astimezone(UTC).timestamp() // 1))


def iso_seconds(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def compact_json(value: Any) -> str:
    """The JSON text a signature covers: compact, keys sorted, non-ASCII as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def dig(value: Any, path: tuple[str, ...]) -> Any:
    """Follow `path` through nested objects; None where it breaks off."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def rest_error(response: WireResponse) -> dict[str, Any] | None:
    """HTTP-status platforms (Shopify, own store): `{"status": <code>, **body}` for any 4xx/5xx."""
    if response.status < 400:
        return None
    body = response.body if isinstance(response.body, Mapping) else {}
    return {"status": response.status, **body}


# --- signed router calls ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RouterPull:
    """A platform's incremental order search, as router call facts."""

    method: str
    start_param: str
    end_param: str
    page_param: str
    page_size_param: str
    items: tuple[str, ...]  # below the response root; a TOP-style `{"trade": [...]}` wrapper is unwrapped
    total: tuple[str, ...]
    time: Callable[[datetime], str | int]  # int where the business parameters travel as JSON (Douyin)
    max_page_size: int = 100
    first_page: int = 1  # the platform's number of the first page (Douyin counts from 0)
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RouterWire(Wire):
    """One signed router API. `path` may hold `{method_path}` (Douyin: `order.searchList` -> `order/searchList`)."""

    path: str
    method_param: str  # "method" (TOP, JD, Douyin) or "type" (Pinduoduo)
    app_key_param: str
    token_param: str
    timestamp: Callable[[datetime], str]
    system: Mapping[str, str]  # constant system parameters (format, v, sign_method, ...)
    sign: Callable[[Mapping[str, str], str], str]
    roots: Mapping[str, str]  # API method -> success response root
    pull: RouterPull
    after_sales: RouterPull | None = None  # the platform's list of after-sales requests (same paging shape)
    business_param: str | None = None  # None: business parameters flat; else one JSON parameter of that name
    business_as_body: bool = False  # Douyin: system parameters in the query, the JSON parameter as the body
    error_root: str | None = "error_response"
    error_code_key: str = "code"
    ok_code: int | None = None  # Douyin: top-level `code` is 10000 on success
    paging: ClassVar[Literal["offset", "cursor"]] = "offset"

    @property
    def max_page_size(self) -> int:
        return self.pull.max_page_size

    def request(self, access: ShopAccess, call: Mapping[str, Any], *, op: str,
                now: datetime | None = None) -> WireRequest:
        """`call` is what the adapter produces: the API method under `method_param` plus business parameters."""
        business = dict(call)
        method = business.pop(self.method_param)
        params: dict[str, str] = {
            self.method_param: method,
            self.app_key_param: access.app_key,
            self.token_param: access.access_token,
            "timestamp": self.timestamp(now or datetime.now(UTC)),
            **self.system,
        }
        if self.business_param is None:
            params.update({key: form_value(value) for key, value in business.items() if value is not None})
        else:
            params[self.business_param] = compact_json(business)
        params["sign"] = self.sign(params, access.app_secret)
        path = self.path.format(method_path=method.replace(".", "/"))
        if self.business_as_body and self.business_param is not None:
            body = params.pop(self.business_param).encode("utf-8")
            return WireRequest("POST", path, params=params, content=body,
                               headers={"Content-Type": "application/json"}, op=op)
        return WireRequest("POST", path, form=params, op=op)

    def result(self, response: WireResponse, method: str) -> Mapping[str, Any]:
        root = self.roots[method]
        body = response.body
        result = body.get(root) if isinstance(body, Mapping) else None
        if not isinstance(result, Mapping):
            raise ChannelCallError("refused", "unexpected_response", f"{method}: no {root} in the answer")
        return result

    # -- pull ------------------------------------------------------------------------------------
    def pull_request(self, access: ShopAccess, start: datetime, end: datetime, *, page: int,
                     page_size: int) -> WireRequest:
        return self._list_request(self.pull, access, start, end, page=page, page_size=page_size, op="pull")

    def read_page(self, response: WireResponse, request: WireRequest, access: ShopAccess) -> Page:
        return self._read_list(self.pull, response)

    @property
    def lists_after_sales(self) -> bool:
        return self.after_sales is not None

    def after_sales_request(self, access: ShopAccess, start: datetime, end: datetime, *, page: int,
                            page_size: int) -> WireRequest:
        if self.after_sales is None:
            return super().after_sales_request(access, start, end, page=page, page_size=page_size)
        return self._list_request(self.after_sales, access, start, end, page=page, page_size=page_size,
                                  op="after_sales")

    def read_after_sales_page(self, response: WireResponse, request: WireRequest, access: ShopAccess) -> Page:
        if self.after_sales is None:
            return super().read_after_sales_page(response, request, access)
        return self._read_list(self.after_sales, response)

    def _list_request(self, p: RouterPull, access: ShopAccess, start: datetime, end: datetime, *, page: int,
                      page_size: int, op: str) -> WireRequest:
        return self.request(access, {
            self.method_param: p.method,
            p.start_param: p.time(start),
            p.end_param: p.time(end),
            p.page_param: p.first_page + page - 1,
            p.page_size_param: page_size,
            **p.extra,
        }, op=op)

    def _read_list(self, pull: RouterPull, response: WireResponse) -> Page:
        result = self.result(response, pull.method)
        items = dig(result, pull.items)
        if isinstance(items, Mapping) and len(items) == 1:  # TOP's XML heritage: {"trade": [...]}
            items = next(iter(items.values()))
        if items is None:
            items = []
        if not isinstance(items, list):
            raise ChannelCallError("refused", "unexpected_response", f"{pull.method}: items are not a list")
        total = dig(result, pull.total)
        try:
            count = int(total) if total is not None else len(items)
        except (TypeError, ValueError):
            raise ChannelCallError("refused", "unexpected_response", f"{pull.method}: bad total") from None
        return Page(items=[item for item in items if isinstance(item, dict)], total=count)

    # -- errors ----------------------------------------------------------------------------------
    def error_of(self, response: WireResponse) -> dict[str, Any] | None:
        body = response.body
        if not isinstance(body, Mapping):
            return {"status": response.status} if response.status >= 400 else None
        if self.error_root is not None and isinstance(body.get(self.error_root), Mapping):
            return dict(body)
        if self.ok_code is not None and "code" in body and str(body.get("code")) != str(self.ok_code):
            return dict(body)
        if response.status >= 400:
            return {"status": response.status, **body}
        return None

    def error_code(self, error: dict[str, Any]) -> str:
        inner = error.get(self.error_root) if self.error_root else None
        body = inner if isinstance(inner, Mapping) else error
        for key in ("sub_code", self.error_code_key, "status"):
            value = body.get(key)
            if value not in (None, ""):
                return str(value)
        return "unknown"

    def error_message(self, error: dict[str, Any]) -> str:
        inner = error.get(self.error_root) if self.error_root else None
        return super().error_message(dict(inner) if isinstance(inner, Mapping) else error)

    # -- ship-back, stock and refunds -------------------------------------------------------------
    async def ship_back(self, call: Call, access: ShopAccess, adapter: ChannelAdapter, *, external_id: str,
                        waybill_no: str, carrier: str, is_split: bool, request_id: str) -> None:
        # Idempotent at the platform: the same waybill for the same order is one consignment
        # (the request id has no place in these APIs).
        params = adapter.shipback_params(external_id, waybill_no, carrier, is_split=is_split)
        response = await call(self.request(access, params, op="shipback"))
        self.result(response, params[self.method_param])

    async def push_stock(self, call: Call, access: ShopAccess, adapter: ChannelAdapter, *, sku: str,
                         quantity: int) -> None:
        params = adapter.stock_params(sku, quantity)
        response = await call(self.request(access, params, op="stock"))
        self.result(response, params[self.method_param])

    async def push_refund(self, call: Call, access: ShopAccess, adapter: ChannelAdapter, *, external_id: str,
                          refund_id: str, amount: int, status: RefundOutcome, reason: str,
                          platform_request: bool = False) -> None:
        # Idempotent at the platform: the refund id is the key of the after-sale there (the buyer's own
        # request id answers that request; the router platforms take either in the same parameter).
        params = adapter.refund_params(external_id, refund_id, amount, status=status, reason=reason)
        if params is None:
            return  # nothing to tell this platform
        response = await call(self.request(access, params, op="refund"))
        self.result(response, params[self.method_param])
