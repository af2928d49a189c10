"""The payout deadline of an after-sales ticket (seed 002's table): once a ticket is owed money, the
money must move by then, or finance hears of it and the ticket's timeline records `payout_overdue`.

| ticket | deadline counted from | setting |
|---|---|---|
| refund before shipping | the ticket's start | `after_sales_payout_before_shipping_s` (24 h) |
| return and refund after shipping | the return received | `after_sales_payout_after_return_s` (48 h) |
| refund only after shipping (nothing comes back) | the ticket's start | `after_sales_payout_after_return_s` |
| partial refund (compensation) | the ticket's start | `after_sales_payout_compensation_s` (72 h) |
| exchange | no money: not watched | |

The watch runs beside the ticket's own steps as a workflow task (started at the top of
AfterSalesWorkflow.run), waiting on the workflow's state: it stops as soon as the refund is recorded or
the ticket ends (a rejected or closed ticket owes nothing). It alerts once; the ticket carries on.
The ticket's start is the workflow's start time (not the API's clock), so the deadline is replayed
exactly.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Protocol

from temporalio import workflow

from workflows.steps import wait_until

with workflow.unsafe.imports_passed_through():
    from models.after_sales import (
        FINAL_TICKET_STATUSES,
        RETURN_TYPES,
        RefundRecord,
        TicketEventName,
        TicketFacts,
        TicketPolicy,
        TicketStatus,
        TicketType,
    )


class TicketRun(Protocol):
    """What the watch reads of the running AfterSalesWorkflow, and the two steps it uses."""

    ticket: TicketFacts
    policy: TicketPolicy
    status: TicketStatus
    refund: RefundRecord | None
    received: bool
    hold_reason: str | None

    async def _transition(self, status: TicketStatus, event: TicketEventName, *, detail: dict[str, Any] | None = None,
                          hold_reason: str | None = None, claim_amount: int | None = None,
                          auto_rule: str | None = None) -> None: ...

    async def _notify(self, audience: str, key: str, title: str, text: str) -> None: ...


def waits_for_return(ticket: TicketFacts) -> bool:
    """The deadline counts from the return received (not from the start)."""
    return ticket.type in RETURN_TYPES and not ticket.before_shipping


def payout_deadline(ticket: TicketFacts, policy: TicketPolicy, *, started_at: datetime,
                    received_at: datetime | None = None) -> datetime | None:
    """When the ticket's money must have moved; None when it owes none (an exchange) or its deadline
    is not known yet (a return not yet received)."""
    if ticket.type == TicketType.EXCHANGE:
        return None
    if ticket.type == TicketType.PARTIAL_REFUND:
        return started_at + timedelta(seconds=policy.payout_compensation_s)
    if ticket.before_shipping:
        return started_at + timedelta(seconds=policy.payout_before_shipping_s)
    if waits_for_return(ticket):
        return None if received_at is None else received_at + timedelta(seconds=policy.payout_after_return_s)
    return started_at + timedelta(seconds=policy.payout_after_return_s)


def start_payout_watch(run: TicketRun) -> asyncio.Task[None]:
    """The watch as a task of the workflow (keep the returned task referenced)."""
    return asyncio.create_task(watch_payout(run))


async def watch_payout(run: TicketRun) -> None:
    ticket = run.ticket
    if ticket.type == TicketType.EXCHANGE:
        return

    def settled() -> bool:
        return run.refund is not None or run.status in FINAL_TICKET_STATUSES

    received_at: datetime | None = None
    if waits_for_return(ticket):
        await workflow.wait_condition(lambda: run.received or settled())
        if settled():
            return
        received_at = workflow.now()
    deadline = payout_deadline(ticket, run.policy, started_at=workflow.info().start_time, received_at=received_at)
    if deadline is None or await wait_until(settled, until=deadline):
        return
    hours = round((deadline - (received_at or workflow.info().start_time)).total_seconds() / 3600)
    await run._transition(run.status, TicketEventName.PAYOUT_OVERDUE, hold_reason=run.hold_reason,
                          detail={"due_at": deadline.isoformat(), "hours": hours, "amount": ticket.amount,
                                  "status": run.status.value})
    await run._notify("finance", "payout_overdue", "Refund overdue",
                      f"ticket {ticket.ticket_id} ({ticket.type.value}, {ticket.amount / 100:.2f} yuan) for order "
                      f"{ticket.order_id}: not paid out within {hours} h (due {deadline:%Y-%m-%d %H:%M} UTC); "
                      f"the ticket is {run.status.value}")
