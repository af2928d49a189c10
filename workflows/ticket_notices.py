"""Telling people about a ticket: the approvers of a tier, finance, operations, the buyer. A notice
that cannot be delivered is logged, never a reason to stop the ticket."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.steps import NOTICE

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotifierActivities
    from models.after_sales import ApprovalTier, TicketFacts
    from models.notify import Notification


async def notify(ticket: TicketFacts, audience: str, key: str, title: str, text: str) -> None:
    try:
        await workflow.execute_activity_method(
            NotifierActivities.notify,
            Notification(key=f"{ticket.ticket_id}:{key}:{audience}", audience=audience, title=title, text=text,
                         subject={"ticket_id": ticket.ticket_id, "order_id": ticket.order_id,
                                  "workflow_id": workflow.info().workflow_id}),
            **NOTICE)
    except ActivityError:
        workflow.logger.warning("notification not delivered",
                                extra={"ticket_id": ticket.ticket_id, "audience": audience, "key": key})


async def notify_tier(ticket: TicketFacts, tier: ApprovalTier, key: str, what: str, *,
                      also: ApprovalTier | None = None) -> None:
    """The roles of the tier (and of the one it escalated from) hear that the ticket awaits them."""
    for role in dict.fromkeys((also.roles if also else []) + tier.roles):
        await notify(ticket, role, key, "After-sales ticket " + ("escalated" if also else "awaits approval"),
                     f"ticket {ticket.ticket_id} ({ticket.type.value}, {ticket.amount / 100:.2f} yuan, "
                     f"reason {ticket.reason}) {what}")
