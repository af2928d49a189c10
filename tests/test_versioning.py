"""How a control-flow change ships when Worker Versioning is not an option (docs/versioning.md): a
`workflow.patched` branch replays a history recorded before it; the same change without the patch
does not; and once no run of the old path is left, `deprecate_patch` replays the patched runs."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, Worker
from temporalio.workflow import NondeterminismError

from activities.clients.connection import DATA_CONVERTER

PATCH = "notify-buyer-before-shipping"


@activity.defn
async def notify_buyer(order_id: str) -> str:
    return f"told {order_id}"


@workflow.defn(name="Shipping", sandboxed=False)
class Before:
    """The version running in production: wait, then ship."""

    @workflow.run
    async def run(self, order_id: str) -> str:
        await workflow.sleep(timedelta(minutes=5))
        return "shipped"


@workflow.defn(name="Shipping", sandboxed=False)
class Unpatched:
    """The new step added in place: a run recorded by `Before` cannot replay it."""

    @workflow.run
    async def run(self, order_id: str) -> str:
        await workflow.execute_activity(notify_buyer, order_id, start_to_close_timeout=timedelta(seconds=10))
        await workflow.sleep(timedelta(minutes=5))
        return "shipped"


@workflow.defn(name="Shipping", sandboxed=False)
class Patched:
    """Step 1 of the fallback: new runs take the new step, runs recorded before it keep the old path."""

    @workflow.run
    async def run(self, order_id: str) -> str:
        if workflow.patched(PATCH):
            await workflow.execute_activity(notify_buyer, order_id, start_to_close_timeout=timedelta(seconds=10))
        await workflow.sleep(timedelta(minutes=5))
        return "shipped"


@workflow.defn(name="Shipping", sandboxed=False)
class Deprecated:
    """Step 2, once no run of the old path is open: the branch goes, the marker is still accepted."""

    @workflow.run
    async def run(self, order_id: str) -> str:
        workflow.deprecate_patch(PATCH)
        await workflow.execute_activity(notify_buyer, order_id, start_to_close_timeout=timedelta(seconds=10))
        await workflow.sleep(timedelta(minutes=5))
        return "shipped"


async def recorded_by(env, workflow_class: type) -> WorkflowHistory:
    task_queue = f"versioning-{uuid.uuid4().hex[:8]}"
    async with Worker(env.client, task_queue=task_queue, workflows=[workflow_class], activities=[notify_buyer]):
        handle = await env.client.start_workflow(workflow_class.run, "O-1", id=f"shipping-{uuid.uuid4().hex[:8]}",
                                                 task_queue=task_queue)
        assert await handle.result() == "shipped"
        return await handle.fetch_history()


async def replays_with(workflow_class: type, history: WorkflowHistory) -> None:
    replayer = Replayer(workflows=[workflow_class], data_converter=DATA_CONVERTER)
    await replayer.replay_workflow(history)


async def test_a_patched_change_replays_a_history_recorded_before_it(ts_env):
    before = await recorded_by(ts_env, Before)
    await replays_with(Patched, before)
    with pytest.raises(NondeterminismError):
        await replays_with(Unpatched, before)


async def test_a_deprecated_patch_replays_the_runs_that_took_the_new_path(ts_env):
    patched = await recorded_by(ts_env, Patched)
    await replays_with(Patched, patched)
    await replays_with(Deprecated, patched)
