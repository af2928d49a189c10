"""StockSyncWorkflow: one per sku, pushing its available-to-sell quantity to every shop.

    1. await a change   every change of reserved or on-hand stock signals this workflow
    2. debounce         let the burst settle, then read the quantity once (a flash sale is
                        thousands of changes, the shops need the latest number, not each one)
    3. push             the quantity to every active shop, in parallel; at or below the safety
                        stock it is 0, so one platform's sale lowers what all the others show
    4. rest             idle for a while, the run ends; the next change starts a new one

Started with signal-with-start (workflow id `stock-sync-<sku>`), so concurrent changes from many
orders meet in one workflow and no push races another for the same sku.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.steps import DB_STEP, MOVE_TO_CURRENT_BUILD, STOCK_PUSH

with workflow.unsafe.imports_passed_through():
    from activities.channel import ChannelActivities
    from activities.inventory import InventoryActivities
    from models.channel import PushStockInput
    from models.channel_sync import (
        AvailableToSell,
        AvailableToSellInput,
        StockChanged,
        StockSyncInput,
        StockSyncMessage,
        StockSyncState,
    )
    from models.order import as_channel

IDLE = timedelta(minutes=10)


@workflow.defn
class StockSyncWorkflow:
    @workflow.init
    def __init__(self, input: StockSyncInput) -> None:
        self.sku = input.sku
        self.pending = input.pending
        self.pushes = 0
        self.last_quantity: int | None = None
        self.failed: list[str] = []

    @workflow.run
    async def run(self, input: StockSyncInput) -> None:
        while True:
            # 1. Await a change; idle long enough, the run ends.
            if not self.pending:
                try:
                    await workflow.wait_condition(lambda: self.pending, timeout=IDLE)
                except TimeoutError:
                    if not self.pending:
                        return

            # 2. Debounce.
            await workflow.sleep(timedelta(seconds=input.debounce_s))
            self.pending = False
            plan = await workflow.execute_local_activity_method(
                InventoryActivities.plan_stock_push, AvailableToSellInput(sku=self.sku), **DB_STEP)

            # 3. Push to every shop, even an unchanged number: platforms count their own sales down.
            await self._push(plan)

            if self.pushes >= input.pushes_per_run or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(input.model_copy(update={"pending": self.pending}),
                                         initial_versioning_behavior=MOVE_TO_CURRENT_BUILD)

    async def _push(self, plan: AvailableToSell) -> None:
        targets = plan.shops
        results = await asyncio.gather(*(
            workflow.execute_activity_method(
                ChannelActivities.push_stock_to_shop,
                PushStockInput(channel=as_channel(s.channel), shop=s.shop, sku=self.sku, quantity=plan.quantity),
                **STOCK_PUSH,
            ) for s in targets
        ), return_exceptions=True)
        self.failed = []
        for shop, result in zip(targets, results, strict=True):
            if isinstance(result, ActivityError):
                self.failed.append(f"{shop.channel}/{shop.shop}")
            elif isinstance(result, BaseException):
                raise result
        self.pushes += 1
        self.last_quantity = plan.quantity
        if self.failed:
            workflow.logger.warning("stock push failed for some shops", extra={"sku": self.sku, "shops": self.failed})

    @workflow.signal(name=StockSyncMessage.STOCK_CHANGED.value)
    def stock_changed(self, change: StockChanged) -> None:
        self.pending = True

    @workflow.query(name=StockSyncMessage.STATE.value)
    def state(self) -> StockSyncState:
        return StockSyncState(sku=self.sku, pushes=self.pushes, last_quantity=self.last_quantity,
                              failed_shops=self.failed)
