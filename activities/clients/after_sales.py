"""The one way to start and message an AfterSalesWorkflow from outside it (the API, tests, the CLI).

The ticket id derives from the request, so a repeated request joins the running ticket and a closed
one stays closed; the ticket's type and order are indexed from its start.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from models.after_sales import (
    AFTER_SALES_WORKFLOW,
    AfterSalesInput,
    TicketFacts,
    TicketMessage,
    TicketOpened,
    TicketPolicy,
    TicketSnapshot,
    TicketStatus,
    ticket_workflow_id,
)
from models.search_attributes import ORDER_ID, TICKET_STATUS, TICKET_TYPE

UPDATES = frozenset({TicketMessage.OPENED, TicketMessage.APPROVE, TicketMessage.REJECT, TicketMessage.RETURN_SHIPPED,
                     TicketMessage.RETURN_RECEIVED, TicketMessage.INSPECT, TicketMessage.RESOLVE_REFUND})


class TicketClient:
    def __init__(self, client: Client, task_queue: str) -> None:
        self.client, self.task_queue = client, task_queue

    def with_opened(self, facts: TicketFacts, policy: TicketPolicy) -> WithStartWorkflowOperation:
        """The start half of update-with-start; `opened` sends it and waits for the first decision."""
        return WithStartWorkflowOperation(
            AFTER_SALES_WORKFLOW, AfterSalesInput(ticket=facts, policy=policy),
            id=ticket_workflow_id(facts.ticket_id), task_queue=self.task_queue, result_type=TicketSnapshot,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(TICKET_STATUS, TicketStatus.OPENED.value),
                SearchAttributePair(TICKET_TYPE, facts.type.value), SearchAttributePair(ORDER_ID, facts.order_id),
            ]),
        )

    async def opened(self, start: WithStartWorkflowOperation, *, rpc_timeout: timedelta | None = None) -> TicketSnapshot:
        """Start (or join) the ticket; answered once it is approved by a rule or waits for a person."""
        return await self.client.execute_update_with_start_workflow(
            TicketMessage.OPENED.value, TicketOpened(), start_workflow_operation=start, result_type=TicketSnapshot,
            rpc_timeout=rpc_timeout)

    def handle(self, workflow_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle(workflow_id)

    async def state(self, workflow_id: str) -> TicketSnapshot:
        return await self.handle(workflow_id).query(TicketMessage.STATE.value, result_type=TicketSnapshot)

    async def update(self, workflow_id: str, message: TicketMessage, arg: BaseModel, *,
                     rpc_timeout: timedelta | None = None) -> TicketSnapshot:
        if message not in UPDATES:
            raise ValueError(f"{message} is not an update of AfterSalesWorkflow")
        return await self.handle(workflow_id).execute_update(message.value, arg, result_type=TicketSnapshot,
                                                             rpc_timeout=rpc_timeout)
