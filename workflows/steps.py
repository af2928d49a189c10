"""Activity options and waiting shared by the workflows (deterministic: no I/O, clock or randomness)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

# Database steps: short local transactions, retried quickly; a database outage of minutes is survived.
DB_STEP = dict(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(minutes=10),
    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=10)),
)
# Calls to carriers, channels and the gateway: exponential backoff for an hour, then a person decides.
PARTNER_CALL = dict(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(hours=1),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=2)),
)

# Alerts and notices: worth a few minutes of retries, never worth stopping an order or a ticket for.
NOTICE = dict(
    start_to_close_timeout=timedelta(seconds=10),
    schedule_to_close_timeout=timedelta(minutes=5),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=30)),
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
    except asyncio.TimeoutError:
        return False
    return True
