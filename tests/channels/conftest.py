"""Fixtures shared by the channel tests that call the sandbox platforms through the activities."""

from __future__ import annotations

import httpx
import pytest

from activities.channel import ChannelActivities
from activities.channels.transport import ChannelTransport


@pytest.fixture
async def sandbox(sandbox_url):
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        yield client


@pytest.fixture
async def activities(sqlite_url, sandbox_url):
    transport = ChannelTransport(sandbox_url)
    try:
        yield ChannelActivities(sqlite_url, transport)
    finally:
        await transport.aclose()
