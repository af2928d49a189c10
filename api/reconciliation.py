"""Daily reconciliation reports, for finance: one day's summary and differences (JSON, or CSV for an ERP), and
the list of reconciled days. The reports are written by ReconcileDayWorkflow (models/reconciliation.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlmodel import col, select

from api.auth import caller
from api.errors import problem
from api.schemas import ReconciliationDays
from models.api_errors import ApiError
from models.db import read_scope, session_scope
from models.reconciliation import parse_day
from models.reconciliation_errors import ReconciliationError
from models.tables import ReconciliationDifference, ReconciliationReport

router = APIRouter(prefix="/v1/reconciliation", tags=["reconciliation"], dependencies=[Depends(caller)])
FINANCE = ("finance", "admin")
CSV_COLUMNS = ("kind", "channel", "shop", "order_id", "external_id", "expected_fen", "actual_fen", "detail")


def _bad_date(field: str, text: str) -> Response:
    return problem(ApiError.VALIDATION_FAILED, f"{field}: not a date YYYY-MM-DD",
                   errors=[{"field": field, "reason": f"not a date YYYY-MM-DD: {text[:20]}"}])


async def _report(db_url: str, text: str) -> tuple[ReconciliationReport, list[ReconciliationDifference]] | Response:
    """The day's stored report and its differences, or the problem to answer (a bad date, no report)."""
    try:
        day = parse_day(text).isoformat()
    except ValueError:
        return _bad_date("date", text)
    async with session_scope(db_url) as session:
        report = await session.get(ReconciliationReport, day)
        if report is None:
            return problem(ReconciliationError.REPORT_NOT_FOUND, f"no reconciliation report for {day}")
        rows = (await session.exec(select(ReconciliationDifference).where(col(ReconciliationDifference.day) == day)
                                   .order_by(col(ReconciliationDifference.id)))).all()
    return report, list(rows)


def _difference(d: ReconciliationDifference) -> dict[str, Any]:
    return {name: getattr(d, name) for name in CSV_COLUMNS}


@router.get("", response_model=ReconciliationDays)
async def list_reports(request: Request, from_: str | None = Query(default=None, alias="from"),
                       to: str | None = None) -> Any:
    """Reconciled days between `from` and `to` (inclusive, YYYY-MM-DD; either may be left out), newest first."""
    query = select(ReconciliationReport).order_by(col(ReconciliationReport.day).desc())
    for name, text, op in (("from", from_, "__ge__"), ("to", to, "__le__")):
        if text is not None:
            try:
                day: dt.date = parse_day(text)
            except ValueError:
                return _bad_date(name, text)
            query = query.where(getattr(col(ReconciliationReport.day), op)(day.isoformat()))
    async with read_scope(request.app.state.settings.db_url) as session:
        reports = (await session.exec(query)).all()
    return {"items": [{"date": r.day, "status": r.status, "differences": r.differences, "counts": r.counts,
                       "errors": r.errors, "updated_at": r.updated_at.isoformat()} for r in reports]}


@router.get("/{date}.csv")
async def report_csv(request: Request, date: str) -> Response:
    """The day's differences, one per row, for import into an ERP (UTF-8, a header row, amounts in fen)."""
    found = await _report(request.app.state.settings.db_url, date)
    if isinstance(found, Response):
        return found
    report, rows = found
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for d in rows:
        writer.writerow(["" if v is None else v for v in _difference(d).values()])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="reconciliation-{report.day}.csv"'})


@router.get("/{date}")
async def report(request: Request, date: str) -> Any:
    found = await _report(request.app.state.settings.db_url, date)
    if isinstance(found, Response):
        return found
    stored, rows = found
    return {"date": stored.day, "status": stored.status, "summary": stored.summary,
            "differences": [_difference(d) for d in rows], "counts": stored.counts, "errors": stored.errors,
            "updated_at": stored.updated_at.isoformat()}
