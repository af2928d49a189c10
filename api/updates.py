"""Sending a Temporal update to an order's or a ticket's workflow and reading its answer: the
workflow's validator refusal, a workflow that has ended, or an answer slower than the API waits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.intake import ANSWER_WITHIN


@dataclass
class Refused:
    """The workflow refused the update: its error type (snake_case) and reason."""

    error: str
    reason: str


class Ended:
    """The workflow has ended: nothing more can be changed."""


class Pending:
    """No answer within ANSWER_WITHIN (a slow or stopped worker): the order answers when it gets to it."""


async def send_update(client: Client, workflow_id: str, update: Any, arg: Any) -> Any:
    """The update's result, or Refused / Ended / Pending."""
    try:
        # One call waiting for the answer (not accept, then poll: a round trip more per update).
        return await asyncio.wait_for(
            client.get_workflow_handle(workflow_id).execute_update(update, arg, rpc_timeout=ANSWER_WITHIN),
            ANSWER_WITHIN.total_seconds())
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
        kind = cause.type if isinstance(cause, ApplicationError) and cause.type else "Rejected"
        return Refused(error=snake(kind), reason=reason)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return Ended()
        raise
    except (asyncio.TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return Pending()


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
