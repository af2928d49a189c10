"""Fixtures for the platform sandbox tests: in-process sandbox apps and a callback receiver.

No __init__.py here on purpose: as a package this directory would be named `sandbox`
and shadow the package under test. Test modules are prefixed `test_sandbox_` to stay unique.
"""

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from sandbox.app import create_app
from sandbox.config import SandboxSettings


@dataclass
class Sandbox:
    app: FastAPI
    client: httpx.AsyncClient

    async def records(self, kind: str | None = None, key: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in {"kind": kind, "key": key}.items() if v is not None}
        response = await self.client.get("/_sandbox/records", params=params)
        assert response.status_code == 200
        data = response.json()
        assert data["total"] == len(data["items"])
        return data["items"]

    @staticmethod
    def waybill_body(request_id: str = "req-1", **changes: Any) -> dict[str, Any]:
        """A valid waybill request; `receiver=` changes are merged into the receiver."""
        body: dict[str, Any] = {
            "carrier": "SF",
            "request_id": request_id,
            "sender": {"warehouse": "WH-SH", "province": "上海市", "city": "上海市"},
            "receiver": {
                "name": "张三",
                "phone": "13812341234",
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "address": "文三路 100 号",
            },
            "parcels": [{"sku": "SKU-1", "quantity": 2}],
        }
        receiver_changes = changes.pop("receiver", None)
        body.update(changes)
        if receiver_changes is not None:
            body["receiver"] = {**body["receiver"], **receiver_changes}
        return body

    async def create_waybill(self, request_id: str = "req-1", **changes: Any) -> str:
        response = await self.client.post("/carrier/waybills", json=self.waybill_body(request_id, **changes))
        assert response.status_code == 200, response.text
        return response.json()["waybill_no"]

    async def pay(self, total_amount: str = "19.99", out_trade_no: str = "WEB-1") -> str:
        """A buyer pays at the gateway; its trade_no (a refund needs a trade the gateway saw)."""
        response = await self.client.post("/gateway/trade/pay", json={"out_trade_no": out_trade_no,
                                                                        "total_amount": total_amount})
        assert response.json()["code"] == "10000", response.text
        return response.json()["trade_no"]

    async def set_fault(self, **rule: Any) -> None:
        response = await self.client.put("/_sandbox/faults", json=rule)
        assert response.status_code == 200, response.text


MakeSandbox = Callable[..., Awaitable[Sandbox]]


@pytest.fixture
async def make_sandbox(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MakeSandbox]:
    """Build sandbox apps with settings overrides; lifespans are closed at teardown."""
    for name in list(os.environ):
        if name.upper().startswith("SANDBOX_"):
            monkeypatch.delenv(name)
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> Sandbox:
            app = create_app(SandboxSettings(**overrides))
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")
            )
            return Sandbox(app, client)

        yield make


@pytest.fixture
async def sandbox(make_sandbox: MakeSandbox) -> Sandbox:
    return await make_sandbox()


@dataclass
class Callback:
    headers: dict[str, str]
    body: bytes
    status: int
    at: float
    path: str = ""


@dataclass
class CallbackReceiver:
    """A real HTTP endpoint for tracking callbacks and webhooks; answers 500 to the first `fail_first`
    requests, then `status` (200)."""

    url: str = ""
    fail_first: int = 0
    status: int = 200
    calls: list[Callback] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.url.rsplit("/", 1)[0]

    @property
    def accepted(self) -> list[Callback]:
        return [c for c in self.calls if c.status == 200]

    async def wait_for_accepted(self, count: int, timeout: float = 5.0) -> list[Callback]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.accepted) < count:
            if loop.time() > deadline:
                raise AssertionError(f"got {len(self.accepted)} accepted callbacks, wanted {count}")
            await asyncio.sleep(0.01)
        return self.accepted

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status = 500 if len(self.calls) < self.fail_first else self.status
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.calls.append(Callback(headers, body, status, asyncio.get_running_loop().time(), scope["path"]))
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    receiver.url = f"http://127.0.0.1:{sock.getsockname()[1]}/carrier-callbacks"
    config = uvicorn.Config(receiver, lifespan="off", log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "callback receiver failed to start"
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
        sock.close()
