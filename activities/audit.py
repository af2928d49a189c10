"""The audit trail's retention step (PurgeAuditWorkflow): `purge_audit` deletes the entries written before a
cutoff, a batch per transaction, heartbeating between batches so a purge of months is seen to progress."""

from __future__ import annotations

import structlog
from temporalio import activity

from models.audit import PurgeAuditRequest, purge_audit

log = structlog.get_logger(__name__)


class AuditActivities:
    def __init__(self, db_url: str) -> None:
        self.db_url = db_url

    @activity.defn(name="purge_audit")
    async def purge_audit(self, request: PurgeAuditRequest) -> int:
        # Deleting by cutoff is idempotent: a retried attempt deletes what the last one did not reach.
        purged = await purge_audit(self.db_url, request.before, on_batch=activity.heartbeat)
        log.info("audit.purged", before=request.before.isoformat(), purged=purged)
        return purged
