"""Error answers shared by the sandbox routers."""

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def error_response(status_code: int, error_code: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse(
        status_code=status_code,
        content={"error_code": error_code, "message": message, **extra},
    )


def service_unavailable(message: str = "service temporarily unavailable") -> JSONResponse:
    return error_response(503, "SERVICE_UNAVAILABLE", message)


def gateway_failure(sub_code: str, sub_msg: str) -> dict[str, str]:
    """Alipay-style business failure: HTTP 200 with code 40004."""
    return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}


def _field_path(loc: tuple[object, ...] | list[object]) -> str:
    parts = [str(part) for part in loc if part != "body"]
    return ".".join(parts) or "body"


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Bad request shapes are permanent errors; name the offending fields.

    The gateway answers the way Alipay does (HTTP 200, code 40004); the other
    services answer 400 INVALID_REQUEST.
    """
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    # A JSON syntax error's loc holds a character offset, not a field.
    fields = ["body" if err["type"] == "json_invalid" else _field_path(err["loc"]) for err in errors]
    problems = [f"{name}: {err['msg']}" for name, err in zip(fields, errors, strict=True)]
    message = "; ".join(problems)
    if request.url.path.startswith("/gateway/"):
        return JSONResponse(status_code=200, content=gateway_failure("ACQ.INVALID_PARAMETER", message))
    return error_response(400, "INVALID_REQUEST", message, fields=fields)


class ServiceError(Exception):
    """A permanent, caller-visible error: `{"error_code", "message"}` with an HTTP status."""

    def __init__(self, status_code: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.message = message


async def service_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(exc.status_code, exc.error_code, exc.message)
