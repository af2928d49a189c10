"""Pulling a shop's orders: one window at a time, every order handed to its workflow (and, per window, the
refunds and returns buyers opened at the platform: `activities.platform_after_sales`).

`pull_orders` reads one modified-time window through the platform's API (last page first), maps
each order and hands it off with signal-with-start, so an order seen in two overlapping windows,
or by a webhook and a pull, is still one workflow. Repeating a window is harmless, which is what
makes the activity safe to retry. A payload that cannot be mapped goes to quarantine (once), the
rest of the window carries on.

An expired or revoked token is not retried: `shop_auth_expired` (ChannelError) is non-retryable, and the sync
workflow pauses the shop until an admin supplies a new one.
"""

from __future__ import annotations

import json

import structlog
from sqlalchemy import update
from sqlmodel import col
from temporalio import activity
from temporalio.client import Client

from activities.channel import as_application_error, shop_access
from activities.channels.transport import ChannelCallError, ChannelTransport
from activities.intake import Rejected, describe, hand_off_channel_order, quarantine
from activities.platform_after_sales import pull_after_sales
from models.channel_sync import (
    PullAfterSalesInput,
    PullAfterSalesResult,
    PullOrdersInput,
    PullOrdersResult,
    SetShopStatus,
    SyncCheckpoint,
)
from models.config import Settings
from models.db import session_scope
from models.tables import Shop, utcnow

log = structlog.get_logger()


async def pull_orders(settings: Settings, client: Client, transport: ChannelTransport,
                      request: PullOrdersInput) -> PullOrdersResult:
    access, _ = await shop_access(settings.db_url, request.channel, request.shop)
    result = PullOrdersResult()
    source = f"pull:{request.channel}/{request.shop}"
    try:
        async for page in transport.pull_pages(access, request.start, request.end):
            result.pages += 1
            for payload in page:
                result.seen += 1
                try:
                    _, outcome = await hand_off_channel_order(settings, client, request.channel, request.shop,
                                                              payload, event_id=f"pull:{request.end.isoformat()}")
                except Rejected as rejected:
                    await quarantine(settings.db_url, source, json.dumps(payload, ensure_ascii=False, sort_keys=True),
                                     describe(rejected.errors), once=True)
                    result.quarantined += 1
                    continue
                if outcome == "handed_off":
                    result.handed_off += 1
                else:
                    result.closed += 1
            activity.heartbeat(result.pages)
    except ChannelCallError as err:
        raise as_application_error(err, request.channel, request.shop) from err
    log.info("window pulled", channel=request.channel, shop=request.shop, start=request.start.isoformat(),
             end=request.end.isoformat(), **result.model_dump())
    return result


async def record_checkpoint(db_url: str, checkpoint: SyncCheckpoint) -> None:
    """The cursor as GET /v1/shops shows it. The workflow's own state is the source of truth."""
    async with session_scope(db_url) as session:
        await session.exec(
            update(Shop).where(col(Shop.channel) == checkpoint.channel, col(Shop.shop) == checkpoint.shop)
            .values(sync_cursor=checkpoint.cursor, last_synced_at=utcnow(), last_sync_error=checkpoint.error,
                    orders_pulled=Shop.orders_pulled + checkpoint.pulled))


async def set_shop_status(db_url: str, request: SetShopStatus) -> None:
    """PAUSED is visible at GET /v1/shops until PUT /v1/shops supplies new credentials and the sync,
    having resumed, sets it ACTIVE again (also when the PUT raced the pause)."""
    async with session_scope(db_url) as session:
        await session.exec(
            update(Shop).where(col(Shop.channel) == request.channel, col(Shop.shop) == request.shop)
            .values(status=request.status, status_reason=(request.reason or "")[:500] or None, updated_at=utcnow()))
    log.warning("shop status", channel=request.channel, shop=request.shop, status=request.status,
                reason=request.reason)


class ChannelSyncActivities:
    def __init__(self, settings: Settings, client: Client, transport: ChannelTransport) -> None:
        self.settings, self.client, self.transport = settings, client, transport

    @activity.defn(name="pull_orders")
    async def pull_orders(self, request: PullOrdersInput) -> PullOrdersResult:
        return await pull_orders(self.settings, self.client, self.transport, request)

    @activity.defn(name="pull_after_sales")
    async def pull_after_sales(self, request: PullAfterSalesInput) -> PullAfterSalesResult:
        return await pull_after_sales(self.settings, self.client, self.transport, request)

    @activity.defn(name="record_sync_checkpoint")
    async def record_checkpoint(self, checkpoint: SyncCheckpoint) -> None:
        await record_checkpoint(self.settings.db_url, checkpoint)

    @activity.defn(name="set_shop_status")
    async def set_shop_status(self, request: SetShopStatus) -> None:
        await set_shop_status(self.settings.db_url, request)
