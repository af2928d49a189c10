"""AfterSalesWorkflow: one durable workflow per after-sales ticket, from request to money moved.

    1. open            returned goods count as awaiting inspection (never sellable) from now on
    2. decide          an auto-approval rule, or the tier its amount needs: each tier answers within
                       the first-response SLA, else an alert and escalation to the next tier; the
                       approval deadline decides last. A rejection ends the ticket.
    3. stop the order  a refund before shipping: the order's workflow stops and releases its stock
    4. await return    the buyer's parcel, scanned in by the return deadline, else CLOSED
    5. inspect         accepted units back on sale, the rest to damaged; the refund in proportion
                       (an exchange ships the accepted units again as a new order)
    6. refund          back the way the buyer paid, claimed against the order's ledger and keyed by
                       the ticket: the gateway for the own store, the platform's refund API for a
                       marketplace; retries, crashes and replays never refund twice
    7. tell            the own store the refund status, the buyer the outcome

Every ending hands back what the ticket held: awaited units stop being awaited, and the money it
claimed against the order drops to what was actually refunded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.steps import DB_STEP, PARTNER_CALL, wait_until
from workflows.ticket_notices import notify, notify_tier
from workflows.ticket_payout import start_payout_watch

with workflow.unsafe.imports_passed_through():
    from activities.after_sales import AfterSalesActivities
    from activities.channel import ChannelActivities
    from activities.inventory import InventoryActivities
    from activities.refunds import RefundActivities
    from models.after_sales import (
        FINAL_TICKET_STATUSES,
        RETURN_TYPES,
        AfterSalesInput,
        Approval,
        ApprovalTier,
        ApproveTicket,
        InspectionReport,
        InspectReturnInput,
        OrderSettled,
        RecordTicketInput,
        RefundBeforeShipping,
        RefundRecord,
        RejectTicket,
        ReplacementOrderInput,
        ResolveRefund,
        ReturnReceived,
        ReturnShipped,
        ReturnStockInput,
        TicketEvent,
        TicketEventName,
        TicketMessage,
        TicketOpened,
        TicketSnapshot,
        TicketStatus,
        TicketType,
        accepted_lines,
        auto_approval_rule,
        first_tier,
        refund_request_no,
    )
    from models.after_sales_errors import TicketError
    from models.channel import PushRefundInput, RefundOutcome
    from models.ledger import RefundOrderInput, refund_route
    from models.order import as_channel
    from models.order_workflow import OrderMessage
    from models.search_attributes import ORDER_ID, TICKET_STATUS, TICKET_TYPE


@workflow.defn
class AfterSalesWorkflow:
    @workflow.init
    def __init__(self, input: AfterSalesInput) -> None:
        self.ticket = input.ticket
        self.policy = input.policy
        self.status = TicketStatus.OPENED
        self.tier_index: int | None = None
        self.approvals: list[Approval] = []
        self.decision: str | None = None  # "approve" | "reject", once decided
        self.return_waybill: str | None = None
        self.received = False
        self.inspection: InspectionReport | None = None
        self.accepted_quantity: int | None = None
        self.order_answer: OrderSettled | None = None
        self.resolution: ResolveRefund | None = None
        self.refund: RefundRecord | None = None
        self.hold_reason: str | None = None
        self.replacement_order_id: str | None = None
        self._awaiting_units = False  # units counted as awaiting inspection, not yet inspected
        self._first_response_at: datetime | None = None
        self._seq = 0

    @workflow.run
    async def run(self, input: AfterSalesInput) -> TicketSnapshot:
        ticket = self.ticket
        workflow.upsert_search_attributes([TICKET_TYPE.value_set(ticket.type), ORDER_ID.value_set(ticket.order_id)])
        self._payout_watch = start_payout_watch(self)  # finance hears when money is late

        # 1. Open: goods coming back are not sellable from the moment the return is asked for.
        if ticket.type in RETURN_TYPES:
            await workflow.execute_local_activity_method(
                InventoryActivities.expect_return, ReturnStockInput(ticket_id=ticket.ticket_id, lines=ticket.lines),
                **DB_STEP)
            self._awaiting_units = True

        # 2. Decide.
        if not await self._decide():
            await self._tell_channel("REJECTED", 0)
            return await self._end(TicketStatus.REJECTED, TicketEventName.REJECTED, refunded=0)

        # 3. Stop the order: a refund before shipping must not ship the goods as well.
        if ticket.before_shipping and ticket.type == TicketType.REFUND_ONLY:
            answer = await self._stop_order()
            if not answer.cancelled:
                return await self._end(TicketStatus.CLOSED, TicketEventName.ORDER_NOT_STOPPED, refunded=0,
                                       detail={"order_status": answer.order_status, "why": answer.detail})

        refund_amount = ticket.amount
        if ticket.type in RETURN_TYPES:
            # 4. Await the returned parcel.
            if not await self._await_return():
                return await self._end(TicketStatus.CLOSED, TicketEventName.RETURN_DEADLINE_PASSED, refunded=0)

            # 5. Inspect: sellable again, or damaged; the refund follows the accepted share.
            accepted = await self._inspect()
            if accepted == 0:
                return await self._end(TicketStatus.CLOSED, TicketEventName.INSPECTION_FAILED, refunded=0)
            if ticket.type == TicketType.EXCHANGE:
                await self._ship_exchange(accepted)
                return await self._end(TicketStatus.EXCHANGED, TicketEventName.EXCHANGE_SHIPPED, refunded=0)
            refund_amount = ticket.amount * accepted // ticket.units

        # 6. Refund the way the buyer paid: the gateway (own store) or the platform's refund API.
        if not await self._refund(refund_amount):
            return await self._end(TicketStatus.CLOSED, TicketEventName.CLOSED_UNREFUNDED, refunded=0)

        # 7. Tell the own store (a marketplace made the refund itself in step 6); the buyer hears at the end.
        if refund_route(ticket.channel) == "gateway":
            await self._tell_channel("REFUNDED", refund_amount)
        return await self._end(TicketStatus.REFUNDED, TicketEventName.REFUNDED, refunded=refund_amount)

    # --- steps ------------------------------------------------------------------------------

    async def _decide(self) -> bool:
        """True when approved. Auto rules first; then tier by tier, each with its SLA."""
        rule = auto_approval_rule(self.ticket, self.policy)
        if rule is not None:
            self.approvals.append(Approval(role="system", decision="approve", rule=rule, tier="auto",
                                           at=workflow.now()))
            self.decision = "approve"
            await self._transition(TicketStatus.APPROVED, TicketEventName.AUTO_APPROVED, auto_rule=rule, detail={"rule": rule})
            return True

        self.tier_index = first_tier(self.ticket, self.policy)
        recorded = len(self.approvals)  # answers may arrive from the next line on, while we record and notify
        await self._transition(TicketStatus.AWAITING_APPROVAL, TicketEventName.AWAITING_APPROVAL, detail={"tier": self._tier().name})
        await self._notify_tier("awaiting_approval", "awaits your approval")
        deadline = workflow.now() + timedelta(seconds=self.policy.approval_deadline_s)
        tier_since, breached = workflow.now(), False
        while self.decision is None or recorded < len(self.approvals):
            respond_by = deadline if breached else tier_since + timedelta(seconds=self.policy.first_response_s)
            def answered(seen: int = recorded) -> bool:
                return len(self.approvals) > seen
            await wait_until(answered, until=min(respond_by, deadline))
            if len(self.approvals) > recorded:  # a person answered: record who and when
                answer = self.approvals[recorded]
                recorded += 1
                final = recorded == len(self.approvals) and self.decision is not None
                await self._transition(TicketStatus.APPROVED if final and self.decision == "approve" else self.status,
                                       TicketEventName.APPROVED if answer.decision == "approve" else TicketEventName.REJECTED,
                                       detail={"role": answer.role, "approver": answer.approver,
                                               "comment": answer.comment})
                continue
            if workflow.now() >= deadline:
                self.decision = self.policy.on_approval_deadline
                self.approvals.append(Approval(role="system", decision=self.decision, rule="deadline",
                                               tier=self._tier().name, at=workflow.now()))
                await self._transition(TicketStatus.APPROVED if self.decision == "approve" else self.status,
                                       TicketEventName.DEADLINE_APPROVED if self.decision == "approve"
                                       else TicketEventName.DEADLINE_REJECTED, detail={"after_s": self.policy.approval_deadline_s})
                break
            # The first-response SLA of this tier passed: alert it and hand the ticket up.
            breached_tier = self._tier()
            if self.tier_index + 1 < len(self.policy.tiers):
                self.tier_index += 1
                tier_since = workflow.now()
                await self._transition(TicketStatus.AWAITING_APPROVAL, TicketEventName.ESCALATED,
                                       detail={"from": breached_tier.name, "to": self._tier().name})
                await self._notify_tier(f"sla_{breached_tier.name}", f"was not answered within "
                                        f"{self.policy.first_response_s // 60} min by {breached_tier.name}; "
                                        f"escalated to {self._tier().name}", also=breached_tier)
            else:
                breached = True
                await self._transition(TicketStatus.AWAITING_APPROVAL, TicketEventName.SLA_BREACHED,
                                       detail={"tier": breached_tier.name})
                await self._notify_tier(f"sla_{breached_tier.name}", "is past its first-response SLA at the last "
                                        f"tier; the deadline decides ({self.policy.on_approval_deadline})")
        return self.decision == "approve"

    async def _stop_order(self) -> OrderSettled:
        await self._transition(TicketStatus.CANCELLING_ORDER, TicketEventName.STOPPING_ORDER)
        try:
            await workflow.get_external_workflow_handle(self.ticket.order_workflow_id).signal(
                OrderMessage.REFUND_BEFORE_SHIPPING.value,
                RefundBeforeShipping(ticket_id=self.ticket.ticket_id, ticket_workflow_id=workflow.info().workflow_id))
        except Exception:  # the order's workflow has ended: too late to stop it
            return OrderSettled(cancelled=False, order_status="closed", detail="the order's workflow has ended")
        alerted = 0
        while not await wait_until(lambda: self.order_answer is not None,
                                   until=workflow.now() + timedelta(seconds=self.policy.order_cancel_answer_s)):
            alerted += 1
            await self._notify("operations", f"order_unanswered_{alerted}", "Order does not answer",
                               f"order {self.ticket.order_id} has not confirmed the stop for ticket "
                               f"{self.ticket.ticket_id}; check its workflow")
        assert self.order_answer is not None
        await self._transition(self.status, TicketEventName.ORDER_STOPPED if self.order_answer.cancelled else TicketEventName.ORDER_NOT_STOPPED,
                               detail=self.order_answer.model_dump())
        return self.order_answer

    async def _await_return(self) -> bool:
        recorded_waybill = self.return_waybill  # the buyer's waybill may arrive while we notify
        await self._transition(TicketStatus.AWAITING_RETURN, TicketEventName.AWAITING_RETURN)
        await self._notify("buyer", "send_back", "Please send the goods back",
                           f"ticket {self.ticket.ticket_id}: send the goods back within "
                           f"{self.policy.return_deadline_s // 86400} days")
        deadline = workflow.now() + timedelta(seconds=self.policy.return_deadline_s)
        while not self.received:
            def received_or_resent(known: str | None = recorded_waybill) -> bool:
                return self.received or self.return_waybill != known
            if not await wait_until(received_or_resent, until=deadline):
                return False
            if not self.received:
                recorded_waybill = self.return_waybill
                await self._transition(TicketStatus.AWAITING_RETURN, TicketEventName.RETURN_SHIPPED,
                                       detail={"waybill_no": self.return_waybill})
        await self._transition(TicketStatus.AWAITING_INSPECTION, TicketEventName.RETURN_RECEIVED,
                               detail={"waybill_no": self.return_waybill})
        return True

    async def _inspect(self) -> int:
        """Units accepted back on sale."""
        overdue = 0
        while not await wait_until(lambda: self.inspection is not None,
                                   until=workflow.now() + timedelta(seconds=self.policy.inspection_sla_s)):
            overdue += 1  # inspection has no default outcome: remind until someone looks
            await self._notify("operations", f"inspection_overdue_{overdue}", "Return awaits inspection",
                               f"ticket {self.ticket.ticket_id}: received, not inspected for "
                               f"{overdue * self.policy.inspection_sla_s // 3600} h")
        report = self.inspection
        assert report is not None
        accepted = (self.ticket.units if report.accepted_quantity is None else report.accepted_quantity) \
            if report.passed else 0
        await workflow.execute_local_activity_method(
            InventoryActivities.inspect_return,
            InspectReturnInput(ticket_id=self.ticket.ticket_id, accepted_quantity=accepted), **DB_STEP)
        self._awaiting_units, self.accepted_quantity = False, accepted
        await self._transition(self.status, TicketEventName.INSPECTED, detail={
            "passed": report.passed, "accepted": accepted, "damaged": self.ticket.units - accepted,
            "by": report.inspected_by, "note": report.note})
        return accepted

    async def _ship_exchange(self, accepted: int) -> None:
        await self._transition(TicketStatus.EXCHANGING, TicketEventName.EXCHANGING)
        replacement = await workflow.execute_activity_method(
            AfterSalesActivities.start_replacement_order,
            ReplacementOrderInput(ticket_id=self.ticket.ticket_id, order_id=self.ticket.order_id,
                                  lines=accepted_lines(self.ticket, accepted)),
            **PARTNER_CALL)
        self.replacement_order_id = replacement.order_id

    async def _refund(self, amount: int) -> bool:
        """True once the money moved back the way it came; a permanent failure waits for finance."""
        await self._transition(TicketStatus.REFUNDING, TicketEventName.REFUNDING, detail={"amount": amount})
        while True:
            t = self.ticket
            try:
                result = await workflow.execute_activity_method(RefundActivities.refund_order, RefundOrderInput(
                    order_id=t.order_id, channel=t.channel, shop=t.shop, external_id=t.external_id, amount=amount,
                    request_no=refund_request_no(t.ticket_id), source="ticket", ticket_id=t.ticket_id,
                    platform_request_id=t.platform_request_id, reason=f"after-sales {t.type.value}: {t.reason}"),
                    **PARTNER_CALL)
                self.refund = RefundRecord(out_request_no=result.out_request_no, amount=result.amount,
                                           status=result.status, at=workflow.now())
                return True
            except ActivityError as err:
                cause = err.cause
                reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            self.resolution = None
            await self._transition(TicketStatus.ON_HOLD, TicketEventName.REFUND_FAILED, hold_reason=f"refund failed: {reason}")
            await self._notify("finance", f"refund_failed_{self._seq}", "Refund failed",
                               f"ticket {self.ticket.ticket_id}: {reason}. Retry or close it.")
            await workflow.wait_condition(lambda: self.resolution is not None)
            assert self.resolution is not None
            if self.resolution.action == "close":
                return False
            await self._transition(TicketStatus.REFUNDING, TicketEventName.REFUND_RETRIED,
                                   detail={"role": self.resolution.role, "approver": self.resolution.approver})

    async def _tell_channel(self, status: RefundOutcome, amount: int) -> None:
        t = self.ticket
        try:
            await workflow.execute_activity_method(ChannelActivities.push_refund_to_channel, PushRefundInput(
                channel=as_channel(t.channel), shop=t.shop, external_id=t.external_id, refund_id=t.ticket_id,
                amount=amount, status=status, reason=t.reason, platform_request_id=t.platform_request_id), **PARTNER_CALL)
        except ActivityError as err:
            # The money has moved (or not) either way; the channel's copy is operations' job now.
            await self._transition(self.status, TicketEventName.CHANNEL_NOT_TOLD, detail={"error": str(err.cause or err)})
            await self._notify("operations", "channel_not_told", "Channel not told",
                               f"ticket {self.ticket.ticket_id}: {self.ticket.channel} was not told the refund "
                               f"status {status}")

    async def _end(self, status: TicketStatus, event: TicketEventName, *, refunded: int,
                   detail: dict[str, Any] | None = None) -> TicketSnapshot:
        """Give back what the ticket held, record the end, tell the buyer."""
        if self._awaiting_units:
            await workflow.execute_local_activity_method(
                InventoryActivities.cancel_expected_return,
                ReturnStockInput(ticket_id=self.ticket.ticket_id, lines=self.ticket.lines), **DB_STEP)
            self._awaiting_units = False
        await self._transition(status, event, claim_amount=refunded, detail=detail)
        outcome = {TicketStatus.REFUNDED: f"refunded {refunded / 100:.2f} yuan",
                   TicketStatus.EXCHANGED: "the replacement is on its way",
                   TicketStatus.REJECTED: "rejected"}.get(status, f"closed ({event.replace('_', ' ')})")
        await self._notify("buyer", "outcome", "After-sales ticket " + status.value.lower(),
                           f"ticket {self.ticket.ticket_id} for order {self.ticket.order_id}: {outcome}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.snapshot()

    # --- plumbing -------------------------------------------------------------------------

    def _tier(self) -> ApprovalTier:
        return self.policy.tiers[self.tier_index or 0]

    async def _notify_tier(self, key: str, what: str, *, also: ApprovalTier | None = None) -> None:
        await notify_tier(self.ticket, self._tier(), key, what, also=also)

    async def _notify(self, audience: str, key: str, title: str, text: str) -> None:
        await notify(self.ticket, audience, key, title, text)

    async def _transition(self, status: TicketStatus, event: TicketEventName, *, detail: dict[str, Any] | None = None,
                          hold_reason: str | None = None, claim_amount: int | None = None,
                          auto_rule: str | None = None) -> None:
        """Record a step: search attribute, read model and timeline together."""
        if status != self.status or self._seq == 0:
            workflow.upsert_search_attributes([TICKET_STATUS.value_set(status)])
        self.status, self.hold_reason = status, hold_reason
        self._seq += 1
        await workflow.execute_local_activity_method(
            AfterSalesActivities.record_ticket_transition,
            RecordTicketInput(
                ticket_id=self.ticket.ticket_id,
                entry=TicketEvent(seq=self._seq, at=workflow.now(), status=status, event=event, detail=detail or {}),
                approvals=self.approvals, tier=self._tier().name if self.tier_index is not None else None,
                claim_amount=claim_amount, refund=self.refund, return_waybill=self.return_waybill,
                accepted_quantity=self.accepted_quantity, hold_reason=hold_reason,
                first_response_at=self._first_response_at, auto_rule=auto_rule,
                replacement_order_id=self.replacement_order_id,
            ),
            **DB_STEP,
        )

    def snapshot(self) -> TicketSnapshot:
        return TicketSnapshot(
            ticket_id=self.ticket.ticket_id, status=self.status, type=self.ticket.type,
            tier=self._tier().name if self.tier_index is not None else None, approvals=self.approvals,
            refund=self.refund, return_waybill=self.return_waybill, accepted_quantity=self.accepted_quantity,
            hold_reason=self.hold_reason, replacement_order_id=self.replacement_order_id,
        )

    # --- messages ---------------------------------------------------------------------------

    @workflow.query(name=TicketMessage.STATE.value)
    def state(self) -> TicketSnapshot:
        return self.snapshot()

    @workflow.update(name=TicketMessage.OPENED.value)
    async def opened(self, request: TicketOpened) -> TicketSnapshot:
        """Sent with the start (update-with-start): answers once the ticket is approved by a rule or
        waits for a person, so the caller learns which at once."""
        await workflow.wait_condition(lambda: self.status != TicketStatus.OPENED)
        return self.snapshot()

    @workflow.update(name=TicketMessage.APPROVE.value)
    async def approve(self, request: ApproveTicket) -> TicketSnapshot:
        tier = self._tier()
        self._decided_by_person()
        self.approvals.append(Approval(role=request.role, approver=request.approver, decision="approve",
                                       comment=request.comment, tier=tier.name, at=workflow.now()))
        approved = {a.role for a in self.approvals if a.tier == tier.name and a.decision == "approve"}
        if approved >= set(tier.roles):
            self.decision = "approve"
        return await self._answered()

    @approve.validator
    def _validate_approve(self, request: ApproveTicket) -> None:
        self._validate_decision(request.role)
        if any(a.role == request.role and a.tier == self._tier().name and a.decision == "approve"
               for a in self.approvals):
            raise TicketError.ALREADY_APPROVED.failure(f"{request.role} has already approved this ticket")

    @workflow.update(name=TicketMessage.REJECT.value)
    async def reject(self, request: RejectTicket) -> TicketSnapshot:
        self._decided_by_person()
        self.approvals.append(Approval(role=request.role, approver=request.approver, decision="reject",
                                       comment=request.comment, tier=self._tier().name, at=workflow.now()))
        self.decision = "reject"
        return await self._answered()

    @reject.validator
    def _validate_reject(self, request: RejectTicket) -> None:
        self._validate_decision(request.role)

    def _validate_decision(self, role: str) -> None:
        self._validate_open()
        if self.status != TicketStatus.AWAITING_APPROVAL or self.decision is not None or self.tier_index is None:
            raise TicketError.NOT_AWAITING_APPROVAL.failure(f"ticket is {self.status}: it awaits no approval")
        tier = self._tier()
        if role not in tier.roles:
            raise TicketError.ROLE_NOT_ALLOWED.failure(f"role {role} may not decide at tier {tier.name}; {', '.join(tier.roles)} may")

    def _validate_open(self) -> None:
        if self.status in FINAL_TICKET_STATUSES:
            raise TicketError.TICKET_CLOSED.failure(f"ticket is {self.status}")

    def _decided_by_person(self) -> None:
        if self._first_response_at is None:
            self._first_response_at = workflow.now()

    async def _answered(self) -> TicketSnapshot:
        """Answer an update once the main flow has recorded what it changed."""
        seq = self._seq
        await workflow.wait_condition(lambda: self._seq > seq)
        return self.snapshot()

    @workflow.update(name=TicketMessage.RETURN_SHIPPED.value)
    async def return_shipped(self, request: ReturnShipped) -> TicketSnapshot:
        self.return_waybill = request.waybill_no
        return await self._answered()

    @return_shipped.validator
    def _validate_return_shipped(self, request: ReturnShipped) -> None:
        self._validate_open()
        if self.ticket.type not in RETURN_TYPES or self.received:
            raise TicketError.NOT_AWAITING_RETURN.failure("this ticket awaits no parcel")

    @workflow.update(name=TicketMessage.RETURN_RECEIVED.value)
    async def return_received(self, request: ReturnReceived) -> TicketSnapshot:
        self.return_waybill = request.waybill_no or self.return_waybill
        self.received = True
        return await self._answered()

    @return_received.validator
    def _validate_return_received(self, request: ReturnReceived) -> None:
        self._validate_open()
        if self.status != TicketStatus.AWAITING_RETURN or self.received:
            raise TicketError.NOT_AWAITING_RETURN.failure(f"ticket is {self.status}: it awaits no parcel")
        if request.waybill_no and self.return_waybill and request.waybill_no != self.return_waybill:
            raise TicketError.UNKNOWN_WAYBILL.failure(f"waybill {request.waybill_no} is not this ticket's return parcel "
                                   f"({self.return_waybill})")

    @workflow.update(name=TicketMessage.INSPECT.value)
    async def inspect(self, request: InspectionReport) -> TicketSnapshot:
        self.inspection = request
        return await self._answered()

    @inspect.validator
    def _validate_inspect(self, request: InspectionReport) -> None:
        self._validate_open()
        if self.status != TicketStatus.AWAITING_INSPECTION or self.inspection is not None:
            raise TicketError.NOT_AWAITING_INSPECTION.failure(f"ticket is {self.status}: nothing awaits inspection")
        if request.accepted_quantity is not None:
            if request.accepted_quantity > self.ticket.units:
                raise TicketError.INVALID_QUANTITY.failure(f"accepted_quantity {request.accepted_quantity} is more than the "
                                       f"{self.ticket.units} units returned")
            if not request.passed and request.accepted_quantity > 0:
                raise TicketError.INVALID_QUANTITY.failure("a failed inspection accepts no units")

    @workflow.update(name=TicketMessage.RESOLVE_REFUND.value)
    async def resolve_refund(self, request: ResolveRefund) -> TicketSnapshot:
        self.resolution = request
        return await self._answered()

    @resolve_refund.validator
    def _validate_resolve_refund(self, request: ResolveRefund) -> None:
        self._validate_open()
        if self.status != TicketStatus.ON_HOLD:
            raise TicketError.NOT_ON_HOLD.failure(f"ticket is {self.status}, not on hold")
        if request.role not in ("finance", "admin"):
            raise TicketError.ROLE_NOT_ALLOWED.failure(f"role {request.role} may not resolve a refund; finance or admin may")

    @workflow.signal(name=TicketMessage.ORDER_SETTLED.value)
    def order_settled(self, answer: OrderSettled) -> None:
        self.order_answer = answer
