"""The exception queues (open tags, one item per order) and the rules that fill them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Case, ColumnElement, case, func
from sqlmodel import col, select

from api.audit import note_change
from api.auth import caller
from api.errors import problem
from api.schemas import MAX_PAGE, ExceptionItem, ExceptionPage, Page, SlaBreachOut, as_utc
from models.api_errors import ApiError
from models.db import session_scope
from models.exceptions import Severity
from models.rules import Rules, RulesError, RulesStore
from models.tables import OrderException, OrderRecord, SlaBreach

router = APIRouter(tags=["exceptions"], dependencies=[Depends(caller)])

PAGE_SIZE = 50
_PRIORITY_FIRST = {"urgent": 0, "vip": 1}


@router.get("/v1/exceptions", response_model=ExceptionPage)
async def list_exceptions(
    request: Request,
    tag: str | None = Query(default=None, max_length=40),
    team: str | None = Query(default=None, max_length=40),
    min_age_s: int = Query(default=0, ge=0, le=10**9),  # ~31 years: now - min_age_s stays a date
    page: int = Query(default=1, ge=1, le=MAX_PAGE),
) -> ExceptionPage:
    """Orders with open tags: urgent and VIP first, then the oldest. `tag`/`team` keep the orders with an
    open tag of that name / team; `min_age_s` those waiting at least that long."""
    rules: Rules = request.app.state.rules.current
    now = datetime.now(UTC)
    open_rows = col(OrderException.resolved_at).is_(None)
    matching = select(OrderException.order_id).where(open_rows)
    if tag is not None:
        matching = matching.where(col(OrderException.tag) == tag)
    if team is not None:
        matching = matching.where(col(OrderException.team) == team)
    oldest = func.min(col(OrderException.raised_at))
    queue = (select(OrderException.order_id, oldest.label("raised_at"))
             .where(open_rows, col(OrderException.order_id).in_(matching))
             .group_by(col(OrderException.order_id))
             .having(oldest <= now - timedelta(seconds=min_age_s)))
    async with session_scope(request.app.state.settings.db_url) as session:
        total = await session.scalar(select(func.count()).select_from(queue.subquery()))
        queued = queue.subquery()
        page_rows = (await session.exec(
            select(OrderRecord, queued.c.raised_at).join(queued, queued.c.order_id == col(OrderRecord.order_id))
            .order_by(_priority_order(), queued.c.raised_at, col(OrderRecord.order_id))
            .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))).all()
        ids = [order.order_id for order, _ in page_rows]
        tags = (await session.exec(select(OrderException).where(open_rows, col(OrderException.order_id).in_(ids))
                                   .order_by(col(OrderException.raised_at), col(OrderException.tag)))).all()
    by_order: dict[str, list[OrderException]] = {}
    for row in tags:
        by_order.setdefault(row.order_id, []).append(row)
    items = [_item(order, as_utc(raised_at), by_order.get(order.order_id, []), rules, now, team)
             for order, raised_at in page_rows]
    return ExceptionPage(items=items, total=total or 0, page=page, page_size=PAGE_SIZE)


def _priority_order() -> Case[int]:
    return case(*[(col(OrderRecord.priority) == p, rank) for p, rank in _PRIORITY_FIRST.items()],
                else_=len(_PRIORITY_FIRST))


def _item(order: OrderRecord, raised_at: datetime, rows: list[OrderException], rules: Rules, now: datetime,
          team: str | None) -> ExceptionItem:
    reasons: dict[str, str] = {}
    for row in rows:
        reasons.setdefault(row.tag, row.reason)
    holding = [row for row in rows if row.severity == Severity.HOLD]
    lead = next((row for row in rows if row.team == team), None) if team else None
    lead = lead or (holding or rows)[0]
    procedure = "\n".join(f"{name}: {rules.tags[name].procedure}" if name in rules.tags else f"{name}: (no procedure)"
                          for name in sorted(reasons))
    return ExceptionItem(
        order_id=order.order_id, tags=sorted(reasons), severity=Severity.HOLD if holding else Severity.FLAG,
        team=lead.team, age=max(0, int((now - raised_at).total_seconds())), procedure=procedure,
        status=order.status, hold_reason=order.hold_reason, priority=order.priority,
        health_score=order.health_score, raised_at=raised_at, reasons=reasons,
    )


@router.get("/v1/rules")
async def get_rules(request: Request) -> dict[str, Any]:
    """The rules in force, where they came from, and the last refused change (if any)."""
    return _rules_view(request.app.state.rules)


@router.post("/v1/rules/reload")
async def reload_rules(request: Request) -> Any:
    """Read the rules file now. A file that does not validate is refused with its line and reason;
    the rules in force stay."""
    store: RulesStore = request.app.state.rules
    try:
        before = store.version_hash
        store.reload()
        note_change(request, object_type="rules", object_id=store.source, before={"version": before},
                    after={"version": store.version_hash})
    except RulesError as err:
        return problem(ApiError.RULES_INVALID, str(err), source=err.source, line=err.line, reason=err.reason,
                       in_force=store.version_hash)
    return _rules_view(store)


def _rules_view(store: RulesStore) -> dict[str, Any]:
    rules = store.current
    error = store.last_error
    return {
        "source": store.source, "version": store.version_hash, "loaded_at": store.loaded_at.isoformat(),
        "last_error": {"line": error.line, "reason": error.reason, "message": str(error)} if error else None,
        "rules": rules.model_dump(mode="json"),
    }


@router.get("/v1/sla/breaches", response_model=Page[SlaBreachOut])
async def list_sla_breaches(
    request: Request,
    since: datetime | None = Query(default=None, description="breached at or after (default: 7 days ago)"),
    kind: str | None = Query(default=None, max_length=24),
    team: str | None = Query(default=None, max_length=40),
    page: int = Query(default=1, ge=1, le=MAX_PAGE),
) -> Page[SlaBreachOut]:
    """Every SLA alert and escalation, newest first: the weekly review's list."""
    since = since or datetime.now(UTC) - timedelta(days=7)
    conditions: list[ColumnElement[bool]] = [col(SlaBreach.breached_at) >= since]
    if kind is not None:
        conditions.append(col(SlaBreach.kind) == kind)
    if team is not None:
        conditions.append(col(SlaBreach.team) == team)
    async with session_scope(request.app.state.settings.db_url) as session:
        total = await session.scalar(select(func.count()).select_from(SlaBreach).where(*conditions))
        rows = (await session.exec(select(SlaBreach).where(*conditions)
                                   .order_by(col(SlaBreach.breached_at).desc(), col(SlaBreach.key))
                                   .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))).all()
    items = [SlaBreachOut.model_validate(row, from_attributes=True) for row in rows]
    return Page(items=items, total=total or 0, page=page, page_size=PAGE_SIZE)
