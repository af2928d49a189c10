"""Error answers that name the field and the reason; rejected payloads are kept, not dropped.

Every 4xx and 5xx answer is one shape, RFC 9457's problem details with media type
application/problem+json: {"type": "/problems/<code>", "title", "status", "detail", "errors"?:
[{"field", "reason"}], ...members such as order_id or quarantine_id}. `problem` is the one place an
error code (models.errors.ErrorCode) becomes that answer, `ProblemError` the one exception routes and
dependencies raise for it, and `refusal_code` the one place a workflow's refusal (an ApplicationError
whose type is a code) becomes a code. The framework's own errors (an unknown path, a wrong method, a
dependency's HTTPException) are mapped to codes here too, so no other body ever leaves the API.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Mapping
from functools import cache
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.intake import Rejected, describe, quarantine
from models.api_errors import ApiError
from models.errors import ErrorCode, codes, error_code

__all__ = ["PROBLEM_JSON", "Problem", "ProblemError", "Rejected", "describe", "field_errors",
           "install_error_handlers", "problem", "quarantine", "refusal_code"]

log = structlog.get_logger()

PROBLEM_JSON = "application/problem+json"

# Bodies of these routes are business input: when they fail validation they are quarantined.
QUARANTINED_ROUTES = {("POST", "/v1/orders"), ("POST", "/v1/after-sales")}

# The framework's HTTPException statuses (Starlette's 404 and 405, FastAPI's 400 for a body it cannot
# parse, a dependency's own) and the code each is answered with.
FRAMEWORK_CODES: dict[int, ErrorCode] = {
    400: ApiError.BAD_REQUEST, 401: ApiError.UNAUTHENTICATED, 403: ApiError.FORBIDDEN, 404: ApiError.NOT_FOUND,
    405: ApiError.METHOD_NOT_ALLOWED, 413: ApiError.PAYLOAD_TOO_LARGE, 422: ApiError.VALIDATION_FAILED,
    429: ApiError.TOO_MANY_REQUESTS, 503: ApiError.SERVICE_UNAVAILABLE,
}
_STANDARD = ("type", "title", "status", "detail")


class FieldError(BaseModel):
    field: str = Field(description="the field's path in the request, e.g. `lines[0].sku`; `body` for the whole body")
    reason: str


class Problem(BaseModel):
    """Every error answer (RFC 9457 problem details, application/problem+json). Further members
    (`order_id`, `order_status`, `ticket_id`, `quarantine_id`, ...) name what the error is about."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="`/problems/<code>`: GET it for what the code means", examples=["/problems/not_found"])
    title: str = Field(description="the code's name for people; the same for every answer with this code")
    status: int = Field(description="the HTTP status, repeated")
    detail: str = Field(description="why this request got it")
    errors: list[FieldError] | None = Field(default=None, description="with validation_failed: each field and reason")


class ProblemError(Exception):
    """Raised by a route or a dependency to answer `code`: rendered by `problem`, with `headers`
    (WWW-Authenticate, Retry-After, ...). `status` only where one code answers two ways."""

    def __init__(self, code: ErrorCode, detail: str, *, status: int | None = None,
                 headers: Mapping[str, str] | None = None, **extra: object) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status, self.headers, self.extra = code, detail, status, dict(headers or {}), extra


def field_path(loc: tuple | list) -> str:
    """("body", "lines", 0, "sku") -> "lines[0].sku"."""
    path = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not path:
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def field_errors(exc: RequestValidationError | ValidationError) -> list[dict[str, str]]:
    return [{"field": field_path(e["loc"]), "reason": e["msg"]} for e in exc.errors()]


def title(code: ErrorCode) -> str:
    """The code's human name: its words ("order_not_found" -> "Order not found")."""
    return code.value.replace("_", " ").capitalize()


def problem_body(code: ErrorCode, detail: str, members: Mapping[str, object] | None = None, *,
                 status: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": f"/problems/{code.value}", "title": title(code), "status": status or code.status,
                            "detail": detail}
    # The standard members are the contract: an extension never overrides them.
    body.update({k: v for k, v in (members or {}).items() if k not in _STANDARD})
    return body


def problem(code: ErrorCode, message: str, fields: Mapping[str, object] | None = None, *, status: int | None = None,
            **extra: object) -> JSONResponse:
    """The answer for `code`, with its status and `message` as the detail. `status` only where one
    code answers two ways (return_not_matched: 404 when nothing matches, 409 when several do).
    Further members by name (`errors=[...]`, `order_id=...`), or as `fields` where their names are
    built at run time."""
    body = problem_body(code, message, {**extra, **(fields or {})}, status=status)
    return JSONResponse(status_code=body["status"], content=body, media_type=PROBLEM_JSON)


def refusal_code(failure: BaseException | None) -> ErrorCode:
    """The code a workflow refused an update with: its ApplicationError's type."""
    kind = failure.type if isinstance(failure, ApplicationError) else None
    code = error_code(kind)
    if code is None:
        log.warning("refusal without a registered error code", type=kind)
        return ApiError.REJECTED
    return code


@cache
def _comments(domain: type[ErrorCode]) -> dict[str, str]:
    """Each member's trailing comment in its enum's source: the code's own explanation."""
    try:
        source = inspect.getsource(domain)
    except (OSError, TypeError):
        return {}
    found = re.findall(r'^\s*[A-Z_]+\s*=\s*"([a-z_]+)",\s*\d+\s*#\s*(.+?)\s*$', source, re.MULTILINE)
    return dict(found)


def note(code: ErrorCode) -> str:
    """The member's comment in its enum, or ""."""
    return _comments(type(code)).get(code.value, "")


def explain(value: str) -> dict[str, Any] | None:
    """What `/problems/<value>` says: the code's title, status and description (its domain's
    docstring, then the member's comment), or None for no registered code."""
    code = codes().get(value)
    if code is None:
        return None
    domain = type(code)
    module_doc = (sys.modules[domain.__module__].__doc__ or "").strip().splitlines()
    description = " ".join(part for part in (module_doc[0] if module_doc else "", note(code)) if part)
    return {"type": f"/problems/{code.value}", "code": code.value, "title": title(code), "status": code.status,
            "description": description}


problems_router = APIRouter(tags=["problems"])


class ProblemType(BaseModel):
    type: str
    code: str
    title: str
    status: int
    description: str


@problems_router.get("/problems/{code}", response_model=ProblemType)
async def explain_problem(code: str) -> Any:
    """What an error's `type` means: public, no token."""
    explained = explain(code)
    if explained is None:
        return problem(ApiError.NOT_FOUND, f"no error code {code}")
    return explained


def install_error_handlers(app: FastAPI) -> None:
    app.include_router(problems_router)

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return _render(exc)

    @app.exception_handler(HTTPException)
    async def _framework(request: Request, exc: HTTPException) -> JSONResponse:
        # Starlette's unknown path (404) and wrong method (405, its Allow header kept), and a
        # dependency's HTTPException: the same shape as every other error.
        code = FRAMEWORK_CODES.get(exc.status_code) or (
            ApiError.BAD_REQUEST if exc.status_code < 500 else ApiError.INTERNAL_ERROR)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response = problem(code, detail, status=exc.status_code)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RPCError)
    async def _temporal_unavailable(request: Request, exc: RPCError) -> JSONResponse:
        # Nothing was handed off: the caller's retry is safe (starts and updates are idempotent).
        log.warning("temporal call failed", path=request.url.path, status=exc.status.name)
        return problem(ApiError.WORKFLOW_ENGINE_UNAVAILABLE, "the order engine did not answer; retry shortly")

    @app.exception_handler(OSError)  # a connection refused or reset before SQLAlchemy wraps it
    @app.exception_handler(DBAPIError)
    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DBAPIError) and not exc.connection_invalidated and not _lost_connection(exc):
            return await _unexpected(request, exc)
        # The transaction did not commit; the caller's retry is safe (every write here is keyed).
        log.warning("database unavailable", path=request.url.path, error=type(exc).__name__)
        response = problem(ApiError.DATABASE_UNAVAILABLE, "the database did not answer; retry shortly")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return problem(ApiError.INTERNAL_ERROR, "an unexpected error occurred; it has been logged")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc)
        extra: dict[str, object] = {}
        matched = request.scope.get("route")
        route = (request.method, matched.path if matched else request.url.path)
        if route in QUARANTINED_ROUTES:
            # Nothing is kept for a caller who is not allowed to send it: a body that failed to parse
            # reaches this handler before the route's own token check runs, so run it here.
            try:
                await authenticate(request)
            except ProblemError as refused:
                return _render(refused)
            extra["quarantine_id"] = await quarantine(
                request.app.state.settings.db_url, f"api:{route[0]} {route[1]}", await request.body(), describe(errors)
            )
            log.info("payload quarantined", source=route[1], quarantine_id=extra["quarantine_id"])
        return problem(ApiError.VALIDATION_FAILED, "the request is invalid", extra, errors=errors)


def _lost_connection(exc: DBAPIError) -> bool:
    """asyncpg's connection errors (closed, reset, cannot connect now) arrive as Interface or
    Operational errors; a constraint or syntax error is a bug, not an outage."""
    return isinstance(exc, InterfaceError | OperationalError) or isinstance(exc.orig, OSError) \
        or "connection" in type(exc.orig).__name__.lower()


def _render(exc: ProblemError) -> JSONResponse:
    response = problem(exc.code, exc.detail, exc.extra, status=exc.status)
    response.headers.update(exc.headers)
    return response


async def authenticate(request: Request) -> None:
    """Run the matched route's authenticating dependency (api.auth.caller, marked `authenticates`)."""
    route = request.scope.get("route")
    for dependency in getattr(getattr(route, "dependant", None), "dependencies", []):
        if getattr(dependency.call, "authenticates", False):
            await dependency.call(request)
