"""OrderWorkflow: one durable workflow per order, from receipt to completion.

    1. receive          register the order and screen it: the exception rules tag what needs a person;
                        the review and shipping-promise clocks start
    2. reserve stock    short -> ON_HOLD (out_of_stock) until restocked, released, cancelled or the hold limit
    3. await payment    unpaid -> AWAITING_PAYMENT until paid or the payment deadline
    4. review           a hold-severity tag -> ON_HOLD in its team's queue until a person resolves it
    5. presale date     a presale order waits for its ship-not-before date (a timer: no worker held)
    6. route            one shipment per warehouse holding the reservation (split when needed); the
                        buyer's other paid orders to the same address share one parcel (ParcelWorkflow)
    7. print waybills   through the carrier, keyed by shipment: a retry never prints twice
    8. await the scan   the parcel leaves the warehouse; its units leave stock
    9. ship back        carrier + waybill to the channel; follow the carrier's tracking
   10. await delivery   tracking callbacks, with a periodic query as the safety net
   11. complete

A cancel is accepted until a parcel is scanned out: any step before that raises OrderCancelled, and
`run` compensates once (order_compensation: stock back, then the money). A step that fails for good
holds the order with the reason (order_holds) until a person releases or cancels it: never a silent
stop. Exceptions, health and SLAs live in order_review.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.order_compensation import Compensation, answer_ticket
from workflows.order_holds import Holds
from workflows.order_presale import Presale
from workflows.order_review import Review
from workflows.order_state import OrderCancelled, OrderState
from workflows.order_timeline import Timeline
from workflows.steps import PARTNER_CALL, wait_until

with workflow.unsafe.imports_passed_through():
    from activities.channel import ChannelActivities
    from activities.inventory import InventoryActivities
    from activities.orders import OrderRecordActivities
    from activities.parcel import ParcelActivities
    from activities.shipping import ShippingActivities
    from models.after_sales import OrderSettled, RefundBeforeShipping
    from models.exceptions import OUT_OF_STOCK, PAYMENT_CALLBACK_FAILED
    from models.inventory import CommitStockInput, ReserveStockInput, StockRequest
    from models.order import OrderStatus
    from models.order_errors import OrderError
    from models.order_workflow import (
        CancelOrder,
        ChannelUpdate,
        ConfirmPayment,
        JoinParcelInput,
        OrderEventName,
        OrderMessage,
        OrderSnapshot,
        OrderWorkflowInput,
        ParcelLeave,
        ParcelMessage,
        ParcelPrinted,
        ParcelScanned,
        ParcelScannedAt,
        ReserveForOrderInput,
        ResolveHold,
        ScanShipment,
        StockDecisionRequest,
        StockReplenished,
    )
    from models.search_attributes import CHANNEL, ORDER_STATUS, PRIORITY
    from models.shipping import (
        PlanShipmentsInput,
        PrintWaybillInput,
        PushShipmentInput,
        QueryTrackingInput,
        Shipment,
        ShipmentStatus,
        SubscribeTrackingInput,
        TrackingEvent,
        Waybill,
    )


@workflow.defn
class OrderWorkflow:
    @workflow.init
    def __init__(self, input: OrderWorkflowInput) -> None:
        self.s = OrderState(input)
        self.timeline = Timeline(self.s)
        self.holds = Holds(self.s, self.timeline)
        self.timeline.on_status = self.holds.on_status  # a hold's clock starts and stops with the status
        self.review = Review(self.s, self.timeline, self.holds)
        self.compensation = Compensation(self.s, self.timeline, self.holds, self.review)
        self.presale = Presale(self.s, self.timeline)  # a presale order's deposit and balance
        self.parcel: ParcelPrinted | None = None  # the answer of the parcel this order joined
        self.parcel_workflow_id: str | None = None
        self.scanned_by_parcel = False  # the parcel told us it left: nothing to tell it back

    @workflow.run
    async def run(self, input: OrderWorkflowInput) -> OrderSnapshot:
        s = self.s
        try:
            # 1. Receive and screen; the SLA clocks start watching.
            workflow.upsert_search_attributes([ORDER_STATUS.value_set(s.status), CHANNEL.value_set(s.order.channel),
                                               PRIORITY.value_set(s.order.priority)])
            await self.review.receive()
            self.review.start_sla_clocks()
            # 2. Reserve stock, holding while short.
            await self.reserve_stock()
            # 3. Await payment.
            await self.await_payment()
            # 4. Review: held while a hold-severity tag stands.
            await self.review.await_review()
            # 5. Presale: wait for the ship-not-before date.
            await self.await_presale_date()
            # 6. Route: one shipment per warehouse; share a parcel with the buyer's other orders.
            await self.plan_shipments()
            await self.join_parcel()
            # 7. Print the waybill of every parcel.
            await self.print_waybills()
            # 8. Await the warehouse scan of every parcel; scanned units leave stock.
            await self.await_scans()
        except OrderCancelled as stop:
            await self._tell_parcel(ParcelMessage.LEAVE, ParcelLeave(order_id=s.order_id))
            await self.compensation.cancel(s.cancel_request.reason if s.cancel_request else stop.reason)
            return await self._finished()
        # 9. Ship back to the channel and follow the carrier's tracking (no cancel from here on).
        await self.ship_back()
        # 10. Await delivery.
        await self.await_delivery()
        # 11. Complete.
        await self.timeline.record_many((OrderStatus.DELIVERED, OrderEventName.DELIVERED),
                                        (OrderStatus.COMPLETED, OrderEventName.COMPLETED))
        await self.review.close("order completed")
        return await self._finished()

    async def _finished(self) -> OrderSnapshot:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.s.snapshot()

    # --- steps ------------------------------------------------------------------------------

    async def reserve_stock(self) -> None:
        """Reserve; while short, hold until a restock, a release, a cancel or the hold limit."""
        s = self.s
        hold_until = workflow.info().start_time + timedelta(seconds=s.policy.hold_limit_s)
        after = OrderStatus.FULFILLING if s.paid else OrderStatus.AWAITING_PAYMENT
        reserve = ReserveStockInput(order_id=s.order_id, buyer_province=s.order.buyer.province,
                                    lines=[StockRequest(sku=line.sku, quantity=line.quantity) for line in s.order.lines])
        while True:
            # The transition rides with the reservation (its detail: the allocations).
            s.reservation = await self.holds.db_step(InventoryActivities.reserve_stock_for_order, ReserveForOrderInput(
                reserve=reserve, on_reserved=self.timeline.entry(after, OrderEventName.STOCK_RESERVED)))
            if s.reservation.status == "reserved":
                self.timeline.apply(after)
                if OUT_OF_STOCK in self.review.tags:
                    await self.review.resolve_tags([OUT_OF_STOCK], "system", "stock reserved")
                s.stock_decided = True
                return
            reason = s.reservation.reason()
            if s.status != OrderStatus.ON_HOLD or s.hold_reason != reason or self.holds.released:
                await self.timeline.record(OrderStatus.ON_HOLD, OrderEventName.STOCK_SHORT, hold_reason=reason)
                s.stock_decided = True  # the caller hears "short" now; the queue entry follows
                if OUT_OF_STOCK not in self.review.tags:
                    await self.review.raise_tag(OUT_OF_STOCK, reason)
            self.holds.released = False
            s.stock_decided = True
            deadline = hold_until if s.paid else min(hold_until, self._payment_deadline())
            def restocked_released_or_cancelled(seen: int = s.restocks) -> bool:
                return s.restocks != seen or self.holds.released or s.cancel_request is not None
            woke = await wait_until(restocked_released_or_cancelled,
                                    until=deadline, at_most=timedelta(seconds=s.policy.hold_recheck_s))
            s.stop_if_cancelled()
            if not woke and workflow.now() >= deadline:
                raise OrderCancelled("out of stock past the hold limit")

    async def await_payment(self) -> None:
        s = self.s
        if self.presale.active:
            return await self.presale.await_payments(self._payment_deadline())
        s.stop_if_cancelled()
        if s.paid:
            return
        await wait_until(lambda: s.paid or s.cancel_request is not None or s.payment_callback is not None,
                         until=self._payment_deadline())
        if not s.paid and s.payment_callback is not None and not s.cancel_request:
            # Money came in that does not match the order: no deadline cancels it, a person decides.
            # Release accepts the payment; cancel refunds what came in.
            await self.holds.hold(self.review.tags[PAYMENT_CALLBACK_FAILED].reason, resolved=lambda: s.paid)
            s.paid, s.trade_no = True, s.payment_callback.trade_no or s.trade_no
        s.stop_if_cancelled("payment deadline passed")
        if not s.paid:
            raise OrderCancelled("payment deadline passed")
        s.paid_at = s.paid_at or workflow.now()
        await self.timeline.record(OrderStatus.FULFILLING, OrderEventName.PAYMENT_CONFIRMED, paid=True, by=s.confirmed_by)

    async def await_presale_date(self) -> None:
        """A presale order ships from its date: a durable timer, no worker held meanwhile."""
        s, ship_from = self.s, self.s.order.ship_not_before
        if ship_from is not None and workflow.now() < ship_from:
            await self.timeline.record(s.status, OrderEventName.AWAITING_PRESALE_DATE,
                                       detail={"ship_not_before": ship_from.isoformat()})
            await wait_until(lambda: s.cancel_request is not None, until=ship_from)
        s.stop_if_cancelled()

    async def plan_shipments(self) -> None:
        s = self.s
        s.shipments = await self.holds.db_step(OrderRecordActivities.plan_shipments,
                                               PlanShipmentsInput(order_id=s.order_id, carrier=s.policy.carrier))
        await self.timeline.record(OrderStatus.FULFILLING, OrderEventName.SHIPMENTS_PLANNED, warehouse=s.warehouses())

    async def join_parcel(self) -> None:
        """One parcel for the same buyer's paid orders to the same address from the same warehouse:
        the parcel's workflow gathers them for the merge window and prints one waybill. Flagged
        orders and exchanges never merge."""
        s = self.s
        window = s.policy.merge_window_s
        if not window or len(s.shipments) != 1 or self.review.tags or s.order.replaces:
            s.stop_if_cancelled()
            return
        shipment = s.shipments[0]
        role = await self.holds.db_step(ParcelActivities.join_parcel, JoinParcelInput(
            order_id=s.order_id, shipment_id=shipment.shipment_id, warehouse=shipment.warehouse,
            carrier=shipment.carrier, lines=shipment.lines, window_s=window, at=workflow.now()))
        if role.role != "joined":
            s.stop_if_cancelled()
            return
        self.parcel_workflow_id = role.parcel_workflow_id
        await self.timeline.record(s.status, OrderEventName.MERGING)
        # The parcel answers once it printed (or found nobody to share with); past the window plus a
        # margin, print alone.
        await wait_until(lambda: self.parcel is not None or s.cancel_request is not None,
                         until=workflow.now() + timedelta(seconds=window + 600))
        if s.cancel_request is not None and not (self.parcel and self.parcel.waybill_no):
            raise OrderCancelled()  # run() tells the parcel this order left
        if self.parcel is None or not self.parcel.waybill_no:
            self.parcel_workflow_id = None  # printing alone after all
            s.stop_if_cancelled()
            return
        shipment.waybill_no, shipment.carrier = self.parcel.waybill_no, self.parcel.carrier or shipment.carrier
        shipment.status = ShipmentStatus.PRINTED
        await self.timeline.record(s.status, OrderEventName.PARCEL_MERGED,
                                   detail={"orders": self.parcel.orders, "waybill_no": self.parcel.waybill_no,
                                           "parcel": self.parcel.parcel_workflow_id})

    async def print_waybills(self) -> None:
        s = self.s
        for shipment in s.shipments:
            if shipment.status == ShipmentStatus.PRINTED:
                continue  # a shared parcel, printed by its parcel workflow
            def print_waybill(sh: Shipment = shipment) -> Awaitable[Waybill]:
                return workflow.execute_activity_method(
                    ShippingActivities.print_waybill,
                    PrintWaybillInput(order_id=s.order_id, shipment_id=sh.shipment_id, warehouse=sh.warehouse,
                                      carrier=sh.carrier, lines=sh.lines),
                    **PARTNER_CALL)
            waybill = await self.holds.until_done("print_waybill", print_waybill)
            s.stop_if_cancelled()
            shipment.waybill_no, shipment.carrier = waybill.waybill_no, waybill.carrier
            shipment.status = ShipmentStatus.PRINTED
        await self.timeline.record(OrderStatus.AWAITING_SCAN, OrderEventName.WAYBILL_PRINTED)

    async def await_scans(self) -> None:
        """Until every parcel is scanned out; a cancel before the first one stops the order."""
        s = self.s
        while any(sh.status == ShipmentStatus.PRINTED for sh in s.shipments):
            await workflow.wait_condition(lambda: bool(s.scanned) or s.cancel_request is not None)
            if not s.scanned:
                s.stop_if_cancelled()
            for shipment in s.shipments:
                if shipment.shipment_id not in s.scanned:
                    continue
                await self.holds.db_step(InventoryActivities.commit_stock,
                                         CommitStockInput(order_id=s.order_id, warehouse=shipment.warehouse),
                                         cancellable=False)
                shipment.status = ShipmentStatus.SHIPPED
                # A shared parcel: the other orders in it left with it.
                if self.parcel_workflow_id and not self.scanned_by_parcel:
                    await self._tell_parcel(ParcelMessage.SCANNED, ParcelScannedAt(order_id=s.order_id,
                                                                                   waybill_no=shipment.waybill_no or ""))
            s.scanned.clear()
            all_out = all(sh.status == ShipmentStatus.SHIPPED for sh in s.shipments)
            await self.timeline.record(OrderStatus.SHIPPED if all_out else OrderStatus.AWAITING_SCAN,
                                       OrderEventName.PARCEL_SCANNED, by=s.scanned_by)

    async def ship_back(self) -> None:
        """The goods are gone: these steps can only be retried, never cancelled."""
        s = self.s
        for shipment in s.shipments:
            # An exchange's parcel goes to the channel as one more parcel of the order it replaces.
            def push_shipment(sh: Shipment = shipment) -> Awaitable[None]:
                return workflow.execute_activity_method(
                    ChannelActivities.push_shipment_to_channel,
                    PushShipmentInput(order_id=s.order_id, channel=s.order.channel, shop=s.order.shop,
                                      external_id=s.order.external_id, shipment_id=sh.shipment_id,
                                      waybill_no=sh.waybill_no or "", carrier=sh.carrier,
                                      is_split=len(s.shipments) > 1, replaces=s.order.replaces),
                    **PARTNER_CALL)
            await self.holds.until_done("push_shipment_to_channel", push_shipment, cancellable=False)
            shipment.pushed_to_channel = True
            def subscribe_tracking(sh: Shipment = shipment) -> Awaitable[None]:
                return workflow.execute_activity_method(
                    ShippingActivities.subscribe_tracking,
                    SubscribeTrackingInput(waybill_no=sh.waybill_no or "", carrier=sh.carrier,
                                           callback_url=s.policy.tracking_callback_url),
                    **PARTNER_CALL)
            await self.holds.until_done("subscribe_tracking", subscribe_tracking, cancellable=False)
        await self.timeline.record(OrderStatus.SHIPPED, OrderEventName.PUSHED_TO_CHANNEL)

    async def await_delivery(self) -> None:
        """Carrier callbacks deliver the news; a periodic query covers a lost callback."""
        s = self.s
        deadline = workflow.now() + timedelta(seconds=s.policy.delivery_deadline_s)
        while not s.all_delivered():
            await wait_until(s.all_delivered, until=deadline, at_most=timedelta(seconds=s.policy.tracking_poll_s))
            if s.all_delivered():
                return
            for shipment in s.shipments:
                if shipment.waybill_no in s.delivered:
                    continue
                try:
                    tracking = await workflow.execute_activity_method(
                        ShippingActivities.query_tracking,
                        QueryTrackingInput(waybill_no=shipment.waybill_no or "", carrier=shipment.carrier),
                        **PARTNER_CALL)
                except ActivityError:
                    continue  # tracking is advisory; the next poll tries again
                if tracking.delivered:
                    s.delivered.add(tracking.waybill_no)
            if not s.all_delivered() and workflow.now() >= deadline:
                # A late signed-for callback ends this hold as well as a person does.
                await self.holds.hold("delivery not confirmed by the carrier", cancellable=False,
                                      resolved=s.all_delivered)
                deadline = workflow.now() + timedelta(seconds=s.policy.delivery_deadline_s)

    def _payment_deadline(self) -> datetime:
        return self.presale.payment_deadline()  # the order's, or a presale balance's

    async def _tell_parcel(self, message: ParcelMessage, arg: ParcelLeave | ParcelScannedAt) -> None:
        if self.parcel_workflow_id is None:
            return
        try:
            await workflow.get_external_workflow_handle(self.parcel_workflow_id).signal(message.value, arg)
        except Exception:  # the parcel has ended: nobody waits for the news
            workflow.logger.warning("parcel did not take the signal", extra={"order_id": self.s.order_id})

    # --- messages ---------------------------------------------------------------------------

    @workflow.query(name=OrderMessage.STATE.value)
    def state(self) -> OrderSnapshot:
        return self.s.snapshot()

    @workflow.update(name=OrderMessage.STOCK_DECISION.value)
    async def stock_decision(self, request: StockDecisionRequest) -> OrderSnapshot:
        """Sent with the start (update-with-start): answers once stock is reserved or short, or the
        order is held before that (a step that failed for good) or cancelled."""
        s = self.s
        await workflow.wait_condition(lambda: s.stock_decided or s.status in (OrderStatus.ON_HOLD, OrderStatus.CANCELLED))
        snapshot = s.snapshot()
        snapshot.created, s.creation_answered = not s.creation_answered, True
        return snapshot

    @workflow.update(name=OrderMessage.CONFIRM_PAYMENT.value)
    async def confirm_payment(self, request: ConfirmPayment) -> OrderSnapshot:
        s = self.s
        if self.presale.takes(request):
            return await self.presale.confirm(request)
        if not s.paid and request.amount is not None and request.amount != s.order.total_amount \
                and s.payment_callback is None:
            await self.review.raise_tag(PAYMENT_CALLBACK_FAILED, f"payment callback says {request.amount} fen paid, "
                                                                 f"the order is {s.order.total_amount} fen")
            s.payment_callback = request  # after the tag: the waiting flow holds with its reason
            return s.snapshot()
        if not s.paid:
            s.paid, s.trade_no, s.confirmed_by = True, request.trade_no or s.trade_no, request.confirmed_by
            if s.status == OrderStatus.AWAITING_PAYMENT:
                seq = s.seq
                await workflow.wait_condition(lambda: s.seq > seq)
        return s.snapshot()

    @confirm_payment.validator
    def _validate_payment(self, request: ConfirmPayment) -> None:
        if self.s.status == OrderStatus.CANCELLED or self.s.cancel_request is not None:
            raise OrderError.ORDER_CANCELLED.failure("order is cancelled")
        self.presale.validate(request)

    @workflow.update(name=OrderMessage.CANCEL.value)
    async def cancel(self, request: CancelOrder) -> OrderSnapshot:
        s = self.s
        if s.cancel_request is None:
            s.cancel_request = request
        # Answered once cancelled, or when the refund itself is held for a person.
        await workflow.wait_condition(lambda: s.status == OrderStatus.CANCELLED or (
            s.cancelled_at_seq is not None and s.seq > s.cancelled_at_seq and s.status == OrderStatus.ON_HOLD))
        return s.snapshot()

    @cancel.validator
    def _validate_cancel(self, request: CancelOrder) -> None:
        if self.s.goods_left():
            raise OrderError.ALREADY_SHIPPED.failure(f"order is {self.s.status}: goods have left the warehouse")
        if self.s.status == OrderStatus.CANCELLED:
            raise OrderError.ALREADY_CANCELLED.failure("order is already cancelled")

    @workflow.update(name=OrderMessage.SCAN_SHIPMENT.value)
    async def scan_shipment(self, request: ScanShipment) -> OrderSnapshot:
        s, seq, s.scanned_by = self.s, self.s.seq, request.scanned_by
        for shipment in self._scannable(request):
            s.scanned.add(shipment.shipment_id)
        await workflow.wait_condition(lambda: s.seq > seq)
        return s.snapshot()

    @scan_shipment.validator
    def _validate_scan(self, request: ScanShipment) -> None:
        if self.s.status != OrderStatus.AWAITING_SCAN or self.s.cancel_request is not None:
            raise OrderError.NOT_AWAITING_SCAN.failure(f"order is {self.s.status}: no printed waybill awaits a scan")
        if not self._scannable(request):
            raise OrderError.UNKNOWN_WAYBILL.failure(f"waybill {request.waybill_no} is not an unscanned parcel of this order")

    def _scannable(self, request: ScanShipment) -> list[Shipment]:
        return [sh for sh in self.s.shipments
                if sh.status == ShipmentStatus.PRINTED and sh.shipment_id not in self.s.scanned
                and (request.waybill_no is None or sh.waybill_no == request.waybill_no)]

    @workflow.update(name=OrderMessage.RESOLVE_HOLD.value)
    async def resolve_hold(self, request: ResolveHold) -> OrderSnapshot:
        s = self.s
        if s.status != OrderStatus.ON_HOLD:
            # Flagged, not held: the operator acknowledges the tags; the order was never stopped.
            await self.review.resolve_tags(None, request.resolved_by, request.note or "acknowledged")
            return s.snapshot()
        seq = s.seq
        if request.action == "cancel":
            s.cancel_request = CancelOrder(reason=request.note or "cancelled by operator", requested_by=request.resolved_by)
        else:
            self.holds.request(request)
        await workflow.wait_condition(lambda: s.seq > seq)
        return s.snapshot()

    @resolve_hold.validator
    def _validate_resolve(self, request: ResolveHold) -> None:
        self.holds.validate(request)

    @workflow.signal(name=OrderMessage.STOCK_REPLENISHED.value)
    def stock_replenished(self, signal: StockReplenished) -> None:
        self.s.restocks += 1

    @workflow.signal(name=OrderMessage.CHANNEL_UPDATE.value)
    def channel_update(self, update: ChannelUpdate) -> None:
        """A platform-side change reaches the running order: payment, or a cancel or refund
        before the goods have left (after that it is a matter for after-sales)."""
        s = self.s
        s.creation_answered = True  # the channel delivered this order: a later POST has seen it before
        if update.modified_at is not None:
            if s.channel_modified_at is not None and update.modified_at < s.channel_modified_at:
                return  # out of order: an older change must not undo a newer one
            s.channel_modified_at = update.modified_at
        if update.state == "AWAITING_PAYMENT" or s.status == OrderStatus.CANCELLED:
            return
        if not s.paid and update.state != "CANCELLED":
            s.paid, s.trade_no = True, update.trade_no or s.trade_no
        if update.state in ("CANCELLED", "REFUNDING", "REFUNDED") and s.cancel_request is None and not s.goods_left():
            s.cancel_request = CancelOrder(reason=f"{update.state.lower()} on the channel ({update.raw_status})",
                                           requested_by="channel", refund=False)

    @workflow.signal(name=OrderMessage.REFUND_BEFORE_SHIPPING.value)
    async def refund_before_shipping(self, request: RefundBeforeShipping) -> None:
        """An after-sales ticket refunds the order before it ships: stop here and release the stock;
        the ticket moves the money. Answered with `order_settled` on the ticket's workflow."""
        s = self.s
        refused = None
        if s.status == OrderStatus.CANCELLED or s.cancel_request is not None:
            refused = "the order is already cancelled or being cancelled"
        elif s.goods_left() or not self.holds.cancellable:
            refused = "goods have left the warehouse"
        if refused is None:
            s.refund_ticket = request.ticket_workflow_id
            s.cancel_request = CancelOrder(reason=f"refunded by after-sales ticket {request.ticket_id}",
                                           requested_by="after_sales", refund=False)
            return
        await answer_ticket(request.ticket_workflow_id, OrderSettled(cancelled=False, order_status=s.status, detail=refused))

    @workflow.signal(name=OrderMessage.PARCEL_PRINTED.value)
    def parcel_printed(self, parcel: ParcelPrinted) -> None:
        self.parcel = parcel

    @workflow.signal(name=OrderMessage.PARCEL_SCANNED.value)
    def parcel_scanned(self, scanned: ParcelScanned) -> None:
        """The shared parcel, which carries this order's goods, was scanned out with another order."""
        for shipment in self.s.shipments:
            if shipment.waybill_no == scanned.waybill_no and shipment.status == ShipmentStatus.PRINTED:
                self.s.scanned.add(shipment.shipment_id)
                self.scanned_by_parcel = True

    @workflow.signal(name=OrderMessage.TRACKING_EVENT.value)
    def tracking_event(self, event: TrackingEvent) -> None:
        if event.delivered:
            self.s.delivered.add(event.waybill_no)

