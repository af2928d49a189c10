"""The one way to reach the audit trail's retention from outside it: the Schedule `audit-retention`, created or
brought up to date when a worker starts, runs PurgeAuditWorkflow every day at `audit_purge_time`."""

from __future__ import annotations

import structlog
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError

from models.audit import AUDIT_RETENTION_SCHEDULE_ID, PURGE_AUDIT_WORKFLOW, PurgeAuditInput
from models.config import Settings

log = structlog.get_logger(__name__)


def retention_schedule(settings: Settings) -> Schedule:
    """Every day at `audit_purge_time` in `audit_purge_time_zone`; the retention travels in the action, so a
    changed `audit_retention_days` takes effect at the next worker start."""
    hour, minute = (int(part) for part in settings.audit_purge_time.split(":"))
    return Schedule(
        action=ScheduleActionStartWorkflow(
            PURGE_AUDIT_WORKFLOW, PurgeAuditInput(retention_days=settings.audit_retention_days),
            id=AUDIT_RETENTION_SCHEDULE_ID, task_queue=settings.task_queue),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=[ScheduleRange(minute)],
                                            comment="purge audit entries past the retention")],
            time_zone_name=settings.audit_purge_time_zone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP))


async def ensure_audit_schedule(client: Client, settings: Settings) -> None:
    """Create the Schedule, or bring an existing one's spec and action up to the settings; safe to repeat."""
    schedule = retention_schedule(settings)
    try:
        await client.create_schedule(AUDIT_RETENTION_SCHEDULE_ID, schedule)
        log.info("audit.schedule_created", at=settings.audit_purge_time, time_zone=settings.audit_purge_time_zone,
                 retention_days=settings.audit_retention_days)
    except ScheduleAlreadyRunningError:
        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            # Keep a pause an operator set; replace what the settings decide.
            return ScheduleUpdate(schedule=Schedule(action=schedule.action, spec=schedule.spec, policy=schedule.policy,
                                                    state=current.description.schedule.state))

        try:
            await client.get_schedule_handle(AUDIT_RETENTION_SCHEDULE_ID).update(update)
        except RPCError as err:  # several worker processes starting at once: one of them updated it first
            log.warning("audit.schedule_update_failed", status=err.status.name, message=err.message)
