"""Shared dependencies: the Temporal client, connected once per process on first use."""

from __future__ import annotations

import asyncio

import structlog
from fastapi import HTTPException, Request
from temporalio.client import Client

from activities.clients.connection import connect

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
                    raise HTTPException(503, "the order engine is unreachable; retry shortly") from err
    return state.temporal
