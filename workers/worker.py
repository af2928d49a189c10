"""The order worker: OrderWorkflow plus its activities on one task queue."""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from activities.channel import ChannelActivities
from activities.http import PartnerHttp
from activities.inventory import InventoryActivities
from activities.orders import OrderRecordActivities
from activities.payment import PaymentActivities
from activities.shipping import ShippingActivities
from models.config import Settings
from models.db import dispose_engines, upgrade
from workers.client import connect
from workflows.order import OrderWorkflow

log = structlog.get_logger()

WORKFLOWS = [OrderWorkflow]


def activities_for(settings: Settings, http: PartnerHttp) -> list:
    """Every activity the order workflow calls, bound to this process's database and partners."""
    db = settings.db_url
    inventory, records = InventoryActivities(db), OrderRecordActivities(db)
    shipping, payment, channel = ShippingActivities(db, http), PaymentActivities(http), ChannelActivities(http)
    return [
        inventory.reserve_stock, inventory.release_stock, inventory.commit_stock,
        records.register_order, records.record_transition, records.plan_shipments,
        shipping.print_waybill, shipping.subscribe_tracking, shipping.query_tracking,
        payment.refund_payment, channel.push_shipment_to_channel,
    ]


def build_worker(client: Client, settings: Settings, http: PartnerHttp) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities_for(settings, http),
        max_concurrent_activities=200,
        max_concurrent_local_activities=200,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run_worker(settings: Settings) -> None:
    await upgrade(settings.db_url)
    client = await connect(settings)
    async with AsyncExitStack() as stack:
        http = PartnerHttp(settings.sandbox_base_url)
        stack.push_async_callback(http.aclose)
        stack.push_async_callback(dispose_engines)
        worker = build_worker(client, settings, http)
        # SIGTERM (a deploy, Ctrl-C in `make dev`): stop polling, let running tasks finish.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(worker.shutdown()))
        log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
        await worker.run()
        log.info("worker stopped")


def main(settings: Settings) -> None:
    asyncio.run(run_worker(settings))
