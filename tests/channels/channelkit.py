"""Helpers for the channel adapter tests (a plain module: `conftest` names clash across test dirs).

Golden payloads live in golden/<channel>_order.json, each shaped like the platform's published
response item. `edited` returns a deep copy with one dotted path changed or removed, so each bad-payload
test states exactly the one thing it breaks.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from activities.channels.transport import ChannelTransport, ShopAccess
from sandbox.app import create_app
from sandbox.config import SandboxSettings

GOLDEN_DIR = Path(__file__).parent / "golden"
DELETE = object()
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def golden(channel: str) -> dict[str, Any]:
    return json.loads((GOLDEN_DIR / f"{channel}_order.json").read_text(encoding="utf-8"))


def edited(payload: dict[str, Any], path: str, value: Any = DELETE) -> dict[str, Any]:
    """A copy of `payload` with `path` ("orders.order[1].outer_sku_id") set to `value`, or removed."""
    result = copy.deepcopy(payload)
    steps = [int(index) if index else key for key, index in _STEP.findall(path)]
    node: Any = result
    for step in steps[:-1]:
        node = node[step]
    if value is DELETE:
        del node[steps[-1]]
    else:
        node[steps[-1]] = value
    return result


def with_edits(payload: dict[str, Any], **edits: Any) -> dict[str, Any]:
    """Several top-level keys set at once (None is a value, as platforms send null)."""
    result = copy.deepcopy(payload)
    result.update(edits)
    return result


# --- the sandbox marketplaces, in process over ASGI (real HTTP semantics, no network) ----------------

@dataclass
class Market:
    """A sandbox app with its control client and a ChannelTransport pointed at it."""

    app: Any
    client: httpx.AsyncClient
    transport: ChannelTransport

    @staticmethod
    def access(channel: str, shop: str = "default", **changes: str) -> ShopAccess:
        values = {"app_key": f"sandbox-{channel}", "app_secret": f"sandbox-secret-{channel}",
                  "access_token": f"sandbox-token-{channel}", **changes}
        return ShopAccess(channel=channel, shop=shop, **values)

    async def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, f"/_sandbox/platforms{path}", **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    async def create(self, channel: str, count: int = 1, shop: str = "default", **body: Any) -> list[str]:
        return (await self.control("POST", f"/{channel}/shops/{shop}/orders", json={"count": count, **body}))["created"]

    async def event(self, channel: str, external_id: str, event: str, shop: str = "default") -> dict[str, Any]:
        return await self.control("POST", f"/{channel}/shops/{shop}/orders/{external_id}/events", json={"event": event})

    async def order(self, channel: str, external_id: str, shop: str = "default") -> dict[str, Any]:
        return await self.control("GET", f"/{channel}/shops/{shop}/orders/{external_id}")

    async def records(self, kind: str, **filters: str) -> list[dict[str, Any]]:
        response = await self.client.get("/_sandbox/records", params={"kind": kind, **filters})
        assert response.status_code == 200, response.text
        return response.json()["items"]


@asynccontextmanager
async def sandbox_market(**settings: Any) -> AsyncIterator[Market]:
    app = create_app(SandboxSettings(**settings))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as client:
            transport = ChannelTransport("http://sandbox", client=client)
            yield Market(app, client, transport)
