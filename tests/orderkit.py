"""Test helpers: build orders and drive them the way the API does."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from activities.clients.order import OrderClient
from models.config import Settings
from models.order import Order
from models.order_workflow import OrderPolicy, OrderSnapshot, order_policy
from models.seed import seed_demo, seed_sandbox_shops
from workers import stack
from workers.scenarios import a_phone, pay_at_gateway
from workers.worker import build_worker, partner_clients

BUYER = {"name": "张三", "phone": "13800138000", "province": "上海", "city": "上海市", "district": "浦东新区",
         "address": "世纪大道 100 号"}


def make_order(lines: list[tuple[str, int]] | None = None, *, paid: bool = False, province: str = "上海",
               external_id: str | None = None, unit_price: int = 1999, **extra: Any) -> Order:
    return Order.model_validate({
        "channel": "own_store", "shop": "default",
        "external_id": external_id or f"T{uuid.uuid4().hex[:12]}",
        # Each order a buyer of its own unless the test says otherwise: the fraud rules count per buyer.
        "paid": paid, "buyer": {**BUYER, "phone": a_phone(), "province": province, **extra.pop("buyer", {})},
        "lines": [{"sku": sku, "quantity": qty, "unit_price": unit_price} for sku, qty in (lines or [("SKU-1", 2)])],
        **extra,
    })


def settings_for(db_url: str, sandbox_url: str, **overrides: Any) -> Settings:
    """Stock push is off unless a test is about it: it would add a workflow to every order test."""
    return Settings(database_url=db_url, sandbox_url=sandbox_url, task_queue=f"test-{uuid.uuid4().hex[:8]}",
                    **{"push_stock": False, **overrides})


@asynccontextmanager
async def running_worker(client: Client, settings: Settings) -> AsyncIterator[None]:
    async with partner_clients(settings) as (http, transport), build_worker(client, settings, http, transport):
        yield


# Nothing listens here: tracking callbacks are lost, so delivery is found by the periodic query.
LOST_CALLBACKS = "http://127.0.0.1:9/v1/carriers/tracking"


def policy_of(settings: Settings, **overrides: Any) -> OrderPolicy:
    """The policy an order starting now gets (Settings and the rules file), with a test's changes.
    Merging is off unless a test is about it: no order waits for a parcel partner."""
    policy = order_policy(settings).model_copy(update={"merge_window_s": 0, **overrides})
    policy.tracking_callback_url = overrides.get("tracking_callback_url", LOST_CALLBACKS)
    return policy


async def gateway_trade(settings: Settings, order: Order, amount: int | None = None) -> str:
    """The buyer pays at the sandbox gateway for the order (its total unless `amount` fen): the trade_no. A
    trade of its own each time: tests reuse external ids against one sandbox, which keeps its trades."""
    return await pay_at_gateway(settings.sandbox_base_url, f"{order.shop}-{order.external_id}-{uuid.uuid4().hex[:8]}",
                                order.total_amount if amount is None else amount)


async def paid_order(settings: Settings, order: Order) -> Order:
    """The order with the trade its buyer paid at the gateway: refunds go back to it."""
    return order.model_copy(update={"paid": True, "trade_no": await gateway_trade(settings, order)})


async def submit(client: Client, settings: Settings, order: Order, policy: OrderPolicy | None = None
                 ) -> tuple[OrderSnapshot, WorkflowHandle]:
    """Update-with-start through the order client, as POST /v1/orders does. A paid own-store order without
    a trade is paid at the gateway first (the gateway refunds only trades it saw)."""
    if order.paid and order.channel == "own_store" and not order.trade_no:
        order = await paid_order(settings, order)
    orders = OrderClient(client, settings.task_queue)
    start = orders.with_stock_decision(order, policy or policy_of(settings))
    snapshot = await orders.stock_decision(start, rpc_timeout=timedelta(seconds=60))
    return snapshot, await start.workflow_handle()


async def finish(env, handle: WorkflowHandle) -> OrderSnapshot:
    """Await the workflow's result with time skipping on: timers fire at once. (A handle from
    update-with-start is not the test server's auto-skipping handle, so unlock explicitly.)"""
    async with env.time_skipping_unlocked():
        return await handle.result()


PG_ADMIN_DSN = os.environ.get("ORDERHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database, migrated and seeded, dropped afterwards."""
    async with stack.scratch_pg_database(PG_ADMIN_DSN, "orderhub_test") as url:
        await seed_demo(url)
        await seed_sandbox_shops(url, channels=["own_store"])  # ship-back target of make_order
        yield url


async def wait_until(probe, done, attempts: int = 300):
    """Poll `probe()` until `done(result)`; the last result otherwise fails the test."""
    import asyncio

    result = None
    for _ in range(attempts):
        result = await probe()
        if done(result):
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not reached; last: {result}")


async def end_long_running_workflows(client: Client, task_queue: str) -> None:
    """Terminate the channel and stock syncs a test left on its task queue: their workflow ids are
    per shop / per sku, so on the shared dev server a later test's signal would reach them."""
    query = (f'TaskQueue = "{task_queue}" AND ExecutionStatus = "Running" AND '
             f'WorkflowType IN ("ChannelSyncWorkflow", "StockSyncWorkflow")')
    async for execution in client.list_workflows(query):
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(execution.id, run_id=execution.run_id).terminate("test over")


@asynccontextmanager
async def sampled(probe, interval_s: float) -> AsyncIterator[list]:
    """Call `probe()` in a loop while the block runs, and once more after it: the samples, for
    invariants that must hold at every moment, not just at the end."""
    import asyncio

    samples: list = []
    stop = asyncio.Event()

    async def watch() -> None:
        while not stop.is_set():
            samples.append(await probe())
            await asyncio.sleep(interval_s)

    task = asyncio.create_task(watch())
    try:
        yield samples
    finally:
        stop.set()
        await task
        samples.append(await probe())
