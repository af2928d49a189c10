"""The one set of activity options every workflow uses, and waiting with a deadline (deterministic:
no I/O, clock or randomness). Every retry is bounded: by a schedule-to-close timeout, and at once for
an error that no retry can mend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypedDict

from temporalio import workflow
from temporalio.common import RetryPolicy


class StepOptions(TypedDict):
    """The keyword options of an activity call (remote or local) that every preset sets, by their
    temporalio names, so `**preset` type-checks against execute_activity and execute_local_activity."""

    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    retry_policy: RetryPolicy


class HeartbeatStepOptions(StepOptions):
    """A remote activity's options with a heartbeat: the activity reports progress within it."""

    heartbeat_timeout: timedelta


# Errors a database statement raises the same way on every attempt (a value out of range, a broken
# constraint, a bad statement): the step fails at once and the workflow holds with the reason.
PERMANENT_DB_ERRORS = ["DataError", "IntegrityError", "ProgrammingError", "OverflowError", "ValueError"]

# Database steps (local activities): short transactions, retried quickly; a database outage of a
# few minutes is survived, a longer one fails the step and the workflow holds.
DB_STEP = StepOptions(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(minutes=10),
    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=10), non_retryable_error_types=PERMANENT_DB_ERRORS),
)
# Calls to carriers, channels and the gateway: exponential backoff for an hour, then a person decides.
PARTNER_CALL = StepOptions(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(hours=1),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=2)),
)
# A whole day's batch (reconciliation: every shop's bill and the day's orders): minutes, not seconds,
# per attempt; bills that are not ready yet are asked for again over a few hours.
DAY_BATCH = StepOptions(
    start_to_close_timeout=timedelta(minutes=20),
    schedule_to_close_timeout=timedelta(hours=6),
    retry_policy=RetryPolicy(initial_interval=timedelta(minutes=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=30)),
)
# Alerts and notices: worth a few minutes of retries, never worth stopping an order or a ticket for.
NOTICE = StepOptions(
    start_to_close_timeout=timedelta(seconds=10),
    schedule_to_close_timeout=timedelta(minutes=5),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=30)),
)
# A shop's stock push: a shop that stays down is not waited for; the next change pushes the
# then-current quantity.
STOCK_PUSH = StepOptions(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(minutes=5),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=30)),
)


# A long-lived entity workflow (a shop's sync, a sku's stock push) moves to the current worker build
# at its next continue-as-new instead of staying pinned to the build it first started on.
MOVE_TO_CURRENT_BUILD = workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE


def channel_pull(non_retryable: list[str]) -> HeartbeatStepOptions:
    """One pull window: rate limits and outages are retried with backoff; a poll gives up after a
    few minutes and the next poll starts again from the same cursor. An expired token or an unknown
    shop is not retried: the shop pauses."""
    return HeartbeatStepOptions(
        start_to_close_timeout=timedelta(minutes=5),
        schedule_to_close_timeout=timedelta(minutes=15),
        heartbeat_timeout=timedelta(minutes=2),
        retry_policy=RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                                 maximum_interval=timedelta(minutes=1), non_retryable_error_types=non_retryable),
    )


async def wait_until(condition: Callable[[], bool], *, until: datetime, at_most: timedelta | None = None) -> bool:
    """Wait for the condition until a deadline (or at most a while); True if it came true."""
    timeout = until - workflow.now()
    if at_most is not None:
        timeout = min(timeout, at_most)
    if timeout <= timedelta(0):
        return condition()
    try:
        await workflow.wait_condition(condition, timeout=timeout)
    except TimeoutError:
        return False
    return True
