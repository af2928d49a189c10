"""Back to the sales channels: ship-back of a parcel's waybill, the stock a shop shows, and the outcome of
an after-sales refund (made or refused).

Every channel goes through `ChannelTransport` with the shop's credentials from the `shops` table.
Platform failures become Temporal errors the workflows can act on:
- auth (token expired or revoked): non-retryable `shop_auth_expired`; the shop must be re-authorised.
- no such shop: non-retryable `shop_not_registered`.
- rate limited / unavailable: retryable `platform_rate_limited` / `platform_unavailable` (the retry policy backs off).
- refused: non-retryable, the platform's own code as the error type.
(The codes are models.channel_errors.ChannelError.)
"""

from __future__ import annotations

import structlog
from sqlalchemy import update
from sqlmodel import col
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels.transport import ChannelCallError, ChannelTransport, ShopAccess
from models.channel import PlatformRequestStatus, PushRefundInput, PushStockInput
from models.channel_errors import ChannelError
from models.db import session_scope
from models.shipping import PushShipmentInput
from models.tables import AfterSalesTicketRecord, OrderRecord, Shop

log = structlog.get_logger(__name__)

RETRYABLE = {"rate_limited": ChannelError.PLATFORM_RATE_LIMITED, "unavailable": ChannelError.PLATFORM_UNAVAILABLE}


def as_application_error(err: ChannelCallError, channel: str, shop: str) -> ApplicationError:
    details = {"channel": channel, "shop": shop, "kind": err.kind, "code": err.code}
    if err.kind == "auth":
        return ChannelError.SHOP_AUTH_EXPIRED.failure(
            f"{channel}/{shop}: authorisation expired or revoked ({err.code})", details)
    if err.kind in RETRYABLE:
        return RETRYABLE[err.kind].failure(f"{channel}/{shop}: {err.message}", details, non_retryable=False)
    return ApplicationError(f"{channel}/{shop} refused: {err.code}: {err.message}", details, type=err.code,
                            non_retryable=True)


async def shop_access(db_url: str, channel: str, shop: str) -> tuple[ShopAccess, str]:
    """The shop's credentials and status, read at call time so no secret enters a workflow history."""
    async with session_scope(db_url) as session:
        row = await session.get(Shop, (channel, shop))
        if row is None:
            raise ChannelError.SHOP_NOT_REGISTERED.failure(f"no shop {channel}/{shop} is registered",
                                                           {"channel": channel, "shop": shop})
        access = ShopAccess(channel=row.channel, shop=row.shop, app_key=row.app_key, app_secret=row.app_secret,
                            access_token=row.access_token)
        return access, row.status


class ChannelActivities:
    def __init__(self, db_url: str, transport: ChannelTransport) -> None:
        self.db_url = db_url
        self.transport = transport

    async def _shop(self, channel: str, shop: str) -> tuple[ShopAccess, str]:
        return await shop_access(self.db_url, channel, shop)

    @activity.defn(name="push_shipment_to_channel")
    async def push_shipment_to_channel(self, request: PushShipmentInput) -> None:
        access, _ = await self._shop(request.channel, request.shop)
        external_id, is_split = request.external_id, request.is_split
        if request.replaces:
            # An exchange's parcel: the platform knows only the order it replaces, which shipped
            # before, so this is one more parcel of it (Shopify: fulfilled only where the exchange
            # opened a fulfillment order; nothing to refuse otherwise).
            is_split = True
            async with session_scope(self.db_url) as session:
                original = await session.get(OrderRecord, request.replaces)
            if original is None:
                raise ApplicationError(f"order {request.replaces} (replaced by {request.order_id}) is not registered",
                                       non_retryable=True)
            external_id = original.external_id
        try:
            # request_id: one ship-back per parcel, however often retried
            await self.transport.ship_back(access, external_id=external_id, waybill_no=request.waybill_no,
                                           carrier=request.carrier, is_split=is_split,
                                           request_id=request.shipment_id)
        except ChannelCallError as err:
            raise as_application_error(err, request.channel, request.shop) from err

    @activity.defn(name="push_stock_to_shop")
    async def push_stock_to_shop(self, request: PushStockInput) -> None:
        access, status = await self._shop(request.channel, request.shop)
        if status != "ACTIVE":
            log.info("channel.stock_push_skipped", channel=request.channel, shop=request.shop, sku=request.sku,
                     shop_status=status)
            return
        try:
            await self.transport.push_stock(access, sku=request.sku, quantity=request.quantity)
        except ChannelCallError as err:
            raise as_application_error(err, request.channel, request.shop) from err

    @activity.defn(name="push_refund_to_channel")
    async def push_refund_to_channel(self, request: PushRefundInput) -> None:
        access, _ = await self._shop(request.channel, request.shop)
        if request.platform_request_id is None:
            # A workflow that does not pass the ticket's platform request: the ticket row has it.
            request = request.model_copy(update={"platform_request_id": await ticket_platform_request(
                self.db_url, request)})
        platform_request = request.platform_request_id is not None
        try:
            # The key is the after-sales ticket id, or the buyer's own request id when the ticket came from the
            # platform (that request is what the platform is answering): one refund there however often retried.
            await self.transport.push_refund(access, external_id=request.external_id,
                                             refund_id=request.platform_request_id or request.refund_id,
                                             amount=request.amount, status=request.status, reason=request.reason,
                                             platform_request=platform_request)
        except ChannelCallError as err:
            raise as_application_error(err, request.channel, request.shop) from err
        if request.platform_request_id is not None:
            await record_platform_answer(self.db_url, request)


async def ticket_platform_request(db_url: str, request: PushRefundInput) -> str | None:
    """The platform's own request id of the ticket named by `refund_id`, if a buyer's request opened it."""
    async with session_scope(db_url) as session:
        row = await session.get(AfterSalesTicketRecord, request.refund_id)
    if row is None or (row.channel, row.shop) != (request.channel, request.shop):
        return None
    return row.platform_request_id


async def record_platform_answer(db_url: str, request: PushRefundInput) -> None:
    """The ticket's view of the platform request follows the answer the platform took (idempotent)."""
    answered = (PlatformRequestStatus.REFUNDED if request.status == "REFUNDED"
                else PlatformRequestStatus.REFUSED).value
    async with session_scope(db_url) as session:
        await session.exec(update(AfterSalesTicketRecord).where(
            col(AfterSalesTicketRecord.channel) == request.channel, col(AfterSalesTicketRecord.shop) == request.shop,
            col(AfterSalesTicketRecord.platform_request_id) == request.platform_request_id,
        ).values(platform_status=answered))
