"""Error codes: per-domain enums carrying their HTTP status; a refusal's ApplicationError type is
the code; the API answers every code in one shape."""

from __future__ import annotations

import json
import re

import pytest
from temporalio.exceptions import ApplicationError

from api.errors import explain, problem, refusal_code
from models import errors as error_registry
from models.after_sales_errors import TicketError
from models.api_errors import ApiError
from models.channel_errors import ChannelError
from models.errors import ErrorCode, codes, error_code
from models.notify_errors import NotifyError
from models.order_errors import OrderError
from models.partner_errors import PartnerError
from models.payment_errors import PaymentError

# What the API answers today as its `type` (/problems/<code>), and with which status: wire contracts.
WIRE = {
    "validation_failed": 422, "not_found": 404, "bad_signature": 401, "rules_invalid": 422,
    "already_resolved": 409, "not_retryable": 409, "rejected": 409, "database_unavailable": 503,
    "workflow_engine_unavailable": 503, "internal_error": 500, "unauthenticated": 401, "forbidden": 403,
    "too_many_requests": 429, "method_not_allowed": 405, "payload_too_large": 413, "bad_request": 400,
    "service_unavailable": 503,
    "order_not_found": 404, "order_closed": 409, "order_has_after_sales": 409, "order_cancelled": 409,
    "already_shipped": 409, "already_cancelled": 409, "not_on_hold": 409, "not_awaiting_scan": 409,
    "unknown_waybill": 409, "waybill_printed": 409, "waybill_not_found": 404,
    "ticket_not_found": 404, "ticket_closed": 409, "order_not_paid": 409, "not_shipped": 409,
    "refund_exceeds_paid": 422, "return_not_matched": 409, "already_approved": 409,
    "not_awaiting_approval": 409, "not_awaiting_return": 409, "not_awaiting_inspection": 409,
    "invalid_quantity": 422, "role_not_allowed": 403,
    "shop_not_found": 404, "shop_exists": 409, "no_webhooks": 404,
    "sku_not_found": 404, "below_reserved": 409,
}


def test_every_code_the_api_answers_keeps_its_value_and_status():
    for value, status in WIRE.items():
        code = error_code(value)
        assert code is not None, value
        assert (code.value, code.status) == (value, status)


def test_codes_are_snake_case_with_an_http_status():
    for value, code in codes().items():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", value), value
        assert 400 <= code.status < 600 and isinstance(code, ErrorCode)


def test_the_lookup_spans_every_domain():
    assert error_code("already_shipped") is OrderError.ALREADY_SHIPPED
    assert error_code("role_not_allowed") is TicketError.ROLE_NOT_ALLOWED
    assert error_code("shop_auth_expired") is ChannelError.SHOP_AUTH_EXPIRED
    assert error_code("partner_unavailable") is PartnerError.PARTNER_UNAVAILABLE
    assert error_code("refund_pending") is PaymentError.REFUND_PENDING
    assert error_code("notify_refused") is NotifyError.NOTIFY_REFUSED
    assert error_code("validation_failed") is ApiError.VALIDATION_FAILED
    assert error_code("AlreadyShipped") is None and error_code("") is None and error_code(None) is None
    # A code in two domains answers the same either way.
    assert OrderError.UNKNOWN_WAYBILL == TicketError.UNKNOWN_WAYBILL
    assert OrderError.UNKNOWN_WAYBILL.status == TicketError.UNKNOWN_WAYBILL.status


def test_one_code_with_two_statuses_is_refused():
    class Clashing(ErrorCode):
        ALREADY_SHIPPED = "already_shipped", 400

    try:
        with pytest.raises(TypeError, match="already_shipped"):
            codes()
    finally:
        error_registry._registered.remove(Clashing)
    assert codes()["already_shipped"] is OrderError.ALREADY_SHIPPED


def test_failure_is_an_application_error_typed_by_the_code():
    refused = OrderError.ALREADY_SHIPPED.failure("order is SHIPPED")
    assert isinstance(refused, ApplicationError)
    assert (refused.type, refused.message, refused.non_retryable) == ("already_shipped", "order is SHIPPED", True)
    retryable = PartnerError.PARTNER_UNAVAILABLE.failure("gateway answered 503", {"status": 503},
                                                         non_retryable=False)
    assert retryable.type == "partner_unavailable" and not retryable.non_retryable
    assert retryable.details == ({"status": 503},)


def test_a_refusal_becomes_its_code():
    assert refusal_code(ApplicationError("no", type="invalid_quantity")) is TicketError.INVALID_QUANTITY
    assert refusal_code(ApplicationError("no", type="not_awaiting_scan")) is OrderError.NOT_AWAITING_SCAN
    # A type no domain registered (a CamelCase name, say) is no code: the API answers `rejected`.
    assert refusal_code(ApplicationError("no", type="NotAwaitingScan")) is ApiError.REJECTED
    assert refusal_code(ApplicationError("no", type="SomethingElse")) is ApiError.REJECTED
    assert refusal_code(ApplicationError("no")) is ApiError.REJECTED
    assert refusal_code(RuntimeError("boom")) is ApiError.REJECTED


def test_the_answer_has_one_shape():
    """RFC 9457 problem details: type, title, status, detail, then what the error is about."""
    answer = problem(TicketError.ROLE_NOT_ALLOWED, "finance may", ticket_id="t-1", ticket_status="OPENED")
    assert answer.status_code == 403 and answer.media_type == "application/problem+json"
    assert json.loads(answer.body) == {"type": "/problems/role_not_allowed", "title": "Role not allowed",
                                       "status": 403, "detail": "finance may",
                                       "ticket_id": "t-1", "ticket_status": "OPENED"}
    none_matched = problem(TicketError.RETURN_NOT_MATCHED, "matches 0 tickets", status=404, ticket_ids=[])
    assert none_matched.status_code == 404
    assert json.loads(none_matched.body) == {"type": "/problems/return_not_matched", "title": "Return not matched",
                                             "status": 404, "detail": "matches 0 tickets", "ticket_ids": []}
    # An extension member never overrides a standard one.
    assert json.loads(problem(ApiError.NOT_FOUND, "no such thing", {"status": 200, "type": "x"}).body)["status"] == 404


def test_every_code_is_explained():
    """GET /problems/<code> has something to say about each code: its domain and, where written, why."""
    for value in codes():
        explained = explain(value)
        assert explained is not None and explained["type"] == f"/problems/{value}" and explained["description"]
    assert explain("order_not_found") is not None and explain("no_such_code") is None
    assert explain("order_closed")["description"].endswith("its workflow has ended")  # type: ignore[index]
