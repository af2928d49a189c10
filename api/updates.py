"""Sending a Temporal update to an order's or a ticket's workflow and answering the caller: the
result, the workflow's refusal (its error code), a workflow that has ended, or an answer slower
than the API waits. Shared by the order and the after-sales routes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.client import (
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.audit import note_change
from api.errors import problem, refusal_code
from api.intake import ANSWER_WITHIN
from models.errors import ErrorCode

log = structlog.get_logger()


@dataclass(frozen=True)
class Target:
    """What the update goes to, as its read model row has it."""

    kind: Literal["order", "ticket"]  # names the answer's fields: order_id, order_status
    id: str
    workflow_id: str
    status: str
    closed: ErrorCode  # the answer once its workflow has ended
    # For the audit entry: fields the action changes beyond the status, as they are and as asked.
    before: dict[str, Any] = field(default_factory=dict)
    asked: dict[str, Any] = field(default_factory=dict)


async def answer_update(request: Request, target: Target, update: str, send: Callable[[], Awaitable[Any]],
                        accepted: Callable[[Any], BaseModel]) -> JSONResponse:
    """Send the update (`send`: the workflow's client, waiting at most ANSWER_WITHIN), note what it
    changed for the request's audit entry (the status, and `target.before` -> `target.asked` once the
    workflow took it), and answer:
    200 with `accepted(result)`; the refusal's code and reason with its status; `closed` (409)
    when the workflow has ended; 202 when no answer came within ANSWER_WITHIN (a slow or stopped
    worker: the update is answered when it gets to it)."""
    subject = {f"{target.kind}_id": target.id, f"{target.kind}_status": target.status}
    before = {"status": target.status, **target.before}
    note_change(request, object_type=target.kind, object_id=target.id, before=before)  # refused or unanswered
    try:
        # One call waiting for the answer (not accept, then poll: a round trip more per update).
        result = await asyncio.wait_for(send(), ANSWER_WITHIN.total_seconds())
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
        return problem(refusal_code(cause), reason, subject)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return problem(target.closed, f"{target.kind} {target.id} is {target.status}", subject)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return JSONResponse(status_code=202, content={f"{target.kind}_id": target.id, "status": target.status,
                                                      "accepted": True})
    answered = {key: getattr(result, key) for key in target.before if hasattr(result, key)}
    note_change(request, object_type=target.kind, object_id=target.id, before=before,
                after={"status": result.status, **answered, **target.asked})
    log.info(f"{target.kind} updated", **{f"{target.kind}_id": target.id}, workflow_id=target.workflow_id,
             update=update, status=result.status)
    return JSONResponse(status_code=200, content=accepted(result).model_dump(mode="json"))
