"""OrderWorkflow: one durable workflow per order, from receipt to completion.

    1. receive          register the order in the read model
    2. reserve stock    short -> ON_HOLD until restocked, released, cancelled or the hold limit
    3. await payment    unpaid -> AWAITING_PAYMENT until paid or the payment deadline
    4. route            one shipment per warehouse holding the reservation (split when needed)
    5. print waybills   through the carrier, keyed by shipment: a retry never prints twice
    6. await the scan   the parcel leaves the warehouse; its units leave stock
    7. ship back        carrier + waybill to the channel; follow the carrier's tracking
    8. await delivery   tracking callbacks, with a periodic query as the safety net
    9. complete

Cancel is accepted until a parcel is scanned out; compensation releases the stock and, when the
order was paid, refunds through the payment gateway (or leaves the refund to the after-sales ticket
that asked for the cancel, and answers that ticket). A permanent failure holds the order with
the reason (ON_HOLD) until an operator releases or cancels it: never a silent stop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.steps import DB_STEP, PARTNER_CALL, wait_until

with workflow.unsafe.imports_passed_through():
    from activities.channel import ChannelActivities
    from activities.inventory import InventoryActivities
    from activities.orders import OrderRecordActivities
    from activities.payment import PaymentActivities
    from activities.shipping import ShippingActivities
    from models.after_sales import OrderSettled, RefundBeforeShipping
    from models.inventory import CommitStockInput, ReleaseStockInput, ReservationResult, ReserveStockInput, StockRequest
    from models.order import SHIPPED_OR_LATER, OrderStatus
    from models.order_workflow import (
        CancelOrder,
        ChannelUpdate,
        ConfirmPayment,
        OrderSnapshot,
        OrderWorkflowInput,
        RecordTransitionInput,
        RefundPaymentInput,
        RegisterOrderInput,
        ResolveHold,
        ScanShipment,
        StockDecisionRequest,
        StockReplenished,
        TimelineEntry,
    )
    from models.search_attributes import CHANNEL, ORDER_STATUS, PRIORITY, WAREHOUSE
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

    @workflow.run
    async def run(self, input: OrderWorkflowInput) -> OrderSnapshot:
        # 1. Receive.
        await workflow.execute_local_activity_method(
            OrderRecordActivities.register_order,
            RegisterOrderInput(order=self.order, workflow_id=workflow.info().workflow_id,
                               received_at=workflow.info().start_time),
            **DB_STEP,
        )
        workflow.upsert_search_attributes([
            ORDER_STATUS.value_set(self.status), CHANNEL.value_set(self.order.channel),
            PRIORITY.value_set(self.order.priority),
        ])

        # 2. Reserve stock, holding while short.
        if not await self._reserve_stock():
            return await self._cancel(self._cancel_reason("out of stock past the hold limit"))

        # 3. Await payment.
        if not await self._await_payment():
            return await self._cancel(self._cancel_reason("payment deadline passed"))

        # 4. Route: one shipment per warehouse holding the reservation.
        await self._plan_shipments()

        # 5. Print the waybill of every parcel.
        if not await self._print_waybills():
            return await self._cancel(self._cancel_reason())

        # 6. Await the warehouse scan of every parcel; scanned units leave stock.
        if not await self._await_scans():
            return await self._cancel(self._cancel_reason())

        # 7. Ship back to the channel and follow the carrier's tracking.
        await self._ship_back()

        # 8. Await delivery.
        await self._await_delivery()
        await self._transition(OrderStatus.DELIVERED, "delivered")

        # 9. Complete.
        await self._transition(OrderStatus.COMPLETED, "completed")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.snapshot()

    # --- steps ------------------------------------------------------------------------------

    async def _reserve_stock(self) -> bool:
        """Reserve; while short, hold until a restock, a release, a cancel or the hold limit."""
        hold_until = workflow.info().start_time + timedelta(seconds=self.policy.hold_limit_s)
        while True:
            self.reservation = await workflow.execute_local_activity_method(
                InventoryActivities.reserve_stock,
                ReserveStockInput(order_id=self.order_id, buyer_province=self.order.buyer.province,
                                  lines=[StockRequest(sku=line.sku, quantity=line.quantity) for line in self.order.lines]),
                **DB_STEP,
            )
            if self.reservation.status == "reserved":
                await self._transition(
                    OrderStatus.FULFILLING if self.paid else OrderStatus.AWAITING_PAYMENT, "stock_reserved",
                    detail={"allocations": [a.model_dump() for a in self.reservation.allocations]},
                )
                self._stock_decided = True
                return True
            reason = self.reservation.reason()
            if self.status != OrderStatus.ON_HOLD or self.hold_reason != reason or self._released:
                await self._transition(OrderStatus.ON_HOLD, "stock_short", hold_reason=reason)
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

    async def _await_payment(self) -> bool:
        if self.cancel_request:
            return False
        if self.paid:
            return True
        await self._wait(lambda: self.paid or self.cancel_request is not None, until=self._payment_deadline())
        if not self.paid or self.cancel_request:
            return False
        await self._transition(OrderStatus.FULFILLING, "payment_confirmed", paid=True)
        return True

    async def _plan_shipments(self) -> None:
        self.shipments = await workflow.execute_local_activity_method(
            OrderRecordActivities.plan_shipments,
            PlanShipmentsInput(order_id=self.order_id, carrier=self.policy.carrier),
            **DB_STEP,
        )
        await self._transition(OrderStatus.FULFILLING, "shipments_planned", warehouse=self._warehouses())

    async def _print_waybills(self) -> bool:
        """False when the order was cancelled meanwhile."""
        for shipment in self.shipments:
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

    async def _cancel(self, reason: str) -> OrderSnapshot:
        """Compensate in reverse: give the stock back, then the money."""
        self._cancelled_at_seq, self.cancel_reason = self._seq, reason
        await workflow.execute_local_activity_method(
            InventoryActivities.release_stock, ReleaseStockInput(order_id=self.order_id, reason=reason), **DB_STEP
        )
        refund_here = self.cancel_request is None or self.cancel_request.refund
        if self.paid and refund_here and self.order.total_amount > 0:
            refund = await self._until_done("refund_payment", lambda: workflow.execute_activity_method(
                PaymentActivities.refund_payment,
                RefundPaymentInput(order_id=self.order_id, trade_no=self.trade_no or self.order_id,
                                   amount=self.order.total_amount, out_request_no=f"{self.order_id}-cancel",
                                   reason=reason),
                **PARTNER_CALL,
            ), cancellable=False)
            self.refund_no = refund.out_request_no if refund else None
        await self._transition(OrderStatus.CANCELLED, "cancelled", cancel_reason=reason,
                               detail={"refund_no": self.refund_no} if self.refund_no else None)
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
            await self._transition(resumed_from, "hold_released", detail={"step": step})

    async def _hold(self, reason: str, *, cancellable: bool = True, resolved: Callable[[], bool] = lambda: False) -> bool:
        """ON_HOLD until released or resolved by itself (True) or, where allowed, cancelled (False)."""
        self._hold_cancellable = cancellable  # before the transition: a resolve may arrive meanwhile
        await self._transition(OrderStatus.ON_HOLD, "held", hold_reason=reason)
        await workflow.wait_condition(
            lambda: self._released or resolved() or (cancellable and self.cancel_request is not None))
        released = self._released or resolved()
        self._released, self._hold_cancellable = False, True
        return released

    async def _wait(self, condition: Callable[[], bool], *, until: datetime, at_most: timedelta | None = None) -> bool:
        return await wait_until(condition, until=until, at_most=at_most)

    async def _transition(self, status: OrderStatus, event: str, *, hold_reason: str | None = None,
                          paid: bool | None = None, warehouse: str | None = None,
                          cancel_reason: str | None = None, detail: dict[str, Any] | None = None) -> None:
        """Record a state change: search attributes, read model and timeline in one step."""
        if status != self.status or warehouse:
            updates = [ORDER_STATUS.value_set(status)]
            if warehouse:
                updates.append(WAREHOUSE.value_set(warehouse))
            workflow.upsert_search_attributes(updates)
        self.status, self.hold_reason = status, hold_reason
        self._seq += 1
        await workflow.execute_local_activity_method(
            OrderRecordActivities.record_transition,
            RecordTransitionInput(
                order_id=self.order_id,
                entry=TimelineEntry(seq=self._seq, at=workflow.now(), status=status, event=event, detail=detail or {}),
                hold_reason=hold_reason, paid=paid, trade_no=self.trade_no if paid else None,
                warehouse=warehouse, cancel_reason=cancel_reason, shipments=self.shipments,
            ),
            **DB_STEP,
        )

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
            refund_no=self.refund_no,
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
        seq = self._seq
        if request.action == "release":
            self._released = True
        else:
            self.cancel_request = CancelOrder(reason=request.note or "cancelled by operator", requested_by=request.resolved_by)
        await workflow.wait_condition(lambda: self._seq > seq)
        return self.snapshot()

    @resolve_hold.validator
    def _validate_resolve(self, request: ResolveHold) -> None:
        if self.status != OrderStatus.ON_HOLD:
            raise ApplicationError(f"order is {self.status}, not on hold", type="NotOnHold")
        if request.action == "cancel" and (self._shipped_any() or not self._hold_cancellable):
            raise ApplicationError("goods have left the warehouse: the order can only be released", type="AlreadyShipped")

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
    def tracking_event(self, event: TrackingEvent) -> None:
        if event.delivered:
            self._delivered.add(event.waybill_no)
