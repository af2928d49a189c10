"""The one way to start and message an OrderWorkflow from outside it: the API, the intake activities,
the after-sales exchange and the CLI all go through `OrderClient`.

Starts are idempotent by workflow id (`order-<order id>`): a second start of the same order joins the
running one and never restarts a closed one. One priority rule for every start: `priority_for`,
which an exchange's outbound order meets by carrying the original order's priority tags.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from models.order import Order, workflow_id_for
from models.order_workflow import (
    ORDER_WORKFLOW,
    ChannelUpdate,
    OrderMessage,
    OrderPolicy,
    OrderSnapshot,
    OrderWorkflowInput,
    StockDecisionRequest,
    StockReplenished,
)
from models.priority import priority_for
from models.search_attributes import receipt_search_attributes
from models.shipping import TrackingEvent


class OrderClient:
    def __init__(self, client: Client, task_queue: str = "") -> None:
        self.client, self.task_queue = client, task_queue  # the queue only matters to starts

    def _start_options(self, order: Order) -> dict[str, Any]:
        return dict(
            id=workflow_id_for(order.order_id), task_queue=self.task_queue,
            # Same order: never a second run, never a closed one restarted.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            priority=priority_for(order),  # urgent and vip ahead when the workers are saturated
            search_attributes=receipt_search_attributes(order),
        )

    def with_stock_decision(self, order: Order, policy: OrderPolicy) -> WithStartWorkflowOperation:
        """The start half of update-with-start; `stock_decision` sends it and waits for the answer."""
        return WithStartWorkflowOperation(
            ORDER_WORKFLOW, OrderWorkflowInput(order=order, policy=policy),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, result_type=OrderSnapshot,
            **self._start_options(order))

    async def stock_decision(self, start: WithStartWorkflowOperation, *, rpc_timeout: timedelta) -> OrderSnapshot:
        """Start (or join) the order and wait until its stock is reserved or short."""
        return await self.client.execute_update_with_start_workflow(
            OrderMessage.STOCK_DECISION.value, StockDecisionRequest(), start_workflow_operation=start,
            result_type=OrderSnapshot, rpc_timeout=rpc_timeout)

    async def start_from_channel(self, order: Order, policy: OrderPolicy, update: ChannelUpdate) -> WorkflowHandle:
        """A platform's order: started with its channel state as the first signal (signal-with-start),
        so every later webhook or pull of the same order reaches the same run."""
        return await self.client.start_workflow(
            ORDER_WORKFLOW, OrderWorkflowInput(order=order, policy=policy),
            start_signal=OrderMessage.CHANNEL_UPDATE.value, start_signal_args=[update],
            **self._start_options(order))

    async def start(self, order: Order, policy: OrderPolicy) -> WorkflowHandle:
        """An order the hub makes itself (an exchange's outbound parcel)."""
        return await self.client.start_workflow(
            ORDER_WORKFLOW, OrderWorkflowInput(order=order, policy=policy), **self._start_options(order))

    # --- messages: addressed by the workflow id the read model holds for the order ----------------

    def handle(self, workflow_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle(workflow_id)

    async def state(self, workflow_id: str) -> OrderSnapshot:
        return await self.handle(workflow_id).query(OrderMessage.STATE.value, result_type=OrderSnapshot)

    async def update(self, workflow_id: str, message: OrderMessage, arg: BaseModel, *,
                     rpc_timeout: timedelta | None = None) -> OrderSnapshot:
        """Send one of the order's updates and wait for its answer (a refusal raises
        WorkflowUpdateFailedError carrying the domain's error code)."""
        if message not in UPDATES:
            raise ValueError(f"{message} is not an update of OrderWorkflow")
        return await self.handle(workflow_id).execute_update(message.value, arg, result_type=OrderSnapshot,
                                                             rpc_timeout=rpc_timeout)

    async def stock_replenished(self, workflow_id: str, signal: StockReplenished) -> None:
        await self.handle(workflow_id).signal(OrderMessage.STOCK_REPLENISHED.value, signal)

    async def tracking_event(self, workflow_id: str, event: TrackingEvent) -> None:
        await self.handle(workflow_id).signal(OrderMessage.TRACKING_EVENT.value, event)


UPDATES = frozenset({OrderMessage.STOCK_DECISION, OrderMessage.CONFIRM_PAYMENT, OrderMessage.CANCEL,
                     OrderMessage.SCAN_SHIPMENT, OrderMessage.RESOLVE_HOLD})
