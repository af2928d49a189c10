"""ChannelTransport: the hub's HTTP calls to the marketplaces and the own store.

Generic mechanics only: sending, classifying failures, paging loops, window limits, carrier code
translation. Everything a platform decides (paths, method and parameter names, signing, response roots,
page parameters, carrier code tables) is that platform's `Wire` in its adapter module
(`adapter_for(channel).wire`, built from `activities.channels.wire`).

One base URL serves every platform (the sandbox: `http://127.0.0.1:8100`); each platform's wire puts its
calls under its own prefix (`/taobao/router/rest`, `/jd/routerjson`, `/pinduoduo/api/router`,
`/douyin/<method path>`, `/shopify/{shop}/admin/api/2024-10/...`, `/own_store/{shop}/...`).

Operations: `pull_pages`, `pull_after_sales_pages` (refunds and returns the buyers opened), `ship_back`, `push_stock`, `push_refund` (an after-sales refund made or refused,
told to the order's platform; money is fen here and converted by each adapter).

Failures raise ChannelCallError: `auth` (adapter.is_auth_error), `rate_limited` (adapter.is_rate_limited
or HTTP 429), `unavailable` (connection error, timeout, 5xx, an answer that is not JSON), `refused`
(any other platform error or 4xx). Logs carry channel, shop, operation and codes, never buyer data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import structlog

from activities.channels import adapter_for
from activities.channels.base import ChannelAdapter, check_refund, check_stock_quantity
from activities.channels.windows import pages_backwards
from activities.channels.wire import (
    ChannelCallError,
    ErrorKind,
    Page,
    ShopAccess,
    Wire,
    WireRequest,
    WireResponse,
)
from models.channel import RefundOutcome

__all__ = ["ChannelCallError", "ChannelTransport", "ShopAccess"]

log = structlog.get_logger(__name__)


class ChannelTransport:
    def __init__(self, base_url: str, *, timeout_s: float = 10.0, client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s)

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    # -- the operations --------------------------------------------------------------------------
    def pull_pages(self, access: ShopAccess, start: datetime, end: datetime, *,
                   page_size: int | None = None) -> AsyncIterator[list[dict[str, Any]]]:
        """Raw order payloads modified in start..end, one list per page: page-numbered platforms last page
        first (an order modified meanwhile can then be seen twice, never skipped); Shopify follows its
        cursor. Empty pages are not yielded. A window longer than the adapter's `max_window` raises ValueError."""
        adapter, wire = self._platform(access)
        size = self._check_window(access, adapter, wire, start, end, page_size)
        return self._pages(access, adapter, wire, start, end, size, wire.pull_request, wire.read_page)

    def pull_after_sales_pages(self, access: ShopAccess, start: datetime, end: datetime, *,
                               page_size: int | None = None) -> AsyncIterator[list[dict[str, Any]]]:
        """Raw after-sales request payloads (refunds and returns the buyers opened) in start..end, paged as the
        order pull is. ValueError for a platform that lists none (the own store: its buyers ask the hub)."""
        adapter, wire = self._platform(access)
        if not wire.lists_after_sales:
            raise ValueError(f"{access.channel} lists no after-sales requests")
        size = self._check_window(access, adapter, wire, start, end, page_size)
        return self._pages(access, adapter, wire, start, end, size, wire.after_sales_request,
                           wire.read_after_sales_page)

    @staticmethod
    def _check_window(access: ShopAccess, adapter: ChannelAdapter, wire: Wire, start: datetime, end: datetime,
                      page_size: int | None) -> int:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if end < start:
            raise ValueError(f"window ends before it starts: {start.isoformat()} .. {end.isoformat()}")
        if adapter.max_window is not None and end - start > adapter.max_window:
            raise ValueError(f"{access.channel} windows are at most {adapter.max_window}, got {end - start}")
        size = page_size or wire.max_page_size
        if not 1 <= size <= wire.max_page_size:
            raise ValueError(f"{access.channel} page_size must be 1..{wire.max_page_size}, got {size}")
        return size

    async def _pages(self, access: ShopAccess, adapter: ChannelAdapter, wire: Wire, start: datetime, end: datetime,
                     size: int, build: Callable[..., WireRequest],
                     read: Callable[[WireResponse, WireRequest, ShopAccess], Page]
                     ) -> AsyncIterator[list[dict[str, Any]]]:
        async def fetch(page: int) -> list[dict[str, Any]]:
            request = build(access, start, end, page=page, page_size=size)
            return read(await self._call(access, adapter, wire, request), request, access).items

        if wire.paging == "cursor":
            request: WireRequest | None = build(access, start, end, page=1, page_size=size)
            while request is not None:
                result = read(await self._call(access, adapter, wire, request), request, access)
                if result.items:
                    yield result.items
                request = result.next
            return

        first_request = build(access, start, end, page=1, page_size=size)
        first = read(await self._call(access, adapter, wire, first_request), first_request, access)
        pages = pages_backwards(first.total or 0, size)
        if len(pages) <= 1:
            if first.items:
                yield first.items
            return
        for page in pages:  # the last page first; page 1 is read again, last, since it may have shifted
            items = await fetch(page)
            if items:
                yield items

    async def ship_back(self, access: ShopAccess, *, external_id: str, waybill_no: str, carrier: str,
                        is_split: bool, request_id: str) -> None:
        """`carrier` is the hub's code (SF, ZTO, YTO, JD, EMS). Idempotent: the same waybill for the same
        order (and the same request_id) is one consignment at the platform, however often repeated."""
        adapter, wire = self._platform(access)
        try:
            code = adapter.carrier_code(carrier)
        except KeyError as err:
            raise ChannelCallError("refused", "unknown_carrier", str(err.args[0])) from None

        async def call(request: WireRequest) -> WireResponse:
            return await self._call(access, adapter, wire, request)

        await wire.ship_back(call, access, adapter, external_id=external_id, waybill_no=waybill_no, carrier=code,
                             is_split=is_split, request_id=request_id)
        log.info("channel.shipped_back", channel=access.channel, shop=access.shop, external_id=external_id,
                 waybill_no=waybill_no, carrier=carrier, request_id=request_id)

    async def push_stock(self, access: ShopAccess, *, sku: str, quantity: int) -> None:
        """The absolute available quantity of the seller's sku (outer sku id) at that shop."""
        adapter, wire = self._platform(access)
        check_stock_quantity(quantity)

        async def call(request: WireRequest) -> WireResponse:
            return await self._call(access, adapter, wire, request)

        await wire.push_stock(call, access, adapter, sku=sku, quantity=quantity)
        log.info("channel.stock_pushed", channel=access.channel, shop=access.shop, sku=sku, quantity=quantity)

    async def push_refund(self, access: ShopAccess, *, external_id: str, refund_id: str, amount: int,
                          status: RefundOutcome, reason: str = "", platform_request: bool = False) -> None:
        """An after-sales refund made (`REFUNDED`) or refused (`REJECTED`) for the order, `amount` in fen.
        Idempotent: the same `refund_id` (the hub's after-sales ticket id, or with `platform_request` the
        platform's own id of the buyer's request, which this answers) is one refund at the platform, however
        often repeated. `reason` goes to the platform as is: no personal data in it."""
        adapter, wire = self._platform(access)
        check_refund(refund_id, amount, status)

        async def call(request: WireRequest) -> WireResponse:
            return await self._call(access, adapter, wire, request)

        await wire.push_refund(call, access, adapter, external_id=external_id, refund_id=refund_id, amount=amount,
                               status=status, reason=reason, platform_request=platform_request)
        log.info("channel.refund_pushed", channel=access.channel, shop=access.shop, external_id=external_id,
                 refund_id=refund_id, amount=amount, status=status, platform_request=platform_request)

    # -- mechanics -------------------------------------------------------------------------------
    @staticmethod
    def _platform(access: ShopAccess) -> tuple[ChannelAdapter, Wire]:
        adapter = adapter_for(access.channel)
        return adapter, adapter.wire

    async def _call(self, access: ShopAccess, adapter: ChannelAdapter, wire: Wire,
                    request: WireRequest) -> WireResponse:
        where = f"{access.channel} {request.op or request.path}"
        try:
            response = await self._client.request(
                request.method, request.path, params=request.params, data=request.form, json=request.json,
                content=request.content, headers=dict(request.headers))
        except httpx.TransportError as err:  # connection refused/reset, timeouts, protocol errors
            self._log_failure(access, request, "unavailable", type(err).__name__)
            raise ChannelCallError("unavailable", type(err).__name__, f"{where}: unreachable") from err
        try:
            body = response.json()
        except ValueError:
            body = None
        # httpx keys a Link without rel or url by None; no caller looks for one
        links = {rel: link for rel, link in response.links.items() if rel is not None}
        answer = WireResponse(status=response.status_code, body=body, headers=response.headers, links=links)
        if response.status_code >= 500 or (body is None and response.status_code < 400):
            # a 5xx, or a success that is not JSON (a proxy's error page): worth retrying
            self._log_failure(access, request, "unavailable", str(response.status_code))
            raise ChannelCallError("unavailable", str(response.status_code), f"{where}: HTTP {response.status_code}")
        error = wire.error_of(answer)
        if error is None:
            return answer
        code = wire.error_code(error)
        kind: ErrorKind
        if adapter.is_auth_error(error):
            kind = "auth"
        elif adapter.is_rate_limited(error) or response.status_code == 429:
            kind = "rate_limited"
        else:
            kind = "refused"
        self._log_failure(access, request, kind, code)
        message = wire.error_message(error)
        raise ChannelCallError(kind, code, f"{where}: {message}" if message else where)

    @staticmethod
    def _log_failure(access: ShopAccess, request: WireRequest, kind: str, code: str) -> None:
        log.warning("channel.call_failed", channel=access.channel, shop=access.shop, op=request.op, kind=kind,
                    code=code)

