"""The hub's API in-process for tests: the app on its database, a token per role, an httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from temporalio.client import Client

from api.app import create_app
from models.config import Settings
from models.principals import ROLES, issue_token


@asynccontextmanager
async def api_client(settings: Settings, temporal: Client) -> AsyncIterator[httpx.AsyncClient]:
    """`client.tokens[role]`, `client.db_url`, `client.app`, `client.app_settings` beside the client."""
    app = create_app(settings, migrate=False)
    app.state.temporal = temporal
    tokens = {role: await issue_token(settings.db_url, role) for role in ROLES}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        client.tokens = tokens  # type: ignore[attr-defined]
        client.db_url = settings.db_url  # type: ignore[attr-defined]
        client.app = app  # type: ignore[attr-defined]
        client.app_settings = app.state.settings  # type: ignore[attr-defined]
        yield client


def auth(client: httpx.AsyncClient, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.tokens[role]}"}  # type: ignore[attr-defined]
