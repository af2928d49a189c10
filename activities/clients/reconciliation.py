"""The one way to reach the daily reconciliation from outside it: the Schedule `reconcile-daily` (created or
brought up to date when a worker starts) and running one day at once (`orderhub reconcile`).

A day's workflow id is `reconcile-<day>`: a day already running is waited for, not started twice; a day that
ended runs again and its report is replaced.
"""

from __future__ import annotations

from datetime import date

import structlog
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    SchedulePolicy,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.clients.schedules import daily_at, ensure_schedule
from models.config import Settings
from models.reconciliation import (
    RECONCILE_SCHEDULE_ID,
    RECONCILE_WORKFLOW,
    ReconcileDayInput,
    ReconcileDayResult,
    reconcile_id,
)

log = structlog.get_logger(__name__)


def daily_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RECONCILE_WORKFLOW, ReconcileDayInput(time_zone=settings.reconcile_time_zone),
            id=RECONCILE_SCHEDULE_ID, task_queue=settings.task_queue),
        spec=daily_at(settings.reconcile_time, settings.reconcile_time_zone, "reconcile the day before"),
        # A day still running (a slow platform) is not started again beside itself.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP))


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> None:
    """Create the Schedule, or bring an existing one's spec and action up to the settings; safe to repeat."""
    if await ensure_schedule(client, RECONCILE_SCHEDULE_ID, daily_schedule(settings)):
        log.info("reconcile.schedule_created", at=settings.reconcile_time, time_zone=settings.reconcile_time_zone)


async def reconcile_day(client: Client, settings: Settings, day: date, *, notify: bool = True) -> ReconcileDayResult:
    """Run one day now and wait for its report; if that day is already running, wait for that run."""
    day_input = ReconcileDayInput(day=day, time_zone=settings.reconcile_time_zone, notify=notify)
    try:
        return await client.execute_workflow(
            RECONCILE_WORKFLOW, day_input, id=reconcile_id(day), task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE, result_type=ReconcileDayResult)
    except WorkflowAlreadyStartedError:
        return await client.get_workflow_handle(reconcile_id(day), result_type=ReconcileDayResult).result()
