"""The daily reconciliation's refusals (activities/reconciliation.py, api/reconciliation.py)."""

from __future__ import annotations

from models.errors import ErrorCode


class ReconciliationError(ErrorCode):
    BILL_UNREADABLE = "bill_unreadable", 502  # a bill or statement the reader cannot map: no retry mends it
    SHOP_NOT_REGISTERED = "shop_not_registered", 404  # a bill asked for a shop the hub has no credentials of
    REPORT_NOT_FOUND = "report_not_found", 404  # no reconciliation report for that day
