"""Shared dependencies: the Temporal client, connected once per process on first use."""

from __future__ import annotations

import asyncio

import structlog
from fastapi import Request
from temporalio.client import Client

from activities.clients.connection import connect
from api.errors import ProblemError
from models.api_errors import ApiError

log = structlog.get_logger()
_lock = asyncio.Lock()


async def temporal_client(request: Request) -> Client:
    state = request.app.state
    if getattr(state, "temporal", None) is None:
        async with _lock:
            if getattr(state, "temporal", None) is None:
                try:
                    state.temporal = await connect(state.settings)
                except RuntimeError as err:  # the SDK reports a failed connect as RuntimeError
                    log.warning("temporal unreachable", address=state.settings.temporal_address)
                    raise ProblemError(ApiError.WORKFLOW_ENGINE_UNAVAILABLE,
                                       "the order engine is unreachable; retry shortly",
                                       headers={"Retry-After": "1"}) from err
    return state.temporal
