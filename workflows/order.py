"""OrderWorkflow: one durable workflow per order, from receipt to completion.

    1. receive          register the order in the read model
    2. screen           the exception rules tag what needs a person; SLA clocks start
    3. reserve stock    short -> ON_HOLD (out_of_stock) until restocked, released, cancelled or the hold limit
    4. await payment    unpaid -> AWAITING_PAYMENT until paid or the payment deadline
    5. review           a hold-severity tag -> ON_HOLD in its team's queue until a person resolves it
    6. presale date     a presale order waits for its ship-not-before date (a timer: no worker held)
    7. route            one shipment per warehouse holding the reservation (split when needed); the
                        buyer's other paid orders to the same address join one parcel (merge)
    8. print waybills   through the carrier, keyed by shipment: a retry never prints twice
    9. await the scan   the parcel leaves the warehouse; its units leave stock
   10. ship back        carrier + waybill to the channel; follow the carrier's tracking
   11. await delivery   tracking callbacks, with a periodic query as the safety net
   12. complete

Alongside, two SLA watchers: a hold unreviewed for 2 h alerts the owning team, at 4 h its supervisor;
the shipping promise (48 h from payment) alerts before it is broken and again when it is. Each change
of tags, breaches and retries re-scores the order's health; below 80 it joins the review queue.

Cancel is accepted until a parcel is scanned out; compensation releases the stock and, when the
order was paid, refunds through the payment gateway (or leaves the refund to the after-sales ticket
that asked for the cancel, and answers that ticket). A permanent failure holds the order with
the reason (ON_HOLD) until an operator releases or cancels it: never a silent stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.steps import DB_STEP, NOTICE, PARTNER_CALL, wait_until

with workflow.unsafe.imports_passed_through():
    from activities.channel import ChannelActivities
    from activities.exceptions import ExceptionActivities
    from activities.inventory import InventoryActivities
    from activities.merge import MergeActivities
    from activities.orders import OrderRecordActivities
    from activities.payment import PaymentActivities
    from activities.shipping import ShippingActivities
    from models.after_sales import OrderSettled, RefundBeforeShipping
    from models.exceptions import (
        OUT_OF_STOCK,
        PAYMENT_CALLBACK_FAILED,
        ExceptionHit,
        HealthScore,
        RaiseExceptionInput,
        ResolveExceptionsInput,
        ScoreOrderInput,
        ScreenAddressInput,
        ScreenOrderInput,
        Severity,
        SlaAlertInput,
        SlaKind,
        SlaStage,
        StandingTags,
    )
    from models.inventory import CommitStockInput, ReleaseStockInput, ReservationResult, ReserveStockInput, StockRequest
    from models.order import SHIPPED_OR_LATER, OrderStatus, workflow_id_for
    from models.order_workflow import (
        CancelOrder,
        ChannelUpdate,
        ClaimMergeInput,
        CloseMergeInput,
        ConfirmPayment,
        MergedParcel,
        MergeJoined,
        OrderSnapshot,
        OrderWorkflowInput,
        ParcelScanned,
        ReceiveOrderInput,
        RecordTransitionInput,
        RecordTransitionsInput,
        RefundPaymentInput,
        RegisterOrderInput,
        ReserveForOrderInput,
        ResolveHold,
        ScanShipment,
        StockDecisionRequest,
        StockReplenished,
        TimelineEntry,
    )
    from models.search_attributes import CHANNEL, EXCEPTION_TAGS, ORDER_STATUS, PRIORITY, WAREHOUSE
    from models.shipping import (
        PlanShipmentsInput,
        PrintWaybillInput,
        PushShipmentInput,
        QueryTrackingInput,
        Shipment,
        ShipmentStatus,
        SubscribeTrackingInput,
        TrackingEvent,
    )

T = TypeVar("T")

# Screening, review holds, SLA watchers and health scores: histories recorded before them replay without.
EXCEPTIONS_PATCH = "exceptions-sla-health"
# Fewer local activities per order: receipt with screening, the reservation with its transition,
# delivered with completed. Implies EXCEPTIONS_PATCH; histories recorded before it replay the old steps.
FEWER_STEPS_PATCH = "fewer-steps"



@workflow.defn
class OrderWorkflow:
    @workflow.init
    def __init__(self, input: OrderWorkflowInput) -> None:
        self.order = input.order
        self.policy = input.policy
        self.order_id = input.order.order_id
        self.status = OrderStatus.RECEIVED
        self.hold_reason: str | None = None
        self.paid = input.order.paid
        self.trade_no = input.order.trade_no
        self.reservation: ReservationResult | None = None
        self.shipments: list[Shipment] = []
        self.cancel_request: CancelOrder | None = None
        self.cancel_reason: str | None = None
        self.refund_no: str | None = None
        self._cancelled_at_seq: int | None = None  # set when compensation starts
        self._seq = 0
        self._stock_decided = False
        self._creation_answered = False
        self._restocks = 0
        self._released = False
        self._hold_cancellable = True
        self._scanned: set[str] = set()  # shipment ids scanned but not yet processed
        self._delivered: set[str] = set()  # waybill numbers signed for
        self._channel_modified_at: datetime | None = None  # newest platform change seen
        self._refund_ticket: str | None = None  # the after-sales workflow that stopped this order
        self.tags: dict[str, ExceptionHit] = {}  # standing exception tags, as the database holds them
        self.health: HealthScore | None = None
        self._exceptions = False  # screening, review and SLAs apply (EXCEPTIONS_PATCH)
        self._fewer_steps = False  # back-to-back database steps share one local activity (FEWER_STEPS_PATCH)
        self._held_since: datetime | None = None  # when the current hold began
        self._held_seq = 0
        self._paid_at: datetime | None = workflow.info().start_time if input.order.paid else None
        self._payment_callback: ConfirmPayment | None = None  # a callback whose amount did not match
        self._address_update: ResolveHold | None = None
        self._release: ResolveHold | None = None  # who released the current hold
        self._hold_open = False  # in _hold: the hold a person resolves (not the stock-short wait)
        self._joined: set[str] = set()  # leader: the orders that joined this parcel
        self._riders: list[str] = []  # leader: the orders riding in this parcel, once closed
        self._leader: str | None = None  # follower: the order whose parcel this one rides in
        self._parcel: MergedParcel | None = None  # follower: the leader's answer

    @workflow.run
    async def run(self, input: OrderWorkflowInput) -> OrderSnapshot:
        # 1. Receive and 2. screen: the exception rules tag what needs a person; the SLA clocks start watching.
        await self._receive()
        if self._exceptions:
            self._sla_watchers = [asyncio.create_task(self._watch_review_sla()),
                                  asyncio.create_task(self._watch_shipping_promise())]

        # 3. Reserve stock, holding while short.
        if not await self._reserve_stock():
            return await self._cancel(self._cancel_reason("out of stock past the hold limit"))

        # 4. Await payment.
        if not await self._await_payment():
            return await self._cancel(self._cancel_reason("payment deadline passed"))

        # 5. Review: held while a hold-severity tag stands, until a person resolves it.
        if not await self._review():
            return await self._cancel(self._cancel_reason())

        # 6. Presale: wait for the ship-not-before date.
        if not await self._await_presale_date():
            return await self._cancel(self._cancel_reason())

        # 7. Route: one shipment per warehouse holding the reservation; merge with the buyer's other orders.
        await self._plan_shipments()
        if not await self._merge_parcels():
            return await self._cancel(self._cancel_reason())

        # 8. Print the waybill of every parcel.
        if not await self._print_waybills():
            return await self._cancel(self._cancel_reason())

        # 9. Await the warehouse scan of every parcel; scanned units leave stock.
        if not await self._await_scans():
            return await self._cancel(self._cancel_reason())

        # 10. Ship back to the channel and follow the carrier's tracking.
        await self._ship_back()

        # 11. Await delivery.
        await self._await_delivery()

        # 12. Complete.
        await self._complete()
        await self._close_exceptions("order completed")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.snapshot()

    # --- steps ------------------------------------------------------------------------------

    async def _receive(self) -> None:
        """Register the order in the read model and screen it: one local activity since FEWER_STEPS_PATCH."""
        self._fewer_steps = workflow.patched(FEWER_STEPS_PATCH)
        if self._fewer_steps:
            self._exceptions = True
            self._upsert_receipt()
            standing = await workflow.execute_local_activity_method(
                ExceptionActivities.receive_order,
                ReceiveOrderInput(order=self.order, workflow_id=workflow.info().workflow_id,
                                  received_at=workflow.info().start_time, seq=self._seq, at=workflow.now()),
                **DB_STEP,
            )
            await self._screened(standing)
            return
        await workflow.execute_local_activity_method(
            OrderRecordActivities.register_order,
            RegisterOrderInput(order=self.order, workflow_id=workflow.info().workflow_id,
                               received_at=workflow.info().start_time),
            **DB_STEP,
        )
        self._upsert_receipt()
        self._exceptions = workflow.patched(EXCEPTIONS_PATCH)
        if self._exceptions:
            await self._screen()

    def _upsert_receipt(self) -> None:
        workflow.upsert_search_attributes([
            ORDER_STATUS.value_set(self.status), CHANNEL.value_set(self.order.channel),
            PRIORITY.value_set(self.order.priority),
        ])

    async def _reserve_stock(self) -> bool:
        """Reserve; while short, hold until a restock, a release, a cancel or the hold limit."""
        hold_until = workflow.info().start_time + timedelta(seconds=self.policy.hold_limit_s)
        while True:
            if await self._reserve_once():
                if OUT_OF_STOCK in self.tags:
                    await self._resolve_tags([OUT_OF_STOCK], "system", "stock reserved")
                self._stock_decided = True
                return True
            reason = self.reservation.reason()
            if self.status != OrderStatus.ON_HOLD or self.hold_reason != reason or self._released:
                await self._transition(OrderStatus.ON_HOLD, "stock_short", hold_reason=reason)
                self._stock_decided = True  # the caller hears "short" now; the queue entry follows
                if self._exceptions and OUT_OF_STOCK not in self.tags:
                    await self._raise_tag(OUT_OF_STOCK, reason)
            self._released = False
            self._stock_decided = True
            deadline = hold_until if self.paid else min(hold_until, self._payment_deadline())
            restocks = self._restocks
            woke = await self._wait(
                lambda: self._restocks != restocks or self._released or self.cancel_request is not None,
                until=deadline, at_most=timedelta(seconds=self.policy.hold_recheck_s),
            )
            if self.cancel_request or (not woke and workflow.now() >= deadline):
                return False

    async def _reserve_once(self) -> bool:
        """One attempt; reserved, the order moves on to payment (or, paid, to fulfilment)."""
        reserve = ReserveStockInput(order_id=self.order_id, buyer_province=self.order.buyer.province,
                                    lines=[StockRequest(sku=line.sku, quantity=line.quantity) for line in self.order.lines])
        after = OrderStatus.FULFILLING if self.paid else OrderStatus.AWAITING_PAYMENT
        if self._fewer_steps:  # the transition rides with the reservation (its detail: the allocations)
            self.reservation = await workflow.execute_local_activity_method(
                InventoryActivities.reserve_stock_for_order,
                ReserveForOrderInput(reserve=reserve, on_reserved=self._entry(after, "stock_reserved")), **DB_STEP)
            if self.reservation.status == "reserved":
                self._apply(after)
        else:
            self.reservation = await workflow.execute_local_activity_method(
                InventoryActivities.reserve_stock, reserve, **DB_STEP)
            if self.reservation.status == "reserved":
                await self._transition(after, "stock_reserved",
                                       detail={"allocations": [a.model_dump() for a in self.reservation.allocations]})
        return self.reservation.status == "reserved"

    async def _await_payment(self) -> bool:
        if self.cancel_request:
            return False
        if self.paid:
            return True
        await self._wait(lambda: self.paid or self.cancel_request is not None or self._payment_callback is not None,
                         until=self._payment_deadline())
        if not self.paid and self._payment_callback is not None and not self.cancel_request:
            # Money came in that does not match the order: no deadline cancels it, a person decides.
            # Release accepts the payment; cancel refunds what came in.
            if not await self._hold(self.tags[PAYMENT_CALLBACK_FAILED].reason, resolved=lambda: self.paid):
                return False
            self.paid, self.trade_no = True, self._payment_callback.trade_no or self.trade_no
        if not self.paid or self.cancel_request:
            return False
        self._paid_at = self._paid_at or workflow.now()
        await self._transition(OrderStatus.FULFILLING, "payment_confirmed", paid=True)
        return True

    async def _review(self) -> bool:
        """Held while a hold-severity tag stands: release (reviewed), update_address (screened again)
        or cancel. False when cancelled."""
        if not self._exceptions:
            return True  # histories from before the rules: straight on, as they were recorded
        while self._holding_tags() and not self.cancel_request:
            tags = ", ".join(self._holding_tags())
            if not await self._hold(f"exception review: {tags}", resolved=lambda: not self._holding_tags()):
                return False
            if self._holding_tags():
                continue  # a corrected address that still hits: held again with the new tags
            await self._transition(OrderStatus.FULFILLING, "reviewed", detail={"tags": tags, **self._released_by()})
        return not self.cancel_request

    async def _await_presale_date(self) -> bool:
        """A presale order ships from its date: a durable timer, no worker held meanwhile."""
        ship_from = self.order.ship_not_before
        if not self._exceptions:
            return True
        if ship_from is None or workflow.now() >= ship_from:
            return not self.cancel_request
        await self._transition(self.status, "awaiting_presale_date", detail={"ship_not_before": ship_from.isoformat()})
        await self._wait(lambda: self.cancel_request is not None, until=ship_from)
        return not self.cancel_request

    async def _plan_shipments(self) -> None:
        self.shipments = await workflow.execute_local_activity_method(
            OrderRecordActivities.plan_shipments,
            PlanShipmentsInput(order_id=self.order_id, carrier=self.policy.carrier),
            **DB_STEP,
        )
        await self._transition(OrderStatus.FULFILLING, "shipments_planned", warehouse=self._warehouses())

    async def _merge_parcels(self) -> bool:
        """One parcel for the same buyer's paid orders to the same address from the same warehouse: the
        first about to print leads and waits (at most the merge window) for the others, which ride in
        its parcel. Flagged orders never merge. False when cancelled meanwhile."""
        if not self._exceptions:
            return True
        if not self.policy.merge_window_s or len(self.shipments) != 1 or self.tags or self.order.replaces:
            return not self.cancel_request
        shipment = self.shipments[0]
        claim = await workflow.execute_local_activity_method(
            MergeActivities.claim_merge,
            ClaimMergeInput(order_id=self.order_id, warehouse=shipment.warehouse, lines=shipment.lines,
                            window_s=self.policy.merge_window_s, at=workflow.now()), **DB_STEP)
        if claim.role == "leader":
            assert claim.closes_at is not None
            await self._wait(lambda: len(self._joined) >= claim.expected or self.cancel_request is not None,
                             until=claim.closes_at)
            members = await workflow.execute_local_activity_method(
                MergeActivities.close_merge, CloseMergeInput(leader_order_id=self.order_id, warehouse=shipment.warehouse),
                **DB_STEP)
            self._riders = [m.order_id for m in members.members]
            if self.cancel_request:
                await self._tell_riders(MergedParcel(leader_order_id=self.order_id, reason="the leading order was cancelled"))
                return False
            if self._riders:
                shipment.lines = shipment.lines + [line for m in members.members for line in m.lines]
                await self._transition(self.status, "parcel_merged", detail={"orders": self._riders})
        elif claim.role == "follower":
            self._leader = claim.leader_order_id
            await self._transition(self.status, "merging", detail={"into": self._leader})
            await self._signal_order(self._leader, "merge_joined", MergeJoined(order_id=self.order_id))
            # The leader answers once it printed (or could not); past the window plus a margin, ship alone.
            await self._wait(lambda: self._parcel is not None or self.cancel_request is not None,
                             until=workflow.now() + timedelta(seconds=self.policy.merge_window_s + 600))
            parcel = self._parcel
            if parcel is None or not parcel.waybill_no:
                self._leader = None  # printing alone after all
            else:
                shipment.waybill_no, shipment.carrier = parcel.waybill_no, parcel.carrier or shipment.carrier
                shipment.status = ShipmentStatus.PRINTED
                await self._transition(self.status, "rides_in_parcel",
                                       detail={"leader": self._leader, "waybill_no": parcel.waybill_no})
        return not self.cancel_request

    async def _tell_riders(self, parcel: MergedParcel) -> None:
        for order_id in self._riders:
            await self._signal_order(order_id, "merged_parcel", parcel)

    async def _signal_order(self, order_id: str, signal: str, arg: Any) -> None:
        try:
            await workflow.get_external_workflow_handle(workflow_id_for(order_id)).signal(signal, arg)
        except Exception:  # that order is gone (cancelled meanwhile): nothing waits for the news
            workflow.logger.warning("order did not take the signal", extra={"order_id": order_id, "signal": signal})

    async def _print_waybills(self) -> bool:
        """False when the order was cancelled meanwhile. A parcel ridden in is printed by its leader."""
        for shipment in self.shipments:
            if shipment.status == ShipmentStatus.PRINTED:
                continue
            waybill = await self._until_done("print_waybill", lambda s=shipment: workflow.execute_activity_method(
                ShippingActivities.print_waybill,
                PrintWaybillInput(order_id=self.order_id, shipment_id=s.shipment_id, warehouse=s.warehouse,
                                  carrier=s.carrier, lines=s.lines),
                **PARTNER_CALL,
            ))
            if waybill is None or self.cancel_request:
                return False
            shipment.waybill_no, shipment.carrier = waybill.waybill_no, waybill.carrier
            shipment.status = ShipmentStatus.PRINTED
            if self._riders:
                await self._tell_riders(MergedParcel(leader_order_id=self.order_id, waybill_no=waybill.waybill_no,
                                                     carrier=waybill.carrier))
        await self._transition(OrderStatus.AWAITING_SCAN, "waybill_printed")
        return True

    async def _await_scans(self) -> bool:
        """Until every parcel is scanned out; False when cancelled before the first one."""
        while any(s.status == ShipmentStatus.PRINTED for s in self.shipments):
            await workflow.wait_condition(lambda: bool(self._scanned) or self.cancel_request is not None)
            if self.cancel_request and not self._scanned:
                return False
            for shipment in self.shipments:
                if shipment.shipment_id in self._scanned:
                    await workflow.execute_local_activity_method(
                        InventoryActivities.commit_stock,
                        CommitStockInput(order_id=self.order_id, warehouse=shipment.warehouse),
                        **DB_STEP,
                    )
                    shipment.status = ShipmentStatus.SHIPPED
                    # A shared parcel: the other orders in it left with it (scanning any of them ships all).
                    for partner in (self._riders or ([self._leader] if self._leader else [])):
                        await self._signal_order(partner, "parcel_scanned", ParcelScanned(waybill_no=shipment.waybill_no or ""))
            self._scanned.clear()
            all_out = all(s.status == ShipmentStatus.SHIPPED for s in self.shipments)
            await self._transition(OrderStatus.SHIPPED if all_out else OrderStatus.AWAITING_SCAN, "parcel_scanned")
        return True

    async def _ship_back(self) -> None:
        """The goods are gone: these steps can only be retried, never cancelled."""
        for shipment in self.shipments:
            if not self.order.replaces:  # an exchange's parcel: the channel knows only the original order
                await self._until_done("push_shipment_to_channel", lambda s=shipment: workflow.execute_activity_method(
                    ChannelActivities.push_shipment_to_channel,
                    PushShipmentInput(order_id=self.order_id, channel=self.order.channel, shop=self.order.shop,
                                      external_id=self.order.external_id, shipment_id=s.shipment_id,
                                      waybill_no=s.waybill_no or "", carrier=s.carrier,
                                      is_split=len(self.shipments) > 1),
                    **PARTNER_CALL,
                ), cancellable=False)
                shipment.pushed_to_channel = True
            await self._until_done("subscribe_tracking", lambda s=shipment: workflow.execute_activity_method(
                ShippingActivities.subscribe_tracking,
                SubscribeTrackingInput(waybill_no=s.waybill_no or "", carrier=s.carrier,
                                       callback_url=self.policy.tracking_callback_url),
                **PARTNER_CALL,
            ), cancellable=False)
        await self._transition(OrderStatus.SHIPPED, "pushed_to_channel")

    async def _await_delivery(self) -> None:
        """Carrier callbacks deliver the news; a periodic query covers a lost callback."""
        deadline = workflow.now() + timedelta(seconds=self.policy.delivery_deadline_s)
        while not self._all_delivered():
            await self._wait(self._all_delivered, until=deadline, at_most=timedelta(seconds=self.policy.tracking_poll_s))
            if self._all_delivered():
                return
            for shipment in self.shipments:
                if shipment.waybill_no in self._delivered:
                    continue
                try:
                    tracking = await workflow.execute_activity_method(
                        ShippingActivities.query_tracking,
                        QueryTrackingInput(waybill_no=shipment.waybill_no or "", carrier=shipment.carrier),
                        **PARTNER_CALL,
                    )
                except ActivityError:
                    continue  # tracking is advisory; the next poll tries again
                if tracking.delivered:
                    self._delivered.add(tracking.waybill_no)
            if not self._all_delivered() and workflow.now() >= deadline:
                # A late signed-for callback ends this hold as well as a person does.
                await self._hold("delivery not confirmed by the carrier", cancellable=False,
                                 resolved=self._all_delivered)
                deadline = workflow.now() + timedelta(seconds=self.policy.delivery_deadline_s)

    async def _complete(self) -> None:
        """Delivered, then completed: one local activity since FEWER_STEPS_PATCH."""
        if not self._fewer_steps:
            await self._transition(OrderStatus.DELIVERED, "delivered")
            await self._transition(OrderStatus.COMPLETED, "completed")
            return
        delivered = self._entry(OrderStatus.DELIVERED, "delivered")
        self._apply(OrderStatus.DELIVERED, upsert=False)  # the search attribute goes straight to COMPLETED
        completed = self._entry(OrderStatus.COMPLETED, "completed")
        self._apply(OrderStatus.COMPLETED)
        await workflow.execute_local_activity_method(
            OrderRecordActivities.record_transitions, RecordTransitionsInput(transitions=[delivered, completed]),
            **DB_STEP)

    async def _cancel(self, reason: str) -> OrderSnapshot:
        """Compensate in reverse: give the stock back, then the money."""
        self._cancelled_at_seq, self.cancel_reason = self._seq, reason
        await workflow.execute_local_activity_method(
            InventoryActivities.release_stock, ReleaseStockInput(order_id=self.order_id, reason=reason), **DB_STEP
        )
        refund_here = self.cancel_request is None or self.cancel_request.refund
        received, trade_no = self.order.total_amount, self.trade_no
        if not self.paid and self._payment_callback is not None:  # money came in that did not match
            received, trade_no = self._payment_callback.amount or 0, self._payment_callback.trade_no
        if (self.paid or self._payment_callback is not None) and refund_here and received > 0:
            refund = await self._until_done("refund_payment", lambda: workflow.execute_activity_method(
                PaymentActivities.refund_payment,
                RefundPaymentInput(order_id=self.order_id, trade_no=trade_no or self.order_id,
                                   amount=received, out_request_no=f"{self.order_id}-cancel",
                                   reason=reason),
                **PARTNER_CALL,
            ), cancellable=False)
            self.refund_no = refund.out_request_no if refund else None
        await self._transition(OrderStatus.CANCELLED, "cancelled", cancel_reason=reason,
                               detail={"refund_no": self.refund_no} if self.refund_no else None)
        await self._close_exceptions("order cancelled")
        if self._refund_ticket is not None:
            await self._answer_ticket(self._refund_ticket,
                                      OrderSettled(cancelled=True, order_status=self.status, detail=reason))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.snapshot()

    # --- holds and plumbing ---------------------------------------------------------------

    async def _until_done(self, step: str, action: Callable[[], Awaitable[T]], *, cancellable: bool = True) -> T | None:
        """Run a step; a permanent failure holds the order with the reason until an operator
        releases it (the step runs again) or cancels it (None)."""
        while True:
            try:
                return await action()
            except ActivityError as err:
                cause = err.cause
                detail = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
                workflow.logger.warning("step failed, holding order", extra={"step": step, "order_id": self.order_id})
            resumed_from = self.status
            if not await self._hold(f"{step} failed: {detail}", cancellable=cancellable):
                return None
            await self._transition(resumed_from, "hold_released", detail={"step": step, **self._released_by()})
            if self._exceptions:
                await self._rescore()  # a retried step costs health

    async def _hold(self, reason: str, *, cancellable: bool = True, resolved: Callable[[], bool] = lambda: False) -> bool:
        """ON_HOLD until released or resolved by itself (True) or, where allowed, cancelled (False).
        A corrected address is applied meanwhile; it resolves the hold when it clears its cause."""
        self._hold_cancellable, self._hold_open, self._release = cancellable, True, None  # a resolve may come soon
        await self._transition(OrderStatus.ON_HOLD, "held", hold_reason=reason)
        while True:
            await workflow.wait_condition(lambda: self._released or resolved() or self._address_update is not None
                                          or (cancellable and self.cancel_request is not None))
            if self._address_update is None or self._released or resolved():
                break
            await self._apply_address(self._address_update)
        released = self._released or resolved()
        if self._released and self._release and self._holding_tags():
            # Reviewed: the tags that held the order are resolved by whoever released it.
            await self._resolve_tags(self._holding_tags(), self._release.resolved_by, self._release.note or "released")
        self._released, self._hold_cancellable, self._hold_open = False, True, False
        return released

    async def _wait(self, condition: Callable[[], bool], *, until: datetime, at_most: timedelta | None = None) -> bool:
        return await wait_until(condition, until=until, at_most=at_most)

    async def _transition(self, status: OrderStatus, event: str, *, hold_reason: str | None = None,
                          paid: bool | None = None, warehouse: str | None = None,
                          cancel_reason: str | None = None, detail: dict[str, Any] | None = None) -> None:
        """Record a state change: search attributes, read model and timeline in one step."""
        record = self._entry(status, event, hold_reason=hold_reason, paid=paid, warehouse=warehouse,
                             cancel_reason=cancel_reason, detail=detail)
        self._apply(status, hold_reason=hold_reason, warehouse=warehouse)
        await workflow.execute_local_activity_method(OrderRecordActivities.record_transition, record, **DB_STEP)

    def _entry(self, status: OrderStatus, event: str, *, hold_reason: str | None = None, paid: bool | None = None,
               warehouse: str | None = None, cancel_reason: str | None = None,
               detail: dict[str, Any] | None = None) -> RecordTransitionInput:
        """The next state change as the read model records it (applied here by `_apply`)."""
        return RecordTransitionInput(
            order_id=self.order_id,
            entry=TimelineEntry(seq=self._seq + 1, at=workflow.now(), status=status, event=event, detail=detail or {}),
            hold_reason=hold_reason, paid=paid, trade_no=self.trade_no if paid else None,
            warehouse=warehouse, cancel_reason=cancel_reason, shipments=self.shipments,
        )

    def _apply(self, status: OrderStatus, *, hold_reason: str | None = None, warehouse: str | None = None,
               upsert: bool = True) -> None:
        """The state change in the workflow: search attributes, sequence, the review SLA clock."""
        if upsert and (status != self.status or warehouse):
            updates = [ORDER_STATUS.value_set(status)]
            if warehouse:
                updates.append(WAREHOUSE.value_set(warehouse))
            workflow.upsert_search_attributes(updates)
        self._seq += 1
        if status == OrderStatus.ON_HOLD and self.status != OrderStatus.ON_HOLD:
            self._held_since, self._held_seq = workflow.now(), self._seq  # the review SLA clock starts
        elif status != OrderStatus.ON_HOLD:
            self._held_since = None
        self.status, self.hold_reason = status, hold_reason

    # --- exceptions, health and SLAs -----------------------------------------------------

    async def _screen(self) -> None:
        standing = await workflow.execute_local_activity_method(
            ExceptionActivities.screen_order, ScreenOrderInput(order=self.order, seq=self._seq, at=workflow.now()),
            **DB_STEP)
        await self._screened(standing)

    async def _screened(self, standing: StandingTags) -> None:
        # A clean order skips the scoring unless it came late from its channel (sync delay).
        await self._tags_changed(standing, "screened", rescore=bool(standing.tags) or self.order.placed_at is not None)

    async def _raise_tag(self, tag: str, reason: str) -> None:
        standing = await workflow.execute_local_activity_method(
            ExceptionActivities.raise_exception,
            RaiseExceptionInput(order_id=self.order_id, tag=tag, reason=reason, seq=self._seq, at=workflow.now()),
            **DB_STEP)
        await self._tags_changed(standing, "exception_raised")

    async def _resolve_tags(self, tags: list[str] | None, by: str, resolution: str) -> None:
        standing = await workflow.execute_local_activity_method(
            ExceptionActivities.resolve_exceptions,
            ResolveExceptionsInput(order_id=self.order_id, tags=tags, resolved_by=by, resolution=resolution,
                                   at=workflow.now()),
            **DB_STEP)
        await self._tags_changed(standing, "exceptions_resolved", by=by)

    async def _close_exceptions(self, resolution: str) -> None:
        """The order is out of our hands: nothing left for a queue."""
        if self._exceptions and self.tags:
            await self._resolve_tags(None, "system", resolution)

    async def _apply_address(self, request: ResolveHold) -> None:
        """The operator's corrected receiver: recorded, and screened again by the address rules."""
        self._address_update = None
        assert request.address is not None
        self.order.buyer = request.address
        await self._transition(self.status, "address_updated", hold_reason=self.hold_reason,
                               detail={"by": request.resolved_by, "note": request.note})
        standing = await workflow.execute_local_activity_method(
            ExceptionActivities.screen_address,
            ScreenAddressInput(order_id=self.order_id, buyer=request.address, seq=self._seq, at=workflow.now(),
                               updated_by=request.resolved_by),
            **DB_STEP)
        await self._tags_changed(standing, "address_screened", by=request.resolved_by)

    async def _tags_changed(self, standing: StandingTags, event: str, *, by: str | None = None,
                            rescore: bool = True) -> None:
        before = set(self.tags)
        self._mirror(standing.tags)
        if set(self.tags) != before:
            await self._transition(self.status, event, hold_reason=self.hold_reason,
                                   detail={"tags": sorted(self.tags), **({"by": by} if by else {})})
        if rescore:
            await self._rescore()

    async def _rescore(self) -> None:
        if self.status in (OrderStatus.COMPLETED, OrderStatus.CANCELLED):
            return  # out of our hands: no queue to join any more
        self.health = await workflow.execute_local_activity_method(
            ExceptionActivities.score_order, ScoreOrderInput(order_id=self.order_id, seq=self._seq, at=workflow.now()),
            **DB_STEP)
        self._mirror(self.health.standing)

    def _mirror(self, standing: list[ExceptionHit]) -> None:
        tags = {hit.tag: hit for hit in standing}
        if set(tags) != set(self.tags):
            workflow.upsert_search_attributes([EXCEPTION_TAGS.value_set(sorted(tags))])
        self.tags = tags

    def _holding_tags(self) -> list[str]:
        return sorted(tag for tag, hit in self.tags.items() if hit.severity == Severity.HOLD)

    def _hold_team(self) -> str:
        """Who owns the current hold: the team of the tag that caused it, else the policy's hold team."""
        for hit in sorted(self.tags.values(), key=lambda h: (h.severity != Severity.HOLD, h.tag)):
            return hit.team
        return self.policy.hold_team

    async def _watch_review_sla(self) -> None:
        """An order held for a person: alert the owning team at 2 h, escalate to its supervisor at 4 h."""
        while True:
            await workflow.wait_condition(lambda: self._held_since is not None)
            since, seq = self._held_since, self._held_seq
            assert since is not None
            resolved = lambda: self._held_since is None or self._held_seq != seq  # noqa: E731
            for stage, after_s in (("alert", self.policy.review_alert_s), ("escalate", self.policy.review_escalate_s)):
                due = since + timedelta(seconds=after_s)
                if await wait_until(resolved, until=due):
                    break
                await self._alert_sla("review", stage, self._hold_team(), due, key=f"{self.order_id}:review:{seq}:{stage}",
                                      detail=f"on hold since {since:%Y-%m-%d %H:%M} UTC: {self.hold_reason}")
            await workflow.wait_condition(resolved)

    async def _watch_shipping_promise(self) -> None:
        """Shipped within the promise from payment (or from the presale date): alert before, and at the breach."""
        await workflow.wait_condition(lambda: self._paid_at is not None or self.status == OrderStatus.CANCELLED)
        if self._paid_at is None:
            return
        start = max(self._paid_at, self.order.ship_not_before or self._paid_at)
        promise = start + timedelta(seconds=self.policy.shipping_promise_s)
        kept = lambda: self._shipped_any() or self.status in SHIPPED_OR_LATER or self.status == OrderStatus.CANCELLED  # noqa: E731
        for stage, due in (("alert", promise - timedelta(seconds=self.policy.shipping_alert_before_s)),
                           ("breached", promise)):
            if await wait_until(kept, until=due):
                return
            await self._alert_sla("shipping_promise", stage, self.policy.shipping_team, promise,
                                  key=f"{self.order_id}:shipping:{stage}",
                                  detail=f"not shipped; promised by {promise:%Y-%m-%d %H:%M} UTC")

    async def _alert_sla(self, kind: SlaKind, stage: SlaStage, team: str, due_at: datetime, *, key: str,
                         detail: str) -> None:
        try:
            await workflow.execute_activity_method(
                ExceptionActivities.alert_sla,
                SlaAlertInput(order_id=self.order_id, kind=kind, stage=stage, team=team, due_at=due_at,
                              at=workflow.now(), key=key, detail=detail[:300]),
                **NOTICE)
        except ActivityError:
            workflow.logger.warning("SLA alert not delivered", extra={"order_id": self.order_id, "key": key})
        await self._rescore()

    def _released_by(self) -> dict[str, str]:
        return {"by": self._release.resolved_by, "note": self._release.note} if self._release else {}

    def _payment_deadline(self) -> datetime:
        return workflow.info().start_time + timedelta(seconds=self.policy.payment_timeout_s)

    def _cancel_reason(self, default: str = "cancelled") -> str:
        return self.cancel_request.reason if self.cancel_request else default

    def _warehouses(self) -> str:
        return ",".join(sorted({s.warehouse for s in self.shipments}))

    def _all_delivered(self) -> bool:
        return all(s.waybill_no in self._delivered for s in self.shipments)

    def _shipped_any(self) -> bool:
        return bool(self._scanned) or any(s.status == ShipmentStatus.SHIPPED for s in self.shipments)

    def snapshot(self) -> OrderSnapshot:
        return OrderSnapshot(
            order_id=self.order_id, status=self.status, hold_reason=self.hold_reason, paid=self.paid,
            reservation=self.reservation, shipments=self.shipments, cancel_reason=self.cancel_reason,
            refund_no=self.refund_no, exception_tags=sorted(self.tags),
            health_score=self.health.score if self.health else None,
        )

    # --- messages ---------------------------------------------------------------------------

    @workflow.query
    def state(self) -> OrderSnapshot:
        return self.snapshot()

    @workflow.update
    async def stock_decision(self, request: StockDecisionRequest) -> OrderSnapshot:
        """Sent with the start (update-with-start): answers once stock is reserved or short."""
        await workflow.wait_condition(lambda: self._stock_decided or self.status == OrderStatus.CANCELLED)
        snapshot = self.snapshot()
        snapshot.created, self._creation_answered = not self._creation_answered, True
        return snapshot

    @workflow.update
    async def confirm_payment(self, request: ConfirmPayment) -> OrderSnapshot:
        if not self.paid and self._exceptions and request.amount is not None \
                and request.amount != self.order.total_amount and self._payment_callback is None:
            await self._raise_tag(PAYMENT_CALLBACK_FAILED, f"payment callback says {request.amount} fen paid, "
                                                           f"the order is {self.order.total_amount} fen")
            self._payment_callback = request  # after the tag: the waiting flow holds with its reason
            return self.snapshot()
        if not self.paid:
            self.paid = True
            self.trade_no = request.trade_no or self.trade_no
            if self.status == OrderStatus.AWAITING_PAYMENT:
                seq = self._seq
                await workflow.wait_condition(lambda: self._seq > seq)
        return self.snapshot()

    @confirm_payment.validator
    def _validate_payment(self, request: ConfirmPayment) -> None:
        if self.status == OrderStatus.CANCELLED or self.cancel_request is not None:
            raise ApplicationError("order is cancelled", type="OrderCancelled")

    @workflow.update
    async def cancel(self, request: CancelOrder) -> OrderSnapshot:
        if self.cancel_request is None:
            self.cancel_request = request
        # Answered once cancelled, or when the refund itself is held for a person.
        await workflow.wait_condition(lambda: self.status == OrderStatus.CANCELLED or (
            self._cancelled_at_seq is not None and self._seq > self._cancelled_at_seq
            and self.status == OrderStatus.ON_HOLD))
        return self.snapshot()

    @cancel.validator
    def _validate_cancel(self, request: CancelOrder) -> None:
        if self.status in SHIPPED_OR_LATER or self._shipped_any():
            raise ApplicationError(f"order is {self.status}: goods have left the warehouse", type="AlreadyShipped")
        if self.status == OrderStatus.CANCELLED:
            raise ApplicationError("order is already cancelled", type="AlreadyCancelled")

    @workflow.update
    async def scan_shipment(self, request: ScanShipment) -> OrderSnapshot:
        seq = self._seq
        for shipment in self._scannable(request):
            self._scanned.add(shipment.shipment_id)
        await workflow.wait_condition(lambda: self._seq > seq)
        return self.snapshot()

    @scan_shipment.validator
    def _validate_scan(self, request: ScanShipment) -> None:
        if self.status != OrderStatus.AWAITING_SCAN or self.cancel_request is not None:
            raise ApplicationError(f"order is {self.status}: no printed waybill awaits a scan", type="NotAwaitingScan")
        if not self._scannable(request):
            raise ApplicationError(f"waybill {request.waybill_no} is not an unscanned parcel of this order",
                                   type="UnknownWaybill")

    def _scannable(self, request: ScanShipment) -> list[Shipment]:
        return [
            s for s in self.shipments
            if s.status == ShipmentStatus.PRINTED and s.shipment_id not in self._scanned
            and (request.waybill_no is None or s.waybill_no == request.waybill_no)
        ]

    @workflow.update
    async def resolve_hold(self, request: ResolveHold) -> OrderSnapshot:
        if self.status != OrderStatus.ON_HOLD:
            # Flagged, not held: the operator acknowledges the tags; the order was never stopped.
            await self._resolve_tags(None, request.resolved_by, request.note or "acknowledged")
            return self.snapshot()
        seq = self._seq
        if request.action == "release":
            self._release, self._released = request, True
        elif request.action == "update_address":
            self._address_update = request
        else:
            self.cancel_request = CancelOrder(reason=request.note or "cancelled by operator", requested_by=request.resolved_by)
        await workflow.wait_condition(lambda: self._seq > seq)
        return self.snapshot()

    @resolve_hold.validator
    def _validate_resolve(self, request: ResolveHold) -> None:
        if self.status != OrderStatus.ON_HOLD:
            if request.action == "release" and self.tags and self.status != OrderStatus.CANCELLED:
                return  # acknowledging flagged tags
            raise ApplicationError(f"order is {self.status}, not on hold", type="NotOnHold")
        if request.action == "cancel" and (self._shipped_any() or not self._hold_cancellable):
            raise ApplicationError("goods have left the warehouse: the order can only be released", type="AlreadyShipped")
        if request.action == "update_address":
            if request.address is None:
                raise ApplicationError("update_address needs the corrected address", type="AddressMissing")
            if not self._exceptions or not self._hold_open or any(s.waybill_no for s in self.shipments):
                raise ApplicationError("the waybill is printed: the address can no longer change here",
                                       type="WaybillPrinted")

    @workflow.signal
    def stock_replenished(self, signal: StockReplenished) -> None:
        self._restocks += 1

    @workflow.signal
    def channel_update(self, update: ChannelUpdate) -> None:
        """A platform-side change reaches the running order: payment, or a cancel or refund
        before the goods have left (after that it is a matter for after-sales)."""
        self._creation_answered = True  # the channel delivered this order: a later POST has seen it before
        if update.modified_at is not None:
            if self._channel_modified_at is not None and update.modified_at < self._channel_modified_at:
                return  # out of order: an older change must not undo a newer one
            self._channel_modified_at = update.modified_at
        if update.state == "AWAITING_PAYMENT" or self.status == OrderStatus.CANCELLED:
            return
        if not self.paid and update.state != "CANCELLED":
            self.paid = True
            self.trade_no = update.trade_no or self.trade_no
        if update.state in ("CANCELLED", "REFUNDING", "REFUNDED") and self.cancel_request is None \
                and self.status not in SHIPPED_OR_LATER and not self._shipped_any():
            self.cancel_request = CancelOrder(reason=f"{update.state.lower()} on the channel ({update.raw_status})",
                                              requested_by="channel", refund=False)

    @workflow.signal
    async def refund_before_shipping(self, request: RefundBeforeShipping) -> None:
        """An after-sales ticket refunds the order before it ships: stop here and release the stock;
        the ticket moves the money. Answered with `order_settled` on the ticket's workflow."""
        refused = None
        if self.status == OrderStatus.CANCELLED or self.cancel_request is not None:
            refused = "the order is already cancelled or being cancelled"
        elif self.status in SHIPPED_OR_LATER or self._shipped_any() or not self._hold_cancellable:
            refused = "goods have left the warehouse"
        if refused is None:
            self._refund_ticket = request.ticket_workflow_id
            self.cancel_request = CancelOrder(reason=f"refunded by after-sales ticket {request.ticket_id}",
                                              requested_by="after_sales", refund=False)
            return
        await self._answer_ticket(request.ticket_workflow_id,
                                  OrderSettled(cancelled=False, order_status=self.status, detail=refused))

    async def _answer_ticket(self, ticket_workflow_id: str, answer: OrderSettled) -> None:
        try:
            await workflow.get_external_workflow_handle(ticket_workflow_id).signal("order_settled", answer)
        except Exception:  # the ticket is gone (closed by a person): nobody waits for the answer
            workflow.logger.warning("after-sales ticket did not take the answer", extra={"order_id": self.order_id})

    @workflow.signal
    def merge_joined(self, joined: MergeJoined) -> None:
        self._joined.add(joined.order_id)

    @workflow.signal
    def merged_parcel(self, parcel: MergedParcel) -> None:
        self._parcel = parcel

    @workflow.signal
    def parcel_scanned(self, scanned: ParcelScanned) -> None:
        """The leader's parcel, which carries this order's goods, was scanned out."""
        for shipment in self.shipments:
            if shipment.waybill_no == scanned.waybill_no and shipment.status == ShipmentStatus.PRINTED:
                self._scanned.add(shipment.shipment_id)

    @workflow.signal
    def tracking_event(self, event: TrackingEvent) -> None:
        if event.delivered:
            self._delivered.add(event.waybill_no)
