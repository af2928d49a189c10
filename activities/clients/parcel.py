"""The one way to reach a ParcelWorkflow from outside it: an order about to print joins its parcel by
signal-with-start (the StockSyncWorkflow pattern), so orders joining at once meet in one run."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from models.order_workflow import PARCEL_WORKFLOW, ParcelInput, ParcelJoin, ParcelMessage, ParcelState


class ParcelClient:
    def __init__(self, client: Client, task_queue: str) -> None:
        self.client, self.task_queue = client, task_queue

    async def join(self, parcel_workflow_id: str, merge_key: str, warehouse: str, join: ParcelJoin) -> None:
        await self.client.start_workflow(
            PARCEL_WORKFLOW, ParcelInput(merge_key=merge_key, warehouse=warehouse),
            id=parcel_workflow_id, task_queue=self.task_queue,
            # A parcel that has left ended its run: the next order of the key starts a new parcel.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            start_signal=ParcelMessage.JOIN.value, start_signal_args=[join])

    async def state(self, parcel_workflow_id: str) -> ParcelState:
        return await self.client.get_workflow_handle(parcel_workflow_id).query(
            ParcelMessage.STATE.value, result_type=ParcelState)
