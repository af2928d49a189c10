"""PurgeAuditWorkflow: the audit trail keeps `audit_retention_days`, no more.

    1. cutoff   the input's `before`, or `retention_days` before the run's start (the Schedule
                `audit-retention` sends none, so each daily run moves the cutoff on by a day)
    2. purge    one activity deletes every entry written before the cutoff, a batch per transaction,
                heartbeating between batches; deleting by cutoff is idempotent, so retries are safe
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.steps import HeartbeatStepOptions

with workflow.unsafe.imports_passed_through():
    from activities.audit import AuditActivities
    from models.audit import PurgeAuditInput, PurgeAuditRequest, PurgeAuditResult

# A purge of a day's entries takes seconds; the first after a long pause, or a big backlog, minutes. The
# heartbeat tells a stuck attempt from a long one; a database outage is waited out for hours (the next
# day's run would start over anyway).
PURGE = HeartbeatStepOptions(
    start_to_close_timeout=timedelta(minutes=30),
    schedule_to_close_timeout=timedelta(hours=6),
    heartbeat_timeout=timedelta(minutes=2),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=10), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=10)),
)


@workflow.defn
class PurgeAuditWorkflow:
    @workflow.run
    async def run(self, input: PurgeAuditInput) -> PurgeAuditResult:
        # 1. The cutoff: from the workflow's clock, so a replay computes the same one.
        before = input.before or workflow.now() - timedelta(days=input.retention_days)
        # 2. Purge.
        purged = await workflow.execute_activity_method(
            AuditActivities.purge_audit, PurgeAuditRequest(before=before), **PURGE)
        return PurgeAuditResult(before=before, purged=purged)
