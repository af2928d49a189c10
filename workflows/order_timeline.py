"""Recording an order's state changes: search attributes, the read model and the timeline together,
one database step each (the status change is applied in the workflow at once)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import workflow

from workflows.order_state import OrderState
from workflows.steps import DB_STEP

with workflow.unsafe.imports_passed_through():
    from activities.orders import OrderRecordActivities
    from models.order import OrderStatus
    from models.order_workflow import OrderEventName, RecordTransitionInput, RecordTransitionsInput, TimelineEntry
    from models.search_attributes import ORDER_STATUS, WAREHOUSE


class Timeline:
    def __init__(self, state: OrderState) -> None:
        self.state = state
        # (before, after), told of every status change: the hold clock starts and stops there.
        self.on_status: Callable[[OrderStatus, OrderStatus], None] = lambda before, after: None

    def entry(self, status: OrderStatus, event: OrderEventName, *, hold_reason: str | None = None,
              paid: bool | None = None, warehouse: str | None = None, cancel_reason: str | None = None,
              detail: dict[str, Any] | None = None, by: str | None = None) -> RecordTransitionInput:
        """The next state change as the read model records it (applied to the workflow by `apply`);
        `by`: the person or integration that caused it (Principal.actor), kept in its detail."""
        s = self.state
        detail = {**(detail or {}), "by": by} if by else detail
        return RecordTransitionInput(
            order_id=s.order_id,
            entry=TimelineEntry(seq=s.seq + 1, at=workflow.now(), status=status, event=event, detail=detail or {}),
            hold_reason=hold_reason, paid=paid, trade_no=s.trade_no if paid else None,
            warehouse=warehouse, cancel_reason=cancel_reason, shipments=s.shipments,
        )

    def apply(self, status: OrderStatus, *, hold_reason: str | None = None, warehouse: str | None = None,
              upsert: bool = True) -> None:
        """The state change in the workflow: search attributes, sequence, the hold clock."""
        s = self.state
        if upsert and (status != s.status or warehouse):
            updates = [ORDER_STATUS.value_set(status)]
            if warehouse:
                updates.append(WAREHOUSE.value_set(warehouse))
            workflow.upsert_search_attributes(updates)
        s.seq += 1
        before, s.status, s.hold_reason = s.status, status, hold_reason
        self.on_status(before, status)

    async def record(self, status: OrderStatus, event: OrderEventName, **fields: Any) -> None:
        """Apply and record one state change."""
        entry = self.entry(status, event, **fields)
        self.apply(status, hold_reason=fields.get("hold_reason"), warehouse=fields.get("warehouse"))
        await workflow.execute_local_activity_method(OrderRecordActivities.record_transition, entry, **DB_STEP)

    async def record_many(self, *changes: tuple[OrderStatus, OrderEventName]) -> None:
        """Back-to-back changes with nothing between them, in one step; the search attribute goes
        straight to the last status."""
        entries = []
        for n, (status, event) in enumerate(changes):
            entries.append(self.entry(status, event))
            self.apply(status, upsert=n == len(changes) - 1)
        await workflow.execute_local_activity_method(
            OrderRecordActivities.record_transitions, RecordTransitionsInput(transitions=entries), **DB_STEP)
