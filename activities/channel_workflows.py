"""Starting and signalling the channel workflows from outside them: the API (a shop registered or
given new credentials, stock set by hand), the worker (every registered shop has its sync
running) and the inventory activities (every stock change reaches the stock push).

All starts are idempotent: a running workflow with the id is joined or signalled, never doubled.
"""

from __future__ import annotations

import structlog
from pydantic import BaseModel
from sqlalchemy import select
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from models.channel_sync import (
    ChannelSyncInput,
    StockChanged,
    StockSyncInput,
    channel_sync_id,
    stock_sync_id,
)
from models.config import Settings
from models.db import session_scope
from models.tables import Shop
from workflows.channel_sync import ChannelSyncWorkflow
from workflows.stock_sync import StockSyncWorkflow

log = structlog.get_logger()


def sync_input(settings: Settings, shop: Shop) -> ChannelSyncInput:
    """A fresh run resumes from the shop's last checkpoint, or looks back `initial_lookback_s`."""
    return ChannelSyncInput(channel=shop.channel, shop=shop.shop, sync_interval_s=shop.sync_interval_s,
                            overlap_s=settings.sync_overlap_s, initial_lookback_s=settings.sync_initial_lookback_s,
                            cursor=shop.sync_cursor,
                            paused_reason=shop.status_reason if shop.status == "PAUSED" else None)


async def ensure_channel_sync(client: Client, settings: Settings, shop: Shop) -> None:
    await client.start_workflow(
        ChannelSyncWorkflow.run, sync_input(settings, shop), id=channel_sync_id(shop.channel, shop.shop),
        task_queue=settings.task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


async def signal_channel_sync(client: Client, settings: Settings, shop: Shop, signal: str, arg: BaseModel) -> None:
    """Signal the shop's sync, starting it first if it is not running (signal-with-start)."""
    await client.start_workflow(
        ChannelSyncWorkflow.run, sync_input(settings, shop), id=channel_sync_id(shop.channel, shop.shop),
        task_queue=settings.task_queue, id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal=signal, start_signal_args=[arg],
    )


async def ensure_all_channel_syncs(client: Client, settings: Settings) -> int:
    """Every registered shop has its sync running (a paused one waits for credentials)."""
    async with session_scope(settings.db_url) as session:
        shops = (await session.execute(select(Shop))).scalars().all()
    for shop in shops:
        await ensure_channel_sync(client, settings, shop)
    log.info("channel syncs running", shops=len(shops))
    return len(shops)


class StockChangeNotifier:
    """`InventoryActivities(on_change=...)`: signal-with-start the sku's StockSyncWorkflow."""

    def __init__(self, client: Client, task_queue: str, *, debounce_s: float = 1.0) -> None:
        self.client, self.task_queue, self.debounce_s = client, task_queue, debounce_s

    async def __call__(self, skus: list[str], reason: str) -> None:
        for sku in skus:
            await self.client.start_workflow(
                StockSyncWorkflow.run, StockSyncInput(sku=sku, debounce_s=self.debounce_s),
                id=stock_sync_id(sku), task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                start_signal="stock_changed", start_signal_args=[StockChanged(sku=sku, reason=reason)],
            )
