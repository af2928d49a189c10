"""Shared dependencies: the Temporal client, connected once per process on first use."""

from __future__ import annotations

import asyncio

from fastapi import Request
from temporalio.client import Client

from workers.client import connect

_lock = asyncio.Lock()


async def temporal_client(request: Request) -> Client:
    state = request.app.state
    if getattr(state, "temporal", None) is None:
        async with _lock:
            if getattr(state, "temporal", None) is None:
                state.temporal = await connect(state.settings)
    return state.temporal
