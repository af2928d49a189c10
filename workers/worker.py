"""The worker: OrderWorkflow, ParcelWorkflow, AfterSalesWorkflow, ChannelSyncWorkflow, StockSyncWorkflow,
ReconcileDayWorkflow and PurgeAuditWorkflow with their activities on one task queue. At start it makes sure every
registered shop's sync is running and the Schedules `reconcile-daily` and `audit-retention` exist."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkerDeploymentConfig, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.after_sales import AfterSalesActivities
from activities.audit import AuditActivities
from activities.channel import ChannelActivities
from activities.channel_sync import ChannelSyncActivities
from activities.channels.transport import ChannelTransport
from activities.clients.audit import ensure_audit_schedule
from activities.clients.channel_sync import ensure_all_channel_syncs
from activities.clients.connection import connect
from activities.clients.parcel import ParcelClient
from activities.clients.reconciliation import ensure_reconcile_schedule
from activities.clients.stock_sync import StockChangeNotifier
from activities.exceptions import ExceptionActivities
from activities.http import PartnerHttp
from activities.inventory import InventoryActivities
from activities.notify import NotifierActivities
from activities.orders import OrderRecordActivities
from activities.parcel import ParcelActivities
from activities.payment import PaymentActivities
from activities.reconciliation import ReconciliationActivities
from activities.refunds import RefundActivities
from activities.shipping import ShippingActivities
from models.config import Settings
from models.db import dispose_engines, upgrade
from models.rules import RulesStore, shared_rules
from workflows.after_sales import AfterSalesWorkflow
from workflows.audit_retention import PurgeAuditWorkflow
from workflows.channel_sync import ChannelSyncWorkflow
from workflows.order import OrderWorkflow
from workflows.parcel import ParcelWorkflow
from workflows.reconciliation import ReconcileDayWorkflow
from workflows.stock_sync import StockSyncWorkflow

log = structlog.get_logger()

WORKFLOWS = [OrderWorkflow, ParcelWorkflow, AfterSalesWorkflow, ChannelSyncWorkflow, StockSyncWorkflow,
             ReconcileDayWorkflow, PurgeAuditWorkflow]


def activities_for(settings: Settings, client: Client, http: PartnerHttp, transport: ChannelTransport,
                   rules: RulesStore | None = None) -> list:
    """Every activity the workflows call, bound to this process's database, partners and platforms."""
    db = settings.db_url
    notify = StockChangeNotifier(client, settings.task_queue, debounce_s=settings.stock_push_debounce_s) \
        if settings.push_stock else None
    rules = rules or shared_rules(settings.rules_file)
    inventory = InventoryActivities(db, on_change=notify, routing=lambda: rules.current.routing)
    records = OrderRecordActivities(db)
    shipping, payment = ShippingActivities(db, http), PaymentActivities(http)
    channel, sync = ChannelActivities(db, transport), ChannelSyncActivities(settings, client, transport)
    after_sales, notifier = AfterSalesActivities(settings, client), NotifierActivities(http)
    exceptions, parcels = ExceptionActivities(db, rules, http), ParcelActivities(db, ParcelClient(client, settings.task_queue))
    refunds = RefundActivities(db, payment, channel)
    reconciliation = ReconciliationActivities(db, http)
    audit = AuditActivities(db)
    return [
        inventory.reserve_stock_for_order, inventory.release_stock, inventory.commit_stock, inventory.plan_stock_push,
        inventory.expect_return, inventory.cancel_expected_return, inventory.inspect_return,
        records.record_transition, records.record_transitions, records.plan_shipments,
        shipping.print_waybill, shipping.subscribe_tracking, shipping.query_tracking,
        refunds.refund_order, channel.push_shipment_to_channel, channel.push_stock_to_shop,
        channel.push_refund_to_channel,
        sync.pull_orders, sync.pull_after_sales, sync.record_checkpoint, sync.set_shop_status,
        after_sales.record_ticket_transition, after_sales.start_replacement_order, notifier.notify,
        exceptions.receive_order, exceptions.screen_address, exceptions.raise_exception,
        exceptions.resolve_exceptions, exceptions.score_order, exceptions.alert_sla,
        parcels.join_parcel,
        reconciliation.reconcile_day,
        audit.purge_audit,
    ]


@asynccontextmanager
async def partner_clients(settings: Settings) -> AsyncIterator[tuple[PartnerHttp, ChannelTransport]]:
    """HTTP clients for carriers and gateway, and for the sales platforms; closed on exit."""
    http, transport = PartnerHttp(settings.sandbox_base_url), ChannelTransport(settings.sandbox_base_url)
    try:
        yield http, transport
    finally:
        await http.aclose()
        await transport.aclose()


def build_worker(client: Client, settings: Settings, http: PartnerHttp, transport: ChannelTransport) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities_for(settings, client, http, transport),
        max_concurrent_activities=200,
        max_concurrent_local_activities=200,
        graceful_shutdown_timeout=timedelta(seconds=10),
        workflow_runner=workflow_runner(settings),
        deployment_config=deployment_config(settings),
    )


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """Worker Versioning (docs/versioning.md): with a deployment name and a build id, this worker is one
    Worker Deployment Version and every run it starts is pinned to it, so a control-flow change ships
    as a new build beside the old one instead of a patch. Without them the worker runs unversioned."""
    if not (settings.worker_deployment and settings.worker_build_id):
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=settings.worker_deployment, build_id=settings.worker_build_id),
        use_worker_versioning=True, default_versioning_behavior=VersioningBehavior.PINNED)


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """strict: Temporal's sandbox, importing the workflows package afresh for every run, so a clock,
    random or time call in workflow code fails the task (models and activities are passed through:
    their imports say so). passthrough: the package is imported once and runs execute it directly.
    Passing the package through the sandbox instead would leave such calls uncaught all the same (a
    passed-through module keeps the real modules it imported) while still costing every activation
    the sandbox's import hooks (measured on a flash sale: about a tenth less
    machine CPU per order without it). Runs can share the package because it keeps no module-level
    state; the strict suite and the history replays are what keep it deterministic."""
    if settings.workflow_sandbox == "passthrough":
        return UnsandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default)


async def run_worker(settings: Settings) -> None:
    await upgrade(settings.db_url)
    client = await connect(settings)
    async with AsyncExitStack() as stack:
        http, transport = await stack.enter_async_context(partner_clients(settings))
        stack.push_async_callback(dispose_engines)
        worker = build_worker(client, settings, http, transport)
        await ensure_all_channel_syncs(client, settings)
        if settings.reconcile_schedule:
            await ensure_reconcile_schedule(client, settings)
        if settings.audit_schedule:
            await ensure_audit_schedule(client, settings)
        # SIGTERM (a deploy, Ctrl-C in `make dev`): stop polling, let running tasks finish.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(worker.shutdown()))
        log.info("worker started", task_queue=settings.task_queue, temporal=settings.temporal_address)
        await worker.run()
        log.info("worker stopped")


def main(settings: Settings) -> None:
    asyncio.run(run_worker(settings))
