"""A presale order paid in two parts (定金 + 尾款): OrderWorkflow's payment step for an order with a
presale plan, and the payments that reach it.

    deposit   by the payment deadline (as any unpaid order), else cancelled; stock stays reserved
    balance   by the plan's `balance_due_by`; then the order is paid and goes on (review, presale date, ...)
    unpaid    balance at its deadline: the order is cancelled; its deposit is kept or refunded as the
              order's policy (the rules file) says: the cancel request carries `refund`

Each payment is one timeline entry (DEPOSIT_PAID, BALANCE_PAID) and, in the same step, one receipt
in the money ledger keyed `deposit` / `balance`. An order without a plan, or one delivered already
fully paid, never comes here: its commands are those of before.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

from workflows.order_state import OrderCancelled, OrderState
from workflows.order_timeline import Timeline
from workflows.steps import DB_STEP, wait_until

with workflow.unsafe.imports_passed_through():
    from activities.orders import OrderRecordActivities
    from models.order import OrderStatus
    from models.order_errors import OrderError
    from models.order_workflow import (
        BALANCE_UNPAID,
        CancelOrder,
        ConfirmPayment,
        OrderEventName,
        OrderSnapshot,
        PaymentPart,
        PresalePayment,
        PresaleState,
        Receipt,
    )

class Presale:
    def __init__(self, state: OrderState, timeline: Timeline) -> None:
        self.state, self.timeline = state, timeline
        plan = state.order.presale
        # Delivered fully paid: one payment like any other order's.
        self.active = plan is not None and not state.order.paid
        self.deposit: ConfirmPayment | None = None  # the deposit's payment, once it came
        self.balance: ConfirmPayment | None = None
        self.deposit_recorded = self.balance_recorded = False
        if plan is not None and plan.deposit_paid:
            self._take_deposit(ConfirmPayment(trade_no=plan.deposit_trade_no, confirmed_by="channel", part="deposit"))
        self.paid_at: dict[PaymentPart, datetime] = {}
        state.presale_view = self.snapshot

    # --- the payment step -------------------------------------------------------------------

    async def await_payments(self, payment_deadline: datetime) -> None:
        """The deposit by the payment deadline, then the balance by its own; raises OrderCancelled."""
        s, plan = self.state, self.state.order.presale
        assert plan is not None
        s.stop_if_cancelled()
        if not self.deposit_recorded:
            await wait_until(lambda: self.deposit is not None or s.paid or s.cancel_request is not None,
                             until=payment_deadline)
            s.stop_if_cancelled("payment deadline passed")
            if self.deposit is None and not s.paid:
                raise OrderCancelled("payment deadline passed")  # nothing came in: nothing to refund
            await self._record("deposit")
        await wait_until(lambda: self.balance is not None or s.paid or s.cancel_request is not None,
                         until=plan.balance_due_by)
        s.stop_if_cancelled()
        if self.balance is None and not s.paid:
            # The deposit's fate rides on the cancel request: compensation refunds only where it says so.
            s.cancel_request = CancelOrder(reason=BALANCE_UNPAID, requested_by="system",
                                           refund=s.policy.presale_deposit_on_unpaid_balance == "refund")
            raise OrderCancelled(BALANCE_UNPAID)
        s.paid = True
        s.paid_at = s.paid_at or workflow.now()
        await self._record("balance")

    async def _record(self, part: PaymentPart) -> None:
        """The part's timeline entry and its ledger receipt, in one step. A channel saying the whole
        order is paid stands for both parts, under its trade number."""
        s, plan = self.state, self.state.order.presale
        assert plan is not None
        payment = (self.deposit if part == "deposit" else self.balance) or ConfirmPayment(
            trade_no=s.trade_no, confirmed_by="channel", part=part)
        if part == "deposit":
            self._take_deposit(payment)
        else:
            self.balance = payment
        amount = plan.deposit if part == "deposit" else plan.balance
        s.trade_no = payment.trade_no or s.trade_no
        self.paid_at[part] = payment.paid_at or workflow.now()
        status = OrderStatus.FULFILLING if s.paid else OrderStatus.AWAITING_PAYMENT  # paid: the balance came
        event = OrderEventName.BALANCE_PAID if part == "balance" else OrderEventName.DEPOSIT_PAID
        entry = self.timeline.entry(status, event, paid=True if part == "balance" else None, detail={
            "amount": amount, "trade_no": payment.trade_no, "confirmed_by": payment.confirmed_by})
        entry.receipt = Receipt(key=part, source=part, amount=amount, reference=payment.trade_no)
        self.timeline.apply(status)
        await workflow.execute_local_activity_method(OrderRecordActivities.record_transition, entry, **DB_STEP)
        if part == "deposit":
            self.deposit_recorded = True
        else:
            self.balance_recorded = True

    def _take_deposit(self, payment: ConfirmPayment) -> None:
        """The deposit is money in that does not pay the order: until the balance makes it paid, the
        state says so as for a payment of another amount, so any cancel that refunds (compensation)
        gives back the deposit, and only it."""
        plan = self.state.order.presale
        assert plan is not None
        self.deposit = payment
        if not self.state.paid:
            self.state.payment_callback = payment.model_copy(update={"amount": plan.deposit})

    def payment_deadline(self) -> datetime:
        """Until when an unpaid order waits (also on hold for stock): the payment timeout from its
        start; for a presale order whose deposit is in, the balance's deadline."""
        plan = self.state.order.presale
        if self.active and plan is not None and self.deposit is not None:
            return plan.balance_due_by
        return workflow.info().start_time + timedelta(seconds=self.state.policy.payment_timeout_s)

    # --- confirm_payment ----------------------------------------------------------------------

    def takes(self, request: ConfirmPayment) -> bool:
        """The payment is one of the two parts (else: the ordinary confirm_payment, unchanged)."""
        return self.active and not self.state.paid

    def validate(self, request: ConfirmPayment) -> None:
        """Refuses a part named for an order paid in one, the balance before the deposit, a part paid
        again under another trade number, and an amount that is not the plan's. The same payment again
        (a callback retried) is answered as the order stands."""
        s, plan = self.state, self.state.order.presale
        if request.part is None and not self.active:
            return
        if plan is None:
            raise OrderError.NOT_PRESALE.failure(f"order {s.order_id} is paid in one part, not as deposit and balance")
        if request.part is None and s.paid:
            return
        part = self.part_of(request)
        taken = self.deposit if part == "deposit" else self.balance
        if taken is not None:
            if request.trade_no is None or request.trade_no == taken.trade_no:
                return
            raise OrderError.PART_ALREADY_PAID.failure(f"the {part} is already paid (trade {taken.trade_no})")
        if s.paid or not self.active:
            raise OrderError.PART_ALREADY_PAID.failure("the order is paid in full")
        if part == "balance" and self.deposit is None:
            raise OrderError.DEPOSIT_UNPAID.failure("the deposit is not paid yet: the balance comes after it")
        expected = plan.deposit if part == "deposit" else plan.balance
        if request.amount is not None and request.amount != expected:
            raise OrderError.PART_AMOUNT_MISMATCH.failure(
                f"the {part} is {expected} fen; the payment says {request.amount} fen")

    def part_of(self, request: ConfirmPayment) -> PaymentPart:
        if request.part is not None:
            return request.part
        return "balance" if self.deposit is not None else "deposit"

    async def confirm(self, request: ConfirmPayment) -> OrderSnapshot:
        """Take the part (validated); answered once the payment step recorded it, when it waits for it.
        The balance makes the order paid at once, as an ordinary payment does (a hold for stock stops
        counting the payment deadline)."""
        s, part = self.state, self.part_of(request)
        if (self.deposit if part == "deposit" else self.balance) is not None:
            return s.snapshot()  # the same payment again
        if part == "deposit":
            self._take_deposit(request)
        else:
            self.balance, s.paid, s.trade_no = request, True, request.trade_no or s.trade_no
        if s.status == OrderStatus.AWAITING_PAYMENT:
            await workflow.wait_condition(lambda: (self.deposit_recorded if part == "deposit" else self.balance_recorded)
                                          or s.cancel_request is not None)
        return s.snapshot()

    # --- the order's state ------------------------------------------------------------------

    def snapshot(self) -> PresaleState | None:
        plan = self.state.order.presale
        if plan is None:
            return None
        paid_in_one = self.state.paid and not self.balance_recorded  # delivered or declared paid whole

        def payment(part: PaymentPart, amount: int, taken: ConfirmPayment | None) -> PresalePayment:
            return PresalePayment(amount=amount, paid=taken is not None or paid_in_one,
                                  trade_no=taken.trade_no if taken else None, paid_at=self.paid_at.get(part))
        return PresaleState(deposit=payment("deposit", plan.deposit, self.deposit),
                            balance=payment("balance", plan.balance, self.balance),
                            balance_due_by=plan.balance_due_by,
                            deposit_on_unpaid_balance=self.state.policy.presale_deposit_on_unpaid_balance)
