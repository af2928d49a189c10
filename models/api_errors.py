"""The API's own error codes: about the request or the service, not one domain's state.

Each is answered as a problem (api/errors.py): type `/problems/<code>`, and `GET /problems/<code>`
explains it with this module's first line and the member's comment."""

from __future__ import annotations

from models.errors import ErrorCode


class ApiError(ErrorCode):
    VALIDATION_FAILED = "validation_failed", 422  # with `errors`: each field and reason
    UNAUTHENTICATED = "unauthenticated", 401  # no token, or one the hub does not know
    FORBIDDEN = "forbidden", 403  # the token's role may not do this
    PAYLOAD_TOO_LARGE = "payload_too_large", 413  # a body over ORDERHUB_API_MAX_BODY_BYTES
    TOO_MANY_REQUESTS = "too_many_requests", 429  # repeated authentication failures: slowed down, with Retry-After
    METHOD_NOT_ALLOWED = "method_not_allowed", 405  # the path exists; `Allow` lists its methods
    NOT_FOUND = "not_found", 404  # no such path, quarantine item or error code
    BAD_REQUEST = "bad_request", 400  # a body the framework cannot read at all (a broken multipart form, ...)
    BAD_SIGNATURE = "bad_signature", 401  # a webhook or carrier callback not signed by its sender
    RULES_INVALID = "rules_invalid", 422
    ALREADY_RESOLVED = "already_resolved", 409  # a quarantined payload processed before
    NOT_RETRYABLE = "not_retryable", 409  # a quarantined payload from a source that cannot be retried here
    REJECTED = "rejected", 409  # a workflow refused without a registered code
    DATABASE_UNAVAILABLE = "database_unavailable", 503  # with Retry-After: nothing was committed, retry
    WORKFLOW_ENGINE_UNAVAILABLE = "workflow_engine_unavailable", 503  # Temporal did not answer: nothing was handed off
    SERVICE_UNAVAILABLE = "service_unavailable", 503  # another part the API needs did not answer: retry
    INTERNAL_ERROR = "internal_error", 500  # a bug: logged with its stack
