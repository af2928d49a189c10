"""Holding an order for a person: a step that failed for good, a review, a payment that did not
match, a delivery nobody confirmed. ON_HOLD until released, resolved by itself or (where allowed)
cancelled; a corrected address is applied meanwhile."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.order_state import OrderCancelled, OrderState
from workflows.order_timeline import Timeline
from workflows.steps import DB_STEP

with workflow.unsafe.imports_passed_through():
    from models.order import OrderStatus
    from models.order_errors import OrderError
    from models.order_workflow import OrderEventName, ResolveHold

T = TypeVar("T")

# What a failed step raises: an activity's failure arrives as ActivityError, a local activity's
# non-retryable one as the ApplicationError itself.
STEP_FAILED = (ActivityError, ApplicationError)


def failure_reason(err: BaseException) -> str:
    cause = err.cause if isinstance(err, ActivityError) else err
    return cause.message if isinstance(cause, ApplicationError) else str(cause or err)


class Holds:
    def __init__(self, state: OrderState, timeline: Timeline) -> None:
        self.state, self.timeline = state, timeline
        self.open = False  # in `hold`: a hold a person resolves
        self.cancellable = True
        self.released = False
        self.release: ResolveHold | None = None  # who released the current hold
        self.address_update: ResolveHold | None = None
        self.held_since: datetime | None = None  # when the current hold began (the review SLA clock)
        self.held_seq = 0
        # Set by the review helper: applies a corrected address; resolves the tags a release clears.
        self.apply_address: Callable[[ResolveHold], Awaitable[None]] | None = None
        self.on_release: Callable[[ResolveHold], Awaitable[None]] | None = None
        self.after_retry: Callable[[], Awaitable[None]] | None = None  # a retried step costs health

    def on_status(self, before: OrderStatus, after: OrderStatus) -> None:
        if after == OrderStatus.ON_HOLD and before != OrderStatus.ON_HOLD:
            self.held_since, self.held_seq = workflow.now(), self.state.seq
        elif after != OrderStatus.ON_HOLD:
            self.held_since = None

    async def hold(self, reason: str, *, cancellable: bool = True, resolved: Callable[[], bool] = lambda: False) -> None:
        """ON_HOLD until released or resolved by itself; raises OrderCancelled when cancelled (where allowed)."""
        self.cancellable, self.open, self.release = cancellable, True, None
        await self._record(OrderStatus.ON_HOLD, OrderEventName.HELD, hold_reason=reason)
        s = self.state
        while True:
            await workflow.wait_condition(lambda: self.released or resolved() or self.address_update is not None
                                          or (cancellable and s.cancel_request is not None))
            if self.address_update is None or self.released or resolved():
                break
            update, self.address_update = self.address_update, None
            assert self.apply_address is not None
            await self.apply_address(update)
        released = self.released or resolved()
        if self.released and self.release and self.on_release:
            await self.on_release(self.release)
        self.released, self.cancellable, self.open = False, True, False
        if not released:
            raise OrderCancelled()

    async def _record(self, status: OrderStatus, event: OrderEventName, **fields: Any) -> None:
        """A hold is recorded like any change; where the database refuses this order too (its receipt
        failed for good), the hold stands in the workflow and its search attributes all the same."""
        try:
            await self.timeline.record(status, event, **fields)
        except STEP_FAILED:
            workflow.logger.warning("hold change not recorded", extra={"order_id": self.state.order_id})
            self.timeline.apply(status, hold_reason=fields.get("hold_reason"))

    def released_by(self) -> dict[str, str]:
        return {"by": self.release.resolved_by, "note": self.release.note} if self.release else {}

    async def until_done(self, step: str, action: Callable[[], Awaitable[T]], *, cancellable: bool = True) -> T:
        """Run a step; a failure that retries did not mend holds the order with the reason until a
        person releases it (the step runs again) or cancels it (OrderCancelled)."""
        retried = False
        while True:
            try:
                result = await action()
            except STEP_FAILED as err:
                detail = failure_reason(err)
                workflow.logger.warning("step failed, holding order", extra={"step": step, "order_id": self.state.order_id})
            else:
                if retried and self.after_retry is not None:
                    await self.after_retry()  # a step that needed a person costs health
                return result
            resumed_from = self.state.status
            await self.hold(f"{step} failed: {detail}"[:500], cancellable=cancellable)
            await self._record(resumed_from, OrderEventName.HOLD_RELEASED, detail={"step": step, **self.released_by()})
            retried = True

    async def db_step(self, activity: Callable[..., Awaitable[T]], arg: Any, *, cancellable: bool | None = None) -> T:
        """A database step of the order: retried as DB_STEP says, then held with the reason (a cancel
        ends such a hold only before the goods left, and never during compensation)."""
        if cancellable is None:
            cancellable = not self.state.goods_left() and self.state.cancelled_at_seq is None
        return await self.until_done(activity.__name__, lambda: workflow.execute_local_activity_method(
            activity, arg, **DB_STEP), cancellable=cancellable)

    # --- what people send ------------------------------------------------------------------

    def request(self, request: ResolveHold) -> None:
        """A person's answer to the current hold (validated by `validate`)."""
        if request.action == "release":
            self.release, self.released = request, True
        elif request.action == "update_address":
            self.address_update = request

    def validate(self, request: ResolveHold) -> None:
        s = self.state
        if s.status != OrderStatus.ON_HOLD:
            if request.action == "release" and s.exception_tags and s.status != OrderStatus.CANCELLED:
                return  # acknowledging flagged tags
            raise OrderError.NOT_ON_HOLD.failure(f"order is {s.status}, not on hold")
        if request.action == "cancel" and (s.shipped_any() or not self.cancellable):
            raise OrderError.ALREADY_SHIPPED.failure("goods have left the warehouse: the order can only be released")
        if request.action == "update_address":
            if request.address is None:
                raise OrderError.ADDRESS_MISSING.failure("update_address needs the corrected address")
            if not self.open or any(sh.waybill_no for sh in s.shipments):
                raise OrderError.WAYBILL_PRINTED.failure("the waybill is printed: the address can no longer change here")
