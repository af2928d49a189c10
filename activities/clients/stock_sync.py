"""The one way to reach a sku's StockSyncWorkflow from outside it: every change of reserved or
on-hand stock (the inventory activities, the API's stock routes) signal-with-starts it, so
concurrent changes meet in one workflow and no push races another for the same sku."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from models.channel_sync import STOCK_SYNC_WORKFLOW, StockChanged, StockSyncInput, StockSyncMessage, stock_sync_id


class StockChangeNotifier:
    """`InventoryActivities(on_change=...)`: signal-with-start the sku's StockSyncWorkflow."""

    def __init__(self, client: Client, task_queue: str, *, debounce_s: float) -> None:
        self.client, self.task_queue, self.debounce_s = client, task_queue, debounce_s

    async def __call__(self, skus: list[str], reason: str) -> None:
        for sku in skus:
            await self.client.start_workflow(
                STOCK_SYNC_WORKFLOW, StockSyncInput(sku=sku, debounce_s=self.debounce_s),
                id=stock_sync_id(sku), task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                start_signal=StockSyncMessage.STOCK_CHANGED.value,
                start_signal_args=[StockChanged(sku=sku, reason=reason)],
            )
