"""Why an order refuses a request: its state, or what the request names."""

from __future__ import annotations

from models.errors import ErrorCode


class OrderError(ErrorCode):
    ORDER_NOT_FOUND = "order_not_found", 404
    ORDER_CLOSED = "order_closed", 409  # its workflow has ended
    ORDER_HAS_AFTER_SALES = "order_has_after_sales", 409  # settled through its tickets, not a cancel
    ORDER_CANCELLED = "order_cancelled", 409
    ALREADY_SHIPPED = "already_shipped", 409
    ALREADY_CANCELLED = "already_cancelled", 409
    NOT_ON_HOLD = "not_on_hold", 409
    NOT_AWAITING_SCAN = "not_awaiting_scan", 409
    UNKNOWN_WAYBILL = "unknown_waybill", 409  # not an unscanned parcel of this order
    ADDRESS_MISSING = "address_missing", 422
    WAYBILL_PRINTED = "waybill_printed", 409  # the address can no longer change
    WAYBILL_NOT_FOUND = "waybill_not_found", 404  # a tracking event for no shipment of ours
    # A presale order's two payments (定金 + 尾款)
    NOT_PRESALE = "not_presale", 422  # a deposit or balance named for an order paid in one part
    DEPOSIT_UNPAID = "deposit_unpaid", 409  # the balance before the deposit
    PART_ALREADY_PAID = "part_already_paid", 409
    PART_AMOUNT_MISMATCH = "part_amount_mismatch", 422  # not the plan's amount for that part
