"""The daily reconciliation's refusals (activities/reconciliation.py, api/reconciliation.py)."""

from __future__ import annotations

from models.errors import ErrorCode


class ReconciliationError(ErrorCode):
    BILL_UNREADABLE = "bill_unreadable", 502  # a bill or statement the reader cannot map: no retry mends it
    REPORT_NOT_FOUND = "report_not_found", 404  # no reconciliation report for that day
