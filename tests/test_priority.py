"""Priority under load: urgent and vip orders started behind a backlog of ordinary ones overtake it.

Runs on the real dev server (dev_env): Temporal 1.32's matcher honours Priority.priority_key by
default, no dynamic config needed. The stand-in workflow has an order's shape (activities in a
row) without database or sandbox: the queueing is what is tested.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from models.priority import PRIORITY_LEVELS, priority_for
from orderkit import make_order

STEPS = 3


@activity.defn
async def step(i: int) -> int:
    await asyncio.sleep(random.uniform(0.02, 0.05))
    return activity.info().priority.priority_key or 0


@workflow.defn
class StandIn:
    @workflow.run
    async def run(self) -> list[int]:
        return [await workflow.execute_activity(step, i, start_to_close_timeout=timedelta(seconds=30))
                for i in range(STEPS)]


def test_priority_levels() -> None:
    def key(*tags: str) -> int | None:
        ship_from = "2026-11-11T00:00:00+08:00" if "presale" in tags else None
        return priority_for(make_order(priority_tags=list(tags), ship_not_before=ship_from)).priority_key

    assert (key("urgent"), key("vip"), key(), key("presale")) == (1, 2, 3, 4)
    assert key("presale", "vip", "urgent") == 1  # the most urgent tag wins
    assert set(PRIORITY_LEVELS) == {"urgent", "vip", "normal", "presale"}


async def test_priority_orders_overtake_a_saturated_backlog(dev_env) -> None:
    client, queue = dev_env.client, f"priority-{uuid.uuid4().hex[:8]}"
    ordinary = [make_order() for _ in range(30)]
    urgent = [make_order(priority_tags=[tag]) for tag in ("urgent", "vip", "urgent", "vip")]

    async def start(order):
        return await client.start_workflow(StandIn.run, id=f"{queue}-{order.external_id}", task_queue=queue,
                                           priority=priority_for(order), execution_timeout=timedelta(minutes=2))

    # Two slots of each kind: the backlog keeps the worker saturated for several seconds. No eager
    # activities: one handed over with a workflow task skips the queue and shows no priority.
    worker = Worker(client, task_queue=queue, workflows=[StandIn], activities=[step],
                    workflow_runner=UnsandboxedWorkflowRunner(), disable_eager_activity_execution=True,
                    max_concurrent_activities=2, max_concurrent_workflow_tasks=2)
    handles = []
    async with worker:
        try:
            handles += await asyncio.gather(*(start(o) for o in ordinary))
            handles += await asyncio.gather(*(start(o) for o in urgent))  # last in, FIFO would serve them last
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=60)
        finally:
            for h in handles:  # whatever did not finish must not hold the shared server's queues
                if (await h.describe()).close_time is None:
                    await h.terminate("test over")

    closed = [(await h.describe()).close_time for h in handles]
    ordinary_closed, urgent_closed = sorted(closed[:len(ordinary)]), closed[len(ordinary):]
    # Every priority order is done while three quarters of the backlog that was there first are still
    # running. Without priority all of them progress in turns and finish together at the end: the
    # priority ones land anywhere among the ordinary ones (measured: the last one ranks 13th to 30th).
    assert max(urgent_closed) < ordinary_closed[len(ordinary) // 4], (urgent_closed, ordinary_closed)
    # Activities inherit the workflow's priority: nothing in the workflow sets one.
    assert results[len(ordinary):] == [[priority_for(o).priority_key] * STEPS for o in urgent]
    assert results[0] == [3] * STEPS
