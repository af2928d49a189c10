"""Why an after-sales ticket is not opened, or refuses a person's action."""

from __future__ import annotations

from models.errors import ErrorCode


class TicketError(ErrorCode):
    TICKET_NOT_FOUND = "ticket_not_found", 404
    TICKET_CLOSED = "ticket_closed", 409
    ORDER_NOT_PAID = "order_not_paid", 409  # nothing to refund
    NOT_SHIPPED = "not_shipped", 409  # nothing to return
    REFUND_EXCEEDS_PAID = "refund_exceeds_paid", 422
    RETURN_NOT_MATCHED = "return_not_matched", 409  # 404 when no ticket awaits the parcel at all
    ALREADY_APPROVED = "already_approved", 409
    NOT_AWAITING_APPROVAL = "not_awaiting_approval", 409
    NOT_AWAITING_RETURN = "not_awaiting_return", 409
    NOT_AWAITING_INSPECTION = "not_awaiting_inspection", 409
    NOT_ON_HOLD = "not_on_hold", 409
    UNKNOWN_WAYBILL = "unknown_waybill", 409  # not this ticket's return parcel
    INVALID_QUANTITY = "invalid_quantity", 422  # about the input, not the ticket's state
    ROLE_NOT_ALLOWED = "role_not_allowed", 403  # about the caller
