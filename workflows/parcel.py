"""ParcelWorkflow: one per (merge key, warehouse) while the same buyer's orders to the same address
gather into one parcel.

    1. gather   orders join by signal-with-start (`join_parcel`), until everyone expected has joined
                or the merge window closes; an order cancelled meanwhile leaves
    2. close    nobody joins any more: a late order is told to print alone
    3. print    one waybill for every order's lines, keyed by the first order's shipment (a retry
                never prints twice); alone, or when the carrier refuses, each order prints its own
    4. tell     every order its waybill
    5. leave    the first scan of the parcel ships every order in it; then the run ends and the next
                order of the key starts a new parcel

The orders never signal each other: each talks to its parcel only.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.steps import PARTNER_CALL, wait_until

with workflow.unsafe.imports_passed_through():
    from activities.shipping import ShippingActivities
    from models.order import workflow_id_for
    from models.order_workflow import (
        OrderMessage,
        ParcelInput,
        ParcelJoin,
        ParcelLeave,
        ParcelMessage,
        ParcelPrinted,
        ParcelScanned,
        ParcelScannedAt,
        ParcelState,
    )
    from models.shipping import PrintWaybillInput


@workflow.defn
class ParcelWorkflow:
    @workflow.init
    def __init__(self, input: ParcelInput) -> None:
        self.input = input
        self.members: dict[str, ParcelJoin] = {}  # in the order they joined
        self.awaited: set[str] = set()  # the partners some member expected to join
        self.closed = False
        self.waybill_no: str | None = None
        self.carrier: str | None = None
        self.scanned: ParcelScannedAt | None = None

    @workflow.run
    async def run(self, input: ParcelInput) -> ParcelState:
        # 1. Gather, from the first join for at most its window.
        await workflow.wait_condition(lambda: bool(self.members))
        window = timedelta(seconds=next(iter(self.members.values())).window_s)
        # Counted by name: two orders claiming at once each count the other, and are both here.
        await wait_until(lambda: self.awaited <= set(self.members), until=workflow.now() + window)

        # 2. Close.
        self.closed = True
        orders = list(self.members)
        if len(orders) < 2:
            await self._tell_all(ParcelPrinted(parcel_workflow_id=workflow.info().workflow_id,
                                               reason="no other order joined in time"))
            return await self._end()

        # 3. Print one waybill for everyone's goods.
        first = self.members[orders[0]]
        try:
            waybill = await workflow.execute_activity_method(
                ShippingActivities.print_waybill,
                PrintWaybillInput(order_id=orders[0], shipment_id=first.shipment_id, warehouse=input.warehouse,
                                  carrier=first.carrier, lines=[line for m in self.members.values() for line in m.lines]),
                **PARTNER_CALL)
        except ActivityError:  # each order prints alone, and holds there if the carrier still refuses
            await self._tell_all(ParcelPrinted(parcel_workflow_id=workflow.info().workflow_id,
                                               reason="the shared waybill could not be printed"))
            return await self._end()
        self.waybill_no, self.carrier = waybill.waybill_no, waybill.carrier

        # 4. Tell every order its waybill.
        await self._tell_all(ParcelPrinted(parcel_workflow_id=workflow.info().workflow_id, waybill_no=self.waybill_no,
                                           carrier=self.carrier, orders=orders))

        # 5. The first scan ships them all.
        await workflow.wait_condition(lambda: self.scanned is not None or not self.members)
        if self.scanned is not None:
            for order_id in self.members:
                if order_id != self.scanned.order_id:
                    await self._signal(order_id, OrderMessage.PARCEL_SCANNED, ParcelScanned(waybill_no=self.waybill_no))
        return await self._end()

    async def _tell_all(self, answer: ParcelPrinted) -> None:
        for order_id in self.members:
            await self._signal(order_id, OrderMessage.PARCEL_PRINTED, answer)

    async def _signal(self, order_id: str, message: OrderMessage, arg: ParcelPrinted | ParcelScanned) -> None:
        try:
            await workflow.get_external_workflow_handle(workflow_id_for(order_id)).signal(message.value, arg)
        except Exception:  # that order is gone (cancelled meanwhile): nothing waits for the news
            workflow.logger.warning("order did not take the parcel's signal", extra={"signal": message.value})

    async def _end(self) -> ParcelState:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state()

    # --- messages ---------------------------------------------------------------------------

    @workflow.signal(name=ParcelMessage.JOIN.value)
    async def join(self, join: ParcelJoin) -> None:
        if join.order_id in self.members:
            return  # the same order again (a retried join)
        if self.closed:
            await self._signal(join.order_id, OrderMessage.PARCEL_PRINTED, ParcelPrinted(
                parcel_workflow_id=workflow.info().workflow_id, reason="the parcel had already closed"))
            return
        self.members[join.order_id] = join
        self.awaited |= set(join.partners)

    @workflow.signal(name=ParcelMessage.LEAVE.value)
    def leave(self, leave: ParcelLeave) -> None:
        """A cancelled order: before the print its goods stay out of the parcel; after it, the others
        still wait for the scan (and the run ends when nobody is left)."""
        self.members.pop(leave.order_id, None)

    @workflow.signal(name=ParcelMessage.SCANNED.value)
    def parcel_scanned(self, scanned: ParcelScannedAt) -> None:
        if scanned.order_id in self.members and self.scanned is None:
            self.scanned = scanned

    @workflow.query(name=ParcelMessage.STATE.value)
    def state(self) -> ParcelState:
        return ParcelState(merge_key=self.input.merge_key, warehouse=self.input.warehouse, orders=list(self.members),
                           waybill_no=self.waybill_no, closed=self.closed)
