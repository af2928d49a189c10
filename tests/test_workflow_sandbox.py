"""ORDERHUB_WORKFLOW_SANDBOX: strict fails a workflow task that reads the clock; passthrough (the
production setting, no sandbox) lets it run, which is why the suite and the replays run strict."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from clock_probe import ReadsTheClock
from models.config import Settings
from workers.worker import workflow_runner


async def _first_task_failure(handle) -> str | None:
    for _ in range(100):
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                return event.workflow_task_failed_event_attributes.failure.message
        await asyncio.sleep(0.1)
    return None


async def test_strict_fails_the_task_that_reads_the_clock_and_passthrough_runs_it(ts_env):
    client = ts_env.client
    for sandbox in ("strict", "passthrough"):
        queue = f"sandbox-{sandbox}-{uuid.uuid4().hex[:8]}"
        async with Worker(client, task_queue=queue, workflows=[ReadsTheClock],
                          workflow_runner=workflow_runner(Settings(workflow_sandbox=sandbox))):
            handle = await client.start_workflow(ReadsTheClock.run, id=queue, task_queue=queue)
            if sandbox == "strict":
                failure = await _first_task_failure(handle)
                await handle.terminate("probe done")
                assert failure is not None and "datetime.datetime.now" in failure
            else:
                assert await asyncio.wait_for(handle.result(), 10)  # ran: nothing at run time stops the clock call
