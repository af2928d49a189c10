"""Cancelling an order: compensate in reverse. The stock goes back first, then the money (when it
was paid and the cancel is ours to refund: through the gateway or the platform, as it came), then the ticket that asked for the stop is answered.
Each step is keyed by the order, so a retry never releases or refunds twice."""

from __future__ import annotations

from temporalio import workflow

from workflows.order_holds import STEP_FAILED, Holds
from workflows.order_review import Review
from workflows.order_state import OrderState
from workflows.order_timeline import Timeline
from workflows.steps import PARTNER_CALL

with workflow.unsafe.imports_passed_through():
    from activities.inventory import InventoryActivities
    from activities.refunds import RefundActivities
    from models.after_sales import OrderSettled, TicketMessage
    from models.inventory import ReleaseStockInput
    from models.ledger import Receipt, RefundOrderInput, refund_route
    from models.order import OrderStatus
    from models.order_workflow import OrderEventName, cancel_refund_request_no


class Compensation:
    def __init__(self, state: OrderState, timeline: Timeline, holds: Holds, review: Review) -> None:
        self.state, self.timeline, self.holds, self.review = state, timeline, holds, review

    async def cancel(self, reason: str) -> None:
        s = self.state
        s.cancelled_at_seq, s.cancel_reason = s.seq, reason
        # 1. Give the stock back (reservation released; nothing had left the warehouse).
        await self.holds.db_step(InventoryActivities.release_stock, ReleaseStockInput(order_id=s.order_id, reason=reason))
        # 2. Give the money back, the way it came: whatever is left of what came in (tickets may have
        # refunded part already), or what a mismatched payment callback brought in.
        # A marketplace that cancelled the order pays its buyer back itself (the ledger records that);
        # the own store's buyer paid through our gateway, so its cancel is refunded here.
        from_channel = s.cancel_request is not None and s.cancel_request.requested_by == "channel"
        by_platform = from_channel and refund_route(s.order.channel) == "channel"
        refund_here = s.cancel_request is None or s.cancel_request.refund or (from_channel and not by_platform)
        received, trade_no = s.order.total_amount, s.trade_no
        if not s.paid and s.payment_callback is not None:
            received, trade_no = s.payment_callback.amount or 0, s.payment_callback.trade_no
        money_in = (s.paid or s.payment_callback is not None) and received > 0
        if money_in and (refund_here or by_platform):
            refund = await self.holds.until_done("refund_order", lambda: workflow.execute_activity_method(
                RefundActivities.refund_order,
                RefundOrderInput(order_id=s.order_id, channel=s.order.channel, shop=s.order.shop,
                                 external_id=s.order.external_id, request_no=cancel_refund_request_no(s.order_id), amount=None,
                                 source="cancel", reason=reason, settled_by_platform=by_platform,
                                 receipt=Receipt(reference=trade_no, amount=received)),
                **PARTNER_CALL), cancellable=False)
            s.refund_no = None if by_platform else refund.out_request_no  # ours only when we sent it
        # 3. Record the end; nothing is left for a queue. An order the read model never registered
        # (its receipt failed for good) ends all the same.
        try:
            await self.timeline.record(OrderStatus.CANCELLED, OrderEventName.CANCELLED, cancel_reason=reason,
                                       paid=True if s.paid else None,
                                       detail=self._cancel_detail())
        except STEP_FAILED:
            workflow.logger.warning("cancellation not recorded", extra={"order_id": s.order_id})
        await self.review.close("order cancelled")
        # 4. The ticket that stopped the order hears that it did.
        if s.refund_ticket is not None:
            await answer_ticket(s.refund_ticket, OrderSettled(cancelled=True, order_status=s.status, detail=reason))

    def _cancel_detail(self) -> dict[str, str] | None:
        """Who asked for the cancel (the authenticated principal) and the refund it sent, if any."""
        s, request = self.state, self.state.cancel_request
        detail = {"by": request.actor} if request is not None and request.actor else {}
        return {**detail, "refund_no": s.refund_no} if s.refund_no else detail or None


async def answer_ticket(ticket_workflow_id: str, answer: OrderSettled) -> None:
    try:
        await workflow.get_external_workflow_handle(ticket_workflow_id).signal(TicketMessage.ORDER_SETTLED.value, answer)
    except Exception:  # the ticket is gone (closed by a person): nobody waits for the answer
        workflow.logger.warning("after-sales ticket did not take the answer")
