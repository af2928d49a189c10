"""A database step that fails for good holds the order with the reason: no endless retries, no silent
stop. A person then cancels it (compensated) or releases it (the step runs again)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from models.exceptions import StandingTags
from models.order import OrderStatus
from models.order_workflow import CancelOrder, ReceiveOrderInput, ResolveHold
from orderkit import finish, make_order, settings_for, submit, wait_until
from workers.worker import WORKFLOWS, activities_for, partner_clients
from workflows.order import OrderWorkflow


def failing_receipt(attempts: list[int], *, fails: int):
    """`receive_order` refusing the order the way a value out of the column's range does, the
    same on every attempt (DB_STEP names the error non-retryable), `fails` times; then the real one."""
    def wrap(real):
        @activity.defn(name="receive_order")
        async def receive_order(request: ReceiveOrderInput) -> StandingTags:
            attempts.append(1)
            if len(attempts) <= fails:
                raise ApplicationError("integer out of range for column shipping_fee", type="DataError")
            return await real(request)
        return receive_order
    return wrap


def named(fn) -> str:
    return activity._Definition.must_from_callable(fn).name


@asynccontextmanager
async def worker_with(client, settings, wrap):
    async with partner_clients(settings) as (http, transport):
        acts = activities_for(settings, client, http, transport)
        acts = [wrap(a) if named(a) == "receive_order" else a for a in acts]
        async with Worker(client, task_queue=settings.task_queue, workflows=WORKFLOWS, activities=acts):
            yield


async def held(handle):
    return await wait_until(lambda: handle.query(OrderWorkflow.state), lambda s: s.status == OrderStatus.ON_HOLD)


async def test_a_database_step_that_keeps_failing_holds_the_order_with_the_reason(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    attempts: list[int] = []
    async with worker_with(ts_env.client, settings, failing_receipt(attempts, fails=10**6)):
        _, handle = await submit(ts_env.client, settings, make_order(paid=True))
        state = await held(handle)
        assert state.hold_reason.startswith("receive_order failed: integer out of range")
        assert len(attempts) == 1  # a permanent error is not retried
        cancelled = await handle.execute_update(OrderWorkflow.cancel, CancelOrder(reason="bad order"))
        assert cancelled.status == OrderStatus.CANCELLED and cancelled.cancel_reason == "bad order"
        assert (await finish(ts_env, handle)).status == OrderStatus.CANCELLED


async def test_a_released_hold_runs_the_failed_step_again(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    attempts: list[int] = []
    async with worker_with(ts_env.client, settings, failing_receipt(attempts, fails=1)):
        _, handle = await submit(ts_env.client, settings, make_order(paid=True))
        await held(handle)
        await handle.execute_update(OrderWorkflow.resolve_hold, ResolveHold(action="release", note="fixed"))
        await wait_until(lambda: handle.query(OrderWorkflow.state), lambda s: s.status == OrderStatus.AWAITING_SCAN)
        assert len(attempts) == 2
