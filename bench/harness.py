"""The benchmark's own stack: a Temporal dev server, a PostgreSQL database, the sandbox with zero latency,
the hub's worker and API as their own processes (so the worker's memory is its own), and a bare-Temporal
worker for the baseline, all on free ports and thrown away afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from api.auth import ROLES, issue_token
from bench.baseline import BaselineOrder, no_op_step
from bench.linkcut import LinkCutter
from models.config import Settings
from models.seed import seed_demo, seed_sandbox_shops
from workers import stack
from workers.scenarios import Hub

PG_ADMIN_DSN = os.environ.get("ORDERHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BASELINE_QUEUE = "bench-baseline"


@dataclass
class BenchStack:
    client: Client
    hub: Hub
    settings: Settings
    worker: subprocess.Popen
    sandbox_url: str
    server: subprocess.Popen
    server_command: list[str]
    worker_env: dict[str, str]
    db_link: LinkCutter | None = None  # between the hub's processes and PostgreSQL, when asked for
    peak_open: int = 0  # the flash sale's orders open at its end
    peak_rss_mb: float = 0.0  # the worker's then

    def kill_worker(self) -> None:
        """SIGKILL: no shutdown, in-flight tasks and activities are simply gone."""
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait()

    def start_worker(self) -> None:
        self.worker = stack.spawn([str(stack.BIN / "orderhub"), "worker"], env=self.worker_env)

    async def restart_server(self, down_s: float) -> None:
        """Stop the Temporal dev server, leave it down a while, start it again on its SQLite file."""
        await asyncio.to_thread(stack.stop, self.server)  # the clients keep sending meanwhile
        await asyncio.sleep(down_s)
        self.server = stack.spawn(self.server_command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = int(self.settings.temporal_address.rpartition(":")[2])
        await asyncio.to_thread(stack.wait_for_port, "127.0.0.1", port, 60, self.server)

    async def post_until_answered(self, order: dict[str, Any], deadline: float | None = None
                                  ) -> tuple[httpx.Response, int]:
        """POST the order until the API answers (not a 5xx, not a dropped connection), the same body
        each time, as a platform retries; the answer and how many tries failed first. Past
        `deadline` (time.monotonic()) a TimeoutError."""
        failed = 0
        while True:
            try:
                response = await self.hub.post_order(order)
                if response.status_code < 500:
                    return response, failed
                last: object = f"{response.status_code} {response.text[:200]}"
            except httpx.TransportError as err:
                last = err
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"the API did not take an order before the deadline: {last}")
            failed += 1
            await asyncio.sleep(0.5)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU used so far: the Temporal server, the hub worker and the whole machine (all processes:
        API, sandbox, PostgreSQL and this harness with the baseline's worker included), from /proc."""
        busy = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = busy[3] + busy[4]  # idle, iowait
        return {"server": _process_cpu(self.server.pid), "worker": _process_cpu(self.worker.pid),
                "machine": (sum(busy[:8]) - idle) / _TICKS}

    def worker_rss_mb(self) -> float:
        """The hub worker process's resident memory, from /proc."""
        for line in Path(f"/proc/{self.worker.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS for the worker")


@asynccontextmanager
async def bench_stack(*, payment_timeout_s: int, env: dict[str, str] | None = None,
                      sandbox: dict[str, str] | None = None, cut_db_link: bool = False) -> AsyncIterator[BenchStack]:
    """`env`: more settings for the worker and API; `sandbox`: SANDBOX_* settings; `cut_db_link`: the
    worker and API reach PostgreSQL through a LinkCutter (the harness itself goes direct)."""
    with tempfile.TemporaryDirectory(prefix="orderhub-bench-") as tmp:
        port, api_port = stack.free_port(), stack.free_port()
        settings = Settings(temporal_address=f"127.0.0.1:{port}", temporal_ui_port=stack.free_port(),
                            api_port=api_port, data_dir=Path(tmp), task_queue="bench-orders",
                            payment_timeout_s=payment_timeout_s, log_level="WARNING")
        server_command = stack.temporal_dev_server_command(settings, Path(tmp) / "temporal.db")
        procs: dict[str, subprocess.Popen] = {}
        b: BenchStack | None = None  # restarts replace its worker and server processes
        try:
            procs["server"] = stack.spawn(server_command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            stack.wait_for_port("127.0.0.1", port, proc=procs["server"])
            sandbox_env = {"delivery_delay_s": "0", "hub_url": f"http://127.0.0.1:{api_port}", **(sandbox or {})}
            async with stack.scratch_pg_database(PG_ADMIN_DSN, "orderhub_bench") as db_url, \
                    stack.sandbox_process(**sandbox_env) as sandbox_url, \
                    LinkCutter.to_url(db_url, enabled=cut_db_link) as db_link:
                await seed_demo(db_url)
                await seed_sandbox_shops(db_url, channels=["own_store", "shopify"], sync_interval_s=3600)
                settings.database_url, settings.sandbox_url = db_url, sandbox_url
                worker_env = {**_env(settings), **(env or {})}
                if db_link is not None:
                    worker_env["DATABASE_URL"] = db_link.url
                procs["worker"] = stack.spawn([str(stack.BIN / "orderhub"), "worker"], env=worker_env)
                procs["api"] = api = stack.spawn([str(stack.BIN / "orderhub"), "api"], env=worker_env)
                try:
                    await stack.wait_for_http(f"{settings.api_base_url}/healthz", proc=api)
                    client = await Client.connect(settings.temporal_address, data_converter=pydantic_data_converter)
                    tokens = {role: await issue_token(db_url, role) for role in ROLES}
                    async with httpx.AsyncClient(base_url=settings.api_base_url, timeout=120,
                                                 limits=httpx.Limits(max_connections=200)) as http, \
                            Worker(client, task_queue=BASELINE_QUEUE, workflows=[BaselineOrder],
                                   activities=[no_op_step], max_concurrent_activities=200,
                                   max_concurrent_local_activities=200):
                        b = BenchStack(client, Hub(http, tokens), settings, procs["worker"], sandbox_url,
                                       procs["server"], server_command, worker_env, db_link)
                        yield b
                finally:  # before their database, sandbox and link go away
                    for proc in (procs.pop("api"), procs.pop("worker") if b is None else b.worker):
                        stack.stop(proc, timeout_s=3)  # a throwaway stack: no long goodbyes
        finally:
            stack.stop(procs["server"] if b is None else b.server, timeout_s=3)

_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _env(settings: Settings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url, "ORDERHUB_TEMPORAL_ADDRESS": settings.temporal_address,
        "ORDERHUB_SANDBOX_URL": settings.sandbox_url, "ORDERHUB_API_PORT": str(settings.api_port),
        "ORDERHUB_TASK_QUEUE": settings.task_queue, "ORDERHUB_DATA_DIR": str(settings.data_dir),
        "ORDERHUB_PAYMENT_TIMEOUT_S": str(settings.payment_timeout_s), "ORDERHUB_LOG_LEVEL": settings.log_level,
        # The sandbox shops list no bench SKU, so every push would be refused: measured without it.
        "ORDERHUB_PUSH_STOCK": "false",
        # As deployed (deploy/k8s/configmap.yaml); the suite's other tests run the workflows strict.
        "ORDERHUB_WORKFLOW_SANDBOX": "passthrough",
        # The workflow sandbox imports each workflow's module afresh for every new workflow: with
        # bytecode writing off (this machine sets it), that is a compile from source each time.
        "PYTHONDONTWRITEBYTECODE": "",
    }


def machine() -> dict[str, object]:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    version = ""
    with contextlib.suppress(Exception):
        version = subprocess.run([stack.temporal_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gib": round(int(meminfo["MemTotal"].split()[0]) / 2**20, 1),
            "python": platform.python_version(), "temporal": version, "database": "PostgreSQL (127.0.0.1)",
            "os": platform.platform()}
