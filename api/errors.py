"""Error answers that name the field and the reason; rejected payloads are kept, not dropped.

`problem` is the one place an error code (models.errors.ErrorCode) becomes an answer, and
`refusal_code` the one place a workflow's refusal (an ApplicationError whose type is a code)
becomes a code. The body is always {"error": <code>, "message": <reason>, ...details}.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.intake import Rejected, describe, quarantine
from models.api_errors import ApiError
from models.errors import ErrorCode, error_code

__all__ = ["Rejected", "describe", "field_errors", "install_error_handlers", "problem", "quarantine", "refusal_code"]

log = structlog.get_logger()

# Bodies of these routes are business input: when they fail validation they are quarantined.
QUARANTINED_ROUTES = {("POST", "/v1/orders"), ("POST", "/v1/after-sales")}


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


def problem(code: ErrorCode, message: str, fields: Mapping[str, object] | None = None, *, status: int | None = None,
            **extra: object) -> JSONResponse:
    """The answer for `code`, with its status. `status` only where one code answers two ways
    (return_not_matched: 404 when nothing matches, 409 when several do). Further fields by name, or
    as `fields` where their names are built at run time."""
    return JSONResponse(status_code=status or code.status,
                        content={"error": code.value, "message": message, **extra, **(fields or {})})


def refusal_code(failure: BaseException | None) -> ErrorCode:
    """The code a workflow refused an update with: its ApplicationError's type."""
    kind = failure.type if isinstance(failure, ApplicationError) else None
    code = error_code(kind)
    if code is None:
        log.warning("refusal without a registered error code", type=kind)
        return ApiError.REJECTED
    return code


def install_error_handlers(app: FastAPI) -> None:
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

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return _render(exc)

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


class ProblemError(Exception):
    """The one exception routes and dependencies raise for an error answer (rendered by `problem`)."""

    def __init__(self, code: ErrorCode, detail: str, *, status: int | None = None,
                 headers: Mapping[str, str] | None = None, **extra: object) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status, self.headers, self.extra = code, detail, status, dict(headers or {}), extra


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
