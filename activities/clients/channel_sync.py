"""The one way to start and message a shop's ChannelSyncWorkflow from outside it: the API (a shop
registered or given new credentials, "sync now") and the worker (every registered shop has its sync
running). Starts are idempotent: a running sync with the id is joined or signalled, never doubled.
"""

from __future__ import annotations

import structlog
from pydantic import BaseModel
from sqlmodel import select
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from models.channel_sync import CHANNEL_SYNC_WORKFLOW, ChannelSyncInput, ChannelSyncMessage, channel_sync_id
from models.config import Settings
from models.db import session_scope
from models.tables import Shop

log = structlog.get_logger()


def sync_input(settings: Settings, shop: Shop) -> ChannelSyncInput:
    """A fresh run resumes from the shop's last checkpoint, or looks back `initial_lookback_s`."""
    return ChannelSyncInput(channel=shop.channel, shop=shop.shop, sync_interval_s=shop.sync_interval_s,
                            overlap_s=settings.sync_overlap_s, initial_lookback_s=settings.sync_initial_lookback_s,
                            cursor=shop.sync_cursor,
                            paused_reason=shop.status_reason if shop.status == "PAUSED" else None)


async def ensure_channel_sync(client: Client, settings: Settings, shop: Shop) -> None:
    await client.start_workflow(
        CHANNEL_SYNC_WORKFLOW, sync_input(settings, shop), id=channel_sync_id(shop.channel, shop.shop),
        task_queue=settings.task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


async def signal_channel_sync(client: Client, settings: Settings, shop: Shop, signal: ChannelSyncMessage,
                              arg: BaseModel) -> None:
    """Signal the shop's sync, starting it first if it is not running (signal-with-start)."""
    await client.start_workflow(
        CHANNEL_SYNC_WORKFLOW, sync_input(settings, shop), id=channel_sync_id(shop.channel, shop.shop),
        task_queue=settings.task_queue, id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal=signal.value, start_signal_args=[arg],
    )


async def ensure_all_channel_syncs(client: Client, settings: Settings) -> int:
    """Every registered shop has its sync running (a paused one waits for credentials)."""
    async with session_scope(settings.db_url) as session:
        shops = (await session.exec(select(Shop))).all()
    for shop in shops:
        await ensure_channel_sync(client, settings, shop)
    log.info("channel syncs running", shops=len(shops))
    return len(shops)
