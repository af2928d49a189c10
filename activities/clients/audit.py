"""The one way to reach the audit trail's retention from outside it: the Schedule `audit-retention`, created or
brought up to date when a worker starts, runs PurgeAuditWorkflow every day at `audit_purge_time`."""

from __future__ import annotations

import structlog
from temporalio.client import Client, Schedule, ScheduleActionStartWorkflow, ScheduleOverlapPolicy, SchedulePolicy

from activities.clients.schedules import daily_at, ensure_schedule
from models.audit import AUDIT_RETENTION_SCHEDULE_ID, PURGE_AUDIT_WORKFLOW, PurgeAuditInput
from models.config import Settings

log = structlog.get_logger(__name__)


def retention_schedule(settings: Settings) -> Schedule:
    """Every day at `audit_purge_time` in `audit_purge_time_zone`; the retention travels in the action, so a
    changed `audit_retention_days` takes effect at the next worker start."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            PURGE_AUDIT_WORKFLOW, PurgeAuditInput(retention_days=settings.audit_retention_days),
            id=AUDIT_RETENTION_SCHEDULE_ID, task_queue=settings.task_queue),
        spec=daily_at(settings.audit_purge_time, settings.audit_purge_time_zone, "purge audit entries past the retention"),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP))


async def ensure_audit_schedule(client: Client, settings: Settings) -> None:
    """Create the Schedule, or bring an existing one's spec and action up to the settings; safe to repeat."""
    if await ensure_schedule(client, AUDIT_RETENTION_SCHEDULE_ID, retention_schedule(settings)):
        log.info("audit.schedule_created", at=settings.audit_purge_time, time_zone=settings.audit_purge_time_zone,
                 retention_days=settings.audit_retention_days)
