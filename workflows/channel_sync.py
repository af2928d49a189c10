"""ChannelSyncWorkflow: one long-running workflow per shop that pulls its orders.

    1. pull          every modified-time window since the cursor (starting `overlap` before it),
                     each within the platform's window limit; every order handed to its workflow,
                     then the window's after-sales requests (refunds and returns the buyers opened at a
                     marketplace), each new one opened as a ticket
    2. checkpoint    the cursor moves to the end of each window pulled, never past a failure
    3. pause         an expired or revoked token pauses the shop (visible at GET /v1/shops) until
                     PUT /v1/shops gives it new credentials; nothing is retried meanwhile
    4. wait          until the next poll (the shop's interval) or a "sync now"
    5. continue      as new, carrying the cursor, before the history grows large

Pulls are idempotent (signal-with-start by order id), so overlapping windows and a restart that
repeats a window never double an order, and a webhook that never arrived is caught here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.steps import DB_STEP, MOVE_TO_CURRENT_BUILD, channel_pull

with workflow.unsafe.imports_passed_through():
    from activities.channel_sync import ChannelSyncActivities
    from activities.channels import adapter_for
    from activities.channels.windows import sync_windows
    from models.channel_errors import PAUSES_SYNC
    from models.channel_sync import (
        ChannelSyncInput,
        ChannelSyncMessage,
        ChannelSyncState,
        CredentialsRenewed,
        PullAfterSalesInput,
        PullAfterSalesResult,
        PullOrdersInput,
        PullOrdersResult,
        SetShopStatus,
        SyncCheckpoint,
        SyncNow,
        SyncSettingsChanged,
    )

PULL = channel_pull(non_retryable=list(PAUSES_SYNC))


@workflow.defn
class ChannelSyncWorkflow:
    @workflow.init
    def __init__(self, input: ChannelSyncInput) -> None:
        self.input = input
        self.cursor = input.cursor or (workflow.info().start_time - timedelta(seconds=input.initial_lookback_s))
        self.interval = timedelta(seconds=input.sync_interval_s)
        self.paused_reason = input.paused_reason
        self.polls = 0
        self.last_result: PullOrdersResult | None = None
        self.last_after_sales: PullAfterSalesResult | None = None
        # Marketplaces list the buyers' after-sales requests; the own store's buyers ask the hub directly.
        self.lists_after_sales = adapter_for(input.channel).wire.lists_after_sales
        self.last_error: str | None = None
        self._poll_requested = False
        self._renewed = False

    @workflow.run
    async def run(self, input: ChannelSyncInput) -> None:
        while True:
            # 3. Paused: wait for new credentials, then say so and pull at once.
            if self.paused_reason is not None:
                await workflow.wait_condition(lambda: self._renewed)
                self.paused_reason = None
                await self._set_status("ACTIVE")

            # 1-2. Pull every window since the cursor, checkpointing each.
            self._renewed = self._poll_requested = False
            await self._pull_since_cursor()
            self.polls += 1

            # 5. Continue as new before the history grows large.
            if self.polls >= input.polls_per_run or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(input.model_copy(update={
                    "cursor": self.cursor, "paused_reason": self.paused_reason,
                    "sync_interval_s": int(self.interval.total_seconds())}), initial_versioning_behavior=MOVE_TO_CURRENT_BUILD)

            # 4. Wait for the next poll (a pause waits for credentials at the top of the loop).
            if self.paused_reason is None:
                try:
                    await workflow.wait_condition(lambda: self._poll_requested or self._renewed, timeout=self.interval)
                except TimeoutError:
                    pass

    async def _pull_since_cursor(self) -> None:
        windows = sync_windows(self.cursor, workflow.now(), max_window=adapter_for(self.input.channel).max_window,
                               overlap=timedelta(seconds=self.input.overlap_s))
        # A long outage is caught up a bounded number of windows per poll, so one poll's history stays small.
        for start, end in windows[: self.input.windows_per_poll]:
            try:
                self.last_result = result = await workflow.execute_activity_method(
                    ChannelSyncActivities.pull_orders,
                    PullOrdersInput(channel=self.input.channel, shop=self.input.shop, start=start, end=end),
                    **PULL,
                )
                if self.lists_after_sales:  # after the orders: a request's order is then known to the hub
                    self.last_after_sales = await workflow.execute_activity_method(
                        ChannelSyncActivities.pull_after_sales,
                        PullAfterSalesInput(channel=self.input.channel, shop=self.input.shop, start=start, end=end),
                        **PULL,
                    )
            except ActivityError as err:
                await self._pull_failed(err)
                return
            self.cursor, self.last_error = max(self.cursor, end), None
            await self._checkpoint(pulled=result.handed_off)
        if len(windows) > self.input.windows_per_poll:
            self._poll_requested = True  # more to catch up: go again without waiting

    async def _pull_failed(self, err: ActivityError) -> None:
        """The cursor stays where it is: the next poll repeats the window, so nothing is skipped."""
        cause = err.cause
        self.last_error = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        if isinstance(cause, ApplicationError) and cause.type in PAUSES_SYNC:
            workflow.logger.warning("shop sync paused", extra={"channel": self.input.channel, "shop": self.input.shop})
            self.paused_reason = self.last_error
            await self._set_status("PAUSED", self.last_error)
        else:
            workflow.logger.warning("pull failed, next poll retries", extra={"channel": self.input.channel})
            await self._checkpoint(pulled=0)

    async def _checkpoint(self, *, pulled: int) -> None:
        await workflow.execute_local_activity_method(
            ChannelSyncActivities.record_checkpoint,
            SyncCheckpoint(channel=self.input.channel, shop=self.input.shop, cursor=self.cursor, pulled=pulled,
                           error=self.last_error),
            **DB_STEP,
        )

    async def _set_status(self, status: Literal["ACTIVE", "PAUSED"], reason: str | None = None) -> None:
        await workflow.execute_local_activity_method(
            ChannelSyncActivities.set_shop_status,
            SetShopStatus(channel=self.input.channel, shop=self.input.shop, status=status, reason=reason),
            **DB_STEP,
        )

    # --- messages ---------------------------------------------------------------------------

    @workflow.signal(name=ChannelSyncMessage.SYNC_NOW.value)
    def sync_now(self, request: SyncNow) -> None:
        self._poll_requested = True

    @workflow.signal(name=ChannelSyncMessage.CREDENTIALS_RENEWED.value)
    def credentials_renewed(self, request: CredentialsRenewed) -> None:
        self._renewed = True

    @workflow.signal(name=ChannelSyncMessage.SETTINGS_CHANGED.value)
    def settings_changed(self, request: SyncSettingsChanged) -> None:
        self.interval = timedelta(seconds=request.sync_interval_s)
        self._poll_requested = True

    @workflow.query(name=ChannelSyncMessage.STATE.value)
    def state(self) -> ChannelSyncState:
        return ChannelSyncState(channel=self.input.channel, shop=self.input.shop, cursor=self.cursor,
                                paused_reason=self.paused_reason, polls=self.polls, last_result=self.last_result,
                                last_error=self.last_error, last_after_sales=self.last_after_sales)
