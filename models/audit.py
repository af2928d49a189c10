"""The audit trail: one append-only entry per state-changing request and per admin or CLI action,
with who, when, from where, what changed (before and after) and how it ended."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python
from sqlalchemy import JSON, ColumnElement, DateTime, Index, delete, func, or_
from sqlmodel import Field as TableField
from sqlmodel import SQLModel, col, select

from models.db import session_scope
from models.principals import Principal
from models.tables import utcnow

Outcome = Literal["ok", "accepted", "refused", "failed"]  # 2xx; 202 (answered later); 4xx; 5xx


class AuditDraft(BaseModel):
    """An entry before it is written: routes and CLI commands fill what changed."""

    actor_id: str
    actor_name: str
    role: str
    action: str = Field(description="the operation, e.g. resolve_hold, put_stock, token.issue")
    object_type: str | None = Field(default=None, description="order, ticket, stock, principal, shop, ...")
    object_id: str | None = None
    before: dict[str, Any] | None = Field(default=None, description="the changed fields as they were")
    after: dict[str, Any] | None = Field(default=None, description="the changed fields as they became")
    ip: str | None = None
    request_id: str | None = None
    outcome: Outcome = "ok"

    @classmethod
    def by(cls, principal: Principal, action: str, **fields: Any) -> AuditDraft:
        return cls(actor_id=principal.id, actor_name=principal.name, role=principal.role, action=action, **fields)


# Longest stored values: an order id is at most 100 characters, a platform actor `platform:<channel>/<shop>`.
ACTOR_ID_MAX, NAME_MAX, OBJECT_ID_MAX = 128, 200, 200
AUDIT_RETENTION_SCHEDULE_ID = "audit-retention"
PURGE_AUDIT_WORKFLOW = "PurgeAuditWorkflow"
PURGE_BATCH = 1000  # rows per purge transaction: a purge of months never holds one long lock

log = structlog.get_logger(__name__)


class AuditEntry(SQLModel, table=True):
    """A written entry. Append-only: the database refuses UPDATE (a trigger, migration 0014); rows
    leave only by `purge_audit`, past the retention."""

    __tablename__ = "audit_entries"
    # autoincrement on SQLite too: an id is never handed out twice, even after the newest rows are purged.
    __table_args__ = (Index("ix_audit_entries_object", "object_type", "object_id"), {"sqlite_autoincrement": True})

    id: int | None = TableField(default=None, primary_key=True)
    at: datetime = TableField(sa_type=DateTime(timezone=True), index=True)
    actor_id: str = TableField(index=True, max_length=ACTOR_ID_MAX)
    actor_name: str = TableField(max_length=NAME_MAX)
    role: str = TableField(max_length=32)
    action: str = TableField(max_length=64)
    object_type: str | None = TableField(default=None, max_length=32)
    object_id: str | None = TableField(default=None, max_length=OBJECT_ID_MAX)
    before: dict[str, Any] | None = TableField(default=None, sa_type=JSON)
    after: dict[str, Any] | None = TableField(default=None, sa_type=JSON)
    ip: str | None = TableField(default=None, max_length=64)
    request_id: str | None = TableField(default=None, max_length=64)
    outcome: str = TableField(max_length=16)


def audit_row(draft: AuditDraft, at: datetime) -> AuditEntry:
    """The row of a draft, to add inside the caller's own transaction (the change and its entry commit
    together). before/after become plain JSON (datetimes, enums and models as their JSON form)."""
    return AuditEntry(
        at=at.astimezone(UTC), actor_id=_clip(draft.actor_id, ACTOR_ID_MAX), actor_name=_clip(draft.actor_name, NAME_MAX),
        role=_clip(draft.role, 32), action=_clip(draft.action, 64), object_type=_clip(draft.object_type, 32),
        object_id=_clip(draft.object_id, OBJECT_ID_MAX),
        before=to_jsonable_python(draft.before), after=to_jsonable_python(draft.after),
        ip=_clip(draft.ip, 64), request_id=_clip(draft.request_id, 64), outcome=draft.outcome)


def _clip(value: str | None, limit: int) -> Any:
    # An over-long name is cut rather than lose the whole entry to the column's length.
    return value if value is None else value[:limit]


async def record_audits(db_url: str, drafts: Sequence[AuditDraft]) -> list[int]:
    """Write the drafts in one short transaction of their own; their ids."""
    at = utcnow()
    rows = [audit_row(draft, at) for draft in drafts]
    async with session_scope(db_url) as session:
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows if row.id is not None]


async def record_audit(db_url: str, draft: AuditDraft) -> int:
    """Write one entry in a short transaction of its own; its id."""
    [entry_id] = await record_audits(db_url, [draft])
    return entry_id


def cli_user() -> str:
    """The OS user running a CLI command (a container may have no name for its uid)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid:{os.getuid()}"


async def cli_audit(db_url: str, action: str, **fields: Any) -> int | None:
    """The entry of a CLI command: actor `cli`, the OS user, role admin. The command already ran, so a
    failed write is logged and answered None, never raised over the command's own result."""
    draft = AuditDraft(actor_id="cli", actor_name=cli_user(), role="admin", action=action, **fields)
    try:
        return await record_audit(db_url, draft)
    except Exception:
        log.exception("audit.write_failed", action=action, actor_id="cli", object_type=draft.object_type,
                      object_id=draft.object_id)
        return None


async def purge_audit(db_url: str, before: datetime, *, batch: int = PURGE_BATCH,
                      on_batch: Callable[[int], None] | None = None) -> int:
    """Delete the entries written before `before`, `batch` rows per transaction; how many went.
    `on_batch(purged so far)` after each batch (the activity heartbeats with it)."""
    cutoff = before.astimezone(UTC)  # SQLite compares the stored UTC text: the bound value must be UTC too
    purged = 0
    while True:
        oldest = select(AuditEntry.id).where(col(AuditEntry.at) < cutoff).order_by(col(AuditEntry.id)).limit(batch)
        async with session_scope(db_url) as session:
            result = await session.execute(delete(AuditEntry).where(col(AuditEntry.id).in_(oldest.scalar_subquery())))
        deleted = result.rowcount  # type: ignore[attr-defined]  # a DELETE's CursorResult
        purged += deleted
        if on_batch is not None:
            on_batch(purged)
        if deleted < batch:
            return purged


class AuditQuery(BaseModel):
    """What GET /v1/audit filters by; every filter optional. `actor` matches the actor's id or name."""

    object_type: str | None = None
    object_id: str | None = None
    actor: str | None = None
    since: datetime | None = Field(default=None, description="entries at or after")
    until: datetime | None = Field(default=None, description="entries before")
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=50, ge=1, le=500)


async def query_audit(db_url: str, query: AuditQuery) -> tuple[list[AuditEntry], int]:
    """One page of the matching entries, newest first, and how many match in all (one snapshot)."""
    conditions: list[ColumnElement[bool]] = []
    if query.object_type is not None:
        conditions.append(col(AuditEntry.object_type) == query.object_type)
    if query.object_id is not None:
        conditions.append(col(AuditEntry.object_id) == query.object_id)
    if query.actor is not None:
        conditions.append(or_(col(AuditEntry.actor_id) == query.actor, col(AuditEntry.actor_name) == query.actor))
    if query.since is not None:
        conditions.append(col(AuditEntry.at) >= as_utc(query.since))
    if query.until is not None:
        conditions.append(col(AuditEntry.at) < as_utc(query.until))
    page = (select(AuditEntry).where(*conditions)
            .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
            .offset((query.page - 1) * query.page_size).limit(query.page_size))
    async with session_scope(db_url) as session:
        total = await session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions))
        rows = list((await session.exec(page)).all())
    for row in rows:
        row.at = as_utc(row.at)
    return rows, total or 0


def as_utc(value: datetime) -> datetime:
    # SQLite hands timestamps back without their zone (they were written in UTC); a naive filter is read as UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class PurgeAuditInput(BaseModel):
    """PurgeAuditWorkflow's input. `before` None: `retention_days` before the run's start (what the
    Schedule `audit-retention` sends)."""

    before: datetime | None = None
    retention_days: int = Field(default=180, ge=1)


class PurgeAuditRequest(BaseModel):
    """The `purge_audit` activity's input: delete the entries written before this."""

    before: datetime


class PurgeAuditResult(BaseModel):
    before: datetime
    purged: int
