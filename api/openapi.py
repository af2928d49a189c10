"""The OpenAPI document, made truthful: operation ids are the route functions' names, and every
operation declares the error answers it can give (application/problem+json, schema `Problem`, an
example per code) instead of FastAPI's HTTPValidationError 422, which the API never sends.

What an operation can answer is read from the route itself: a token check (`route_roles`) gives
401, 403 and 429; a path parameter 404; a body or any parameter 422; a body 413; 500 and 503 come
from anywhere. What a route refuses by its own checks or its workflow's state is named in
`ROUTE_CODES` by operation id, and any 4xx/5xx a route declares in its own `responses` is kept
(its description too), answered in the same shape. tests/test_openapi.py calls every operation
and checks each answer's status is declared here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from api.auth import route_roles
from api.deps import temporal_client
from api.errors import PROBLEM_JSON, Problem, note, problem_body, title
from models.after_sales_errors import TicketError
from models.api_errors import ApiError
from models.channel_errors import ChannelError
from models.errors import ErrorCode
from models.order_errors import OrderError
from models.reconciliation_errors import ReconciliationError
from models.stock_errors import StockError

# A code, or a code with the other status it answers with (return_not_matched: 404 when no ticket
# awaits the parcel, 409 when several do).
Code = ErrorCode | tuple[ErrorCode, int]

# An order's or a ticket's workflow refuses an update with any code of its domain (api/updates.py),
# or `rejected` for one without a registered code.
ORDER_UPDATE: tuple[Code, ...] = (*OrderError, ApiError.REJECTED)
TICKET_UPDATE: tuple[Code, ...] = (*TicketError, ApiError.REJECTED)

# What each route answers by its own checks, beyond what its kind gives (see the module doc).
ROUTE_CODES: dict[str, tuple[Code, ...]] = {
    "get_order": (OrderError.ORDER_NOT_FOUND,),
    "confirm_payment": ORDER_UPDATE,
    "cancel_order": ORDER_UPDATE,
    "scan_shipment": ORDER_UPDATE,
    "resolve_hold": ORDER_UPDATE,
    "create_ticket": (*TICKET_UPDATE, OrderError.ORDER_NOT_FOUND),
    "get_ticket": (TicketError.TICKET_NOT_FOUND,),
    "return_received_by_waybill": (TicketError.RETURN_NOT_MATCHED, (TicketError.RETURN_NOT_MATCHED, 404)),
    "approve": TICKET_UPDATE,
    "reject": TICKET_UPDATE,
    "return_shipped": TICKET_UPDATE,
    "return_received": TICKET_UPDATE,
    "inspection": TICKET_UPDATE,
    "resolve_refund": TICKET_UPDATE,
    "retry_quarantined": (ApiError.NOT_FOUND, ApiError.ALREADY_RESOLVED, ApiError.NOT_RETRYABLE),
    "create_shop": (ChannelError.SHOP_EXISTS,),
    "update_shop": (ChannelError.SHOP_NOT_FOUND,),
    "sync_shop": (ChannelError.SHOP_NOT_FOUND,),
    "get_stock": (StockError.SKU_NOT_FOUND,),
    "put_stock": (StockError.BELOW_RESERVED,),
    "report": (ReconciliationError.REPORT_NOT_FOUND,),
    "report_csv": (ReconciliationError.REPORT_NOT_FOUND,),
    "reload_rules": (ApiError.RULES_INVALID,),
    "receive_webhook": (ApiError.BAD_SIGNATURE, ChannelError.NO_WEBHOOKS),
    "tracking_callback": (ApiError.BAD_SIGNATURE, OrderError.WAYBILL_NOT_FOUND),
}

DESCRIPTIONS = {
    400: "the body cannot be read at all",
    401: "no bearer token, or one the hub does not know, revoked or expired (`WWW-Authenticate: Bearer`); "
         "for a webhook or callback: not signed by its sender",
    403: "the token's role or scope may not do this",
    404: "nothing with that id (or the caller's scope does not cover it)",
    405: "the path does not take that method",
    409: "the state of what the request names refuses it",
    413: "the request body is over the limit (ORDERHUB_API_MAX_BODY_BYTES)",
    422: "a body, query or path value is invalid: `errors` names each field and reason",
    429: "too many failed authentications from this client: wait `Retry-After` seconds",
    500: "an unexpected error; logged with its stack",
    502: "a partner's answer could not be read",
    503: "the database or the order engine did not answer: nothing was done, the same request again is safe",
}

# Example details for the codes whose comment does not read as one.
EXAMPLE_DETAILS: dict[ErrorCode, str] = {
    ApiError.UNAUTHENTICATED: "missing bearer token",
    ApiError.FORBIDDEN: "role warehouse may not do this",
    ApiError.TOO_MANY_REQUESTS: "too many failed authentications; retry in 30 s",
    ApiError.PAYLOAD_TOO_LARGE: "the request body is over 1048576 bytes",
    ApiError.NOT_FOUND: "no such resource",
    ApiError.VALIDATION_FAILED: "the request is invalid",
    ApiError.INTERNAL_ERROR: "an unexpected error occurred; it has been logged",
    ApiError.DATABASE_UNAVAILABLE: "the database did not answer; retry shortly",
    ApiError.WORKFLOW_ENGINE_UNAVAILABLE: "the order engine did not answer; retry shortly",
}


def install_openapi(app: FastAPI) -> None:
    """Replace `app.openapi` with one that names operations by function and declares their errors.
    Built on first request of /openapi.json, so routers included after this call are covered."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            declare_errors(app, generate())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise it


def api_routes(app: FastAPI) -> Iterator[RouteContext]:
    """Every operation in the document, as mounted (the router's prefix and dependencies applied)."""
    return (r for r in iter_route_contexts(app.routes)
            if isinstance(r.original_route, APIRoute) and r.include_in_schema)


def error_codes(route: RouteContext) -> dict[int, list[ErrorCode]]:
    """Each error status the route can answer with, and the codes it answers it with."""
    dependants = list(_dependants(route.dependant))
    has_path = any(d.path_params for d in dependants)
    has_body = route.body_field is not None
    has_params = has_body or any(d.path_params or d.query_params or d.header_params or d.cookie_params
                                 for d in dependants)
    found: list[Code] = [ApiError.INTERNAL_ERROR, ApiError.DATABASE_UNAVAILABLE]
    if any(d.call is temporal_client for d in dependants):
        found.append(ApiError.WORKFLOW_ENGINE_UNAVAILABLE)
    if route_roles(route):
        found += [ApiError.UNAUTHENTICATED, ApiError.FORBIDDEN, ApiError.TOO_MANY_REQUESTS]
    if has_params:
        found.append(ApiError.VALIDATION_FAILED)
    if has_body:
        found.append(ApiError.PAYLOAD_TOO_LARGE)
    specific = ROUTE_CODES.get(str(route.name), ())
    if has_path and not any(_status(c) == 404 for c in specific):
        found.append(ApiError.NOT_FOUND)
    by_status: dict[int, list[ErrorCode]] = {}
    for entry in (*specific, *found):
        codes = by_status.setdefault(_status(entry), [])
        code = entry[0] if isinstance(entry, tuple) else entry
        if code not in codes:
            codes.append(code)
    return by_status


def declare_errors(app: FastAPI, schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["Problem"] = problem_schema
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body: never sent here
        components.pop(name, None)
    for route in api_routes(app):
        declared = {status: spec for status, spec in (route.responses or {}).items() if int(status) >= 400}
        for method in route.methods or ():
            operation = schema["paths"][str(route.path_format)][method.lower()]
            # Names fit for generated clients (orders.create_order), not FastAPI's path-derived ones.
            operation["operationId"] = route.name
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            for status, codes in sorted(error_codes(route).items()):
                description = (declared.get(status) or declared.get(str(status)) or {}).get("description") \
                    or DESCRIPTIONS.get(status, title(codes[0]))
                responses[str(status)] = {
                    "description": description,
                    "content": {PROBLEM_JSON: {
                        "schema": {"$ref": "#/components/schemas/Problem"},
                        "examples": {code.value: {"summary": title(code), "value": example(code, status)}
                                     for code in codes},
                    }},
                }


def example(code: ErrorCode, status: int) -> dict[str, Any]:
    detail = EXAMPLE_DETAILS.get(code) or note(code) or title(code)
    members: dict[str, Any] = {}
    if code is ApiError.VALIDATION_FAILED:
        members["errors"] = [{"field": "lines[0].quantity", "reason": "Input should be greater than 0"}]
    return problem_body(code, detail, members, status=status)


def _status(entry: Code) -> int:
    return entry[1] if isinstance(entry, tuple) else entry.status


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    """The route's own and every dependency's, however deep."""
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)
