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
    WorkflowUpdateStage,
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
    """Accepted; the answer was not ready within ANSWER_WITHIN."""


async def send_update(client: Client, workflow_id: str, update: Any, arg: Any) -> Any:
    """The update's result, or Refused / Ended / Pending."""
    try:
        handle = await client.get_workflow_handle(workflow_id).start_update(
            update, arg, wait_for_stage=WorkflowUpdateStage.ACCEPTED, rpc_timeout=ANSWER_WITHIN)
        return await asyncio.wait_for(handle.result(), ANSWER_WITHIN.total_seconds())
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
