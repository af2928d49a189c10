"""Bare Temporal doing what an order does, with no-op steps: the ceiling the hub is measured against.

`BaselineOrder` runs the same number and kinds of activity calls as a happy-path OrderWorkflow (local
activities for database steps, remote ones for partner calls; the counts are read from a real order's
history), answers an update once its first steps are done (like the stock decision), waits for a scan
update and a delivery signal like an order waits for the warehouse and the carrier.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow

LOCAL = dict(start_to_close_timeout=timedelta(seconds=30))
REMOTE = dict(start_to_close_timeout=timedelta(seconds=30))


class Shape(BaseModel):
    """How many steps a hub order takes, from its recorded history."""

    local_before_answer: int  # local activities before the stock decision is answered
    local_before_scan: int
    remote_before_scan: int
    local_after_scan: int
    remote_after_scan: int
    local_after_delivery: int


class Nothing(BaseModel):
    pass


@activity.defn
async def no_op_step(_: Nothing) -> None:
    return None


@workflow.defn
class BaselineOrder:
    def __init__(self) -> None:
        self.answered = self.scanned = self.delivered = False
        self.ready_for_scan = False

    @workflow.run
    async def run(self, shape: Shape) -> int:
        for _ in range(shape.local_before_answer):
            await workflow.execute_local_activity(no_op_step, Nothing(), **LOCAL)
        self.answered = True
        await self._steps(shape.local_before_scan, shape.remote_before_scan)
        self.ready_for_scan = True
        await workflow.wait_condition(lambda: self.scanned)
        await self._steps(shape.local_after_scan, shape.remote_after_scan)
        await workflow.wait_condition(lambda: self.delivered)
        await self._steps(shape.local_after_delivery, 0)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return 0

    async def _steps(self, local: int, remote: int) -> None:
        for _ in range(local):
            await workflow.execute_local_activity(no_op_step, Nothing(), **LOCAL)
        for _ in range(remote):
            await workflow.execute_activity(no_op_step, Nothing(), **REMOTE)

    @workflow.update
    async def decision(self, _: Nothing) -> bool:
        await workflow.wait_condition(lambda: self.answered)
        return True

    @workflow.update
    async def scan(self, _: Nothing) -> bool:
        await workflow.wait_condition(lambda: self.ready_for_scan)
        self.scanned = True
        return True

    @workflow.signal
    def delivered(self, _: Nothing) -> None:
        self.delivered = True


def shape_of(events: list) -> Shape:
    """Count a happy-path OrderWorkflow history's steps, split where it waits: the stock decision's
    answer, the warehouse scan (the update after the waybill), the carrier (the first signal after)."""
    counts = {"answer": [0, 0], "scan": [0, 0], "delivery": [0, 0], "end": [0, 0]}
    phase = "answer"
    for event in events:
        attrs = event.WhichOneof("attributes")
        if attrs == "workflow_execution_update_completed_event_attributes" and phase == "answer":
            phase = "scan"
        elif attrs == "workflow_execution_update_accepted_event_attributes" and phase == "scan" and counts["scan"][1]:
            phase = "delivery"
        elif attrs == "workflow_execution_signaled_event_attributes" and phase == "delivery":
            phase = "end"
        elif attrs == "marker_recorded_event_attributes" \
                and event.marker_recorded_event_attributes.marker_name == "core_local_activity":
            counts[phase][0] += 1
        elif attrs == "activity_task_scheduled_event_attributes":
            counts[phase][1] += 1
    return Shape(local_before_answer=counts["answer"][0], local_before_scan=counts["scan"][0],
                 remote_before_scan=counts["scan"][1], local_after_scan=counts["delivery"][0],
                 remote_after_scan=counts["delivery"][1], local_after_delivery=counts["end"][0])
