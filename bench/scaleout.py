"""Scale-out: the same burst of paid orders against `orderhub worker --processes N`, for each N.

    .venv/bin/python -m bench.scaleout [--orders 300] [--processes 1,2] [--rounds 1] [--concurrency 50] [--db pg|sqlite]

Starts its own Temporal dev server (workers/stack.py's command, in memory, free ports) and sandbox
(parcels signed for at once), then per N: a fresh database (PostgreSQL on 127.0.0.1:5432 by default,
ORDERHUB_TEST_PG to override; seeded, stock topped up so no order waits for it), `orderhub worker
--processes N` as a subprocess on a task queue of its own, the API served in this process. A few
warm-up orders first, then M paid orders posted through the API at once (at most --concurrency in
flight), each driven by its workflow to AWAITING_SCAN (routed, waybill printed). Reported per N:
POST latency (the API answers after the stock decision), POST -> AWAITING_SCAN latency (the
timeline's timestamp, workflow time, against the wall clock of the POST; one machine, one clock),
and orders/s from the first POST to the last order reaching AWAITING_SCAN. Prints a table and
writes bench/results/scaleout.json.

Everything shares the machine: on 2 cores the dev server, PostgreSQL, the sandbox, the API and this
load generator compete with the worker processes, so a second process may well not help here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import structlog
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, update
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from activities.clients.connection import connect
from api.auth import issue_token
from bench.priority import pct
from models.config import Settings
from models.db import dispose_engines, session_scope, upgrade
from models.order import order_id_for
from models.seed import seed_demo
from models.tables import OrderEvent, OrderRecord, StockLevel
from workers import stack
from workers.scenarios import Hub, new_order

PG_ADMIN_DSN = os.environ.get("ORDERHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RESULTS = Path(__file__).resolve().parent / "results" / "scaleout.json"
WARMUP = 10
# The buyers' regions and the SKUs vary, so the reservations spread over warehouses and stock rows
# instead of all queueing on one row.
PROVINCES = [("上海", "上海市", "徐汇区"), ("广东", "广州市", "天河区"), ("北京", "北京市", "朝阳区")]
SKUS = ["SKU-1", "SKU-2", "SKU-4"]


@dataclass
class Run:
    processes: int
    orders: int
    post_s: list[float] = field(default_factory=list)  # POST -> answer (after the stock decision)
    scan_s: list[float] = field(default_factory=list)  # POST -> AWAITING_SCAN
    makespan_s: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    post_codes: dict[str, int] = field(default_factory=dict)
    worker_cpu_s: float = 0.0  # CPU time the worker process(es) used during the burst
    loadavg_before: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def throughput(self) -> float:
        return len(self.scan_s) / self.makespan_s if self.makespan_s else 0.0

    def summary(self) -> dict:
        return {"processes": self.processes, "orders": self.orders, "reached_awaiting_scan": len(self.scan_s),
                "orders_per_s": round(self.throughput, 2), "makespan_s": round(self.makespan_s, 2),
                "post_p50_s": round(pct(self.post_s, 50), 3), "post_p99_s": round(pct(self.post_s, 99), 3),
                "to_awaiting_scan_p50_s": round(pct(self.scan_s, 50), 3),
                "to_awaiting_scan_p99_s": round(pct(self.scan_s, 99), 3),
                "to_awaiting_scan_max_s": round(max(self.scan_s, default=float("nan")), 3),
                "worker_cpu_s": round(self.worker_cpu_s, 2),
                "worker_cpu_ms_per_order": round(1000 * self.worker_cpu_s / max(1, len(self.scan_s)), 1),
                "worker_cores_busy": round(self.worker_cpu_s / self.makespan_s, 2) if self.makespan_s else 0.0,
                "loadavg_before": self.loadavg_before, "statuses": self.statuses, "post_codes": self.post_codes}


@asynccontextmanager
async def database(kind: str, tmp: Path) -> AsyncIterator[str]:
    """A fresh, migrated, seeded database whose stock never runs out during the run."""
    if kind == "pg":
        async with stack.scratch_pg_database(PG_ADMIN_DSN, "orderhub_bench") as url:
            yield await _seed(url)
    else:
        url = f"sqlite+aiosqlite:///{tmp / f'orderhub-{uuid.uuid4().hex[:6]}.db'}"
        await upgrade(url)
        try:
            yield await _seed(url)
        finally:
            await dispose_engines()


async def _seed(url: str) -> str:
    await seed_demo(url)
    async with session_scope(url) as session:
        await session.exec(update(StockLevel).values(on_hand=StockLevel.on_hand + 1_000_000))
    return url


async def poller_count(client: Client, task_queue: str) -> int:
    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    return len({p.identity for p in response.pollers})


async def statuses(db_url: str, prefix: str) -> Counter[str]:
    async with session_scope(db_url) as session:
        rows = await session.exec(select(OrderRecord.status, func.count()).where(
            OrderRecord.order_id.like(order_id_for("own_store", "default", f"{prefix}%"))).group_by(OrderRecord.status))
        return Counter(dict(rows.all()))


async def reached_scan(db_url: str, prefix: str) -> dict[str, datetime]:
    """Each order's first AWAITING_SCAN in its timeline (workflow time)."""
    async with session_scope(db_url) as session:
        rows = await session.exec(select(OrderEvent.order_id, func.min(OrderEvent.at)).where(
            OrderEvent.order_id.like(order_id_for("own_store", "default", f"{prefix}%")), OrderEvent.status == "AWAITING_SCAN",
        ).group_by(OrderEvent.order_id))
        return {oid: at if at.tzinfo else at.replace(tzinfo=UTC) for oid, at in rows.all()}


def process_tree(pid: int) -> list[int]:
    """pid and its children (the --processes N supervisor's workers), from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return [pid, *children]


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def order_body(rng: random.Random, external_id: str) -> dict:
    body = new_order([(rng.choice(SKUS), 1)], paid=True, external_id=external_id)
    province, city, district = rng.choice(PROVINCES)
    body["buyer"] |= {"province": province, "city": city, "district": district}
    return body


async def burst(hub: Hub, db_url: str, prefix: str, count: int, concurrency: int, seed: int,
                timeout_s: float) -> tuple[dict[str, float], dict[str, float], Counter[str], float, float]:
    """Post `count` orders (at most `concurrency` in flight) and wait until every one is at
    AWAITING_SCAN (or stuck elsewhere past the timeout). Returns POST start times (epoch), POST
    latencies, POST status codes, the first POST's start and the time waiting ended."""
    rng, sem = random.Random(seed), asyncio.Semaphore(concurrency)
    started: dict[str, float] = {}
    post_s: dict[str, float] = {}
    codes: Counter[str] = Counter()

    async def post(i: int) -> None:
        body = order_body(rng, f"{prefix}{i:05d}")
        async with sem:
            t0 = time.time()
            response = await hub.post_order(body)
            oid = order_id_for(body["channel"], body["shop"], body["external_id"])
            started[oid], post_s[oid] = t0, time.time() - t0
            codes[str(response.status_code)] += 1

    t_first = time.time()
    posting = asyncio.gather(*(post(i) for i in range(count)))
    deadline = time.monotonic() + timeout_s
    while True:
        await asyncio.sleep(0.25)
        done = await statuses(db_url, prefix)
        if posting.done() and done.get("AWAITING_SCAN", 0) >= count:
            break
        if time.monotonic() > deadline:
            break
    await posting
    return started, post_s, codes, t_first, time.time()


async def run_processes(n: int, args: argparse.Namespace, temporal_address: str, sandbox_url: str,
                        tmp: Path, console: Console) -> Run:
    run = Run(n, args.orders)
    tag = uuid.uuid4().hex[:4]  # workflow ids of this run only: an id reused later would join the old run
    async with database(args.db, tmp) as db_url:
        settings = Settings(_env_file=None, database_url=db_url, temporal_address=temporal_address,
                            sandbox_url=sandbox_url, task_queue=f"bench-scaleout-{n}-{uuid.uuid4().hex[:6]}",
                            push_stock=False, api_port=stack.free_port(), data_dir=tmp)
        env = {"DATABASE_URL": db_url, "ORDERHUB_TEMPORAL_ADDRESS": temporal_address,
               "ORDERHUB_SANDBOX_URL": sandbox_url, "ORDERHUB_TASK_QUEUE": settings.task_queue,
               "ORDERHUB_PUSH_STOCK": "false", "ORDERHUB_LOG_LEVEL": args.log_level}
        log = (tmp / f"worker-{n}.log").open("wb")
        worker = stack.spawn([str(stack.BIN / "orderhub"), "worker", "--processes", str(n)], env=env,
                             stdout=log, stderr=subprocess.STDOUT)
        try:
            client = await connect(settings)
            deadline = time.monotonic() + 60
            while await poller_count(client, settings.task_queue) < n:
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker --processes {n} did not come up; see {log.name}")
                await asyncio.sleep(0.2)
            tokens = {role: await issue_token(db_url, role) for role in ("channel", "operator")}
            async with stack.serving_api(settings, client) as api_url, \
                    httpx.AsyncClient(base_url=api_url, timeout=120,
                                      limits=httpx.Limits(max_connections=args.concurrency + 10)) as http:
                hub = Hub(http, tokens)
                await burst(hub, db_url, f"W{n}{tag}x", WARMUP, WARMUP, args.seed, timeout_s=60)
                if len(await reached_scan(db_url, f"W{n}{tag}x")) < WARMUP:
                    raise RuntimeError(f"warm-up orders did not reach AWAITING_SCAN; see {log.name}")
                console.print(f"[dim]--processes {n}: warmed up; posting {args.orders} orders[/dim]")
                prefix = f"B{n}{tag}x"
                pids = process_tree(worker.pid)
                run.loadavg_before = os.getloadavg()
                cpu_before = cpu_seconds(pids)
                started, post_s, codes, t_first, _ = await burst(
                    hub, db_url, prefix, args.orders, args.concurrency, args.seed, timeout_s=args.timeout)
                run.worker_cpu_s = cpu_seconds(pids) - cpu_before
                reached = await reached_scan(db_url, prefix)
                run.statuses = dict(await statuses(db_url, prefix))
                run.post_codes = dict(codes)
                run.post_s = list(post_s.values())
                run.scan_s = [at.timestamp() - started[oid] for oid, at in reached.items() if oid in started]
                run.makespan_s = max((at.timestamp() for at in reached.values()), default=t_first) - t_first
            await end_run(client, settings.task_queue)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(40)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            log.close()
    return run


async def end_run(client: Client, task_queue: str) -> None:
    """Terminate the run's orders (all waiting for a scan) so the next run meets an idle server."""
    sem = asyncio.Semaphore(20)

    async def terminate(workflow_id: str, run_id: str | None) -> None:
        async with sem:
            await client.get_workflow_handle(workflow_id, run_id=run_id).terminate("benchmark run over")

    query = f'TaskQueue = "{task_queue}" AND ExecutionStatus = "Running"'
    await asyncio.gather(*[terminate(w.id, w.run_id) async for w in client.list_workflows(query)],
                         return_exceptions=True)


@asynccontextmanager
async def sandbox() -> AsyncIterator[str]:
    """The sandbox (parcels signed for at once) on a free port, its log lines kept off the console."""
    port = stack.free_port()
    proc = stack.spawn(stack.sandbox_command("127.0.0.1", port), env={"SANDBOX_DELIVERY_DELAY_S": "0"},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await stack.wait_for_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stack.stop(proc)


def table(runs: list[Run], title: str) -> Table:
    t = Table(title=title)
    for col in ("worker processes", "orders", "reached", "orders/s", "POST p50", "POST p99",
                "to AWAITING_SCAN p50", "p99", "max", "burst done", "worker CPU/order", "worker cores busy"):
        t.add_column(col, justify="right")
    for r in runs:
        s = r.summary()
        t.add_row(str(r.processes), str(r.orders), str(s["reached_awaiting_scan"]), f"{r.throughput:.1f}",
                  f"{s['post_p50_s']:.2f}s", f"{s['post_p99_s']:.2f}s", f"{s['to_awaiting_scan_p50_s']:.2f}s",
                  f"{s['to_awaiting_scan_p99_s']:.2f}s", f"{s['to_awaiting_scan_max_s']:.2f}s", f"{r.makespan_s:.1f}s",
                  f"{s['worker_cpu_ms_per_order']:.0f} ms", f"{s['worker_cores_busy']:.2f}")
    return t


async def main(args: argparse.Namespace, console: Console) -> list[Run]:
    with tempfile.TemporaryDirectory(prefix="orderhub-scaleout-") as tmp_name:
        tmp = Path(tmp_name)
        base = Settings(_env_file=None, temporal_address=f"127.0.0.1:{stack.free_port()}",
                        temporal_ui_port=stack.free_port())
        server = stack.spawn(stack.temporal_dev_server_command(base, None),  # in memory
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            host, _, port = base.temporal_address.rpartition(":")
            stack.wait_for_port(host, int(port), proc=server)
            async with sandbox() as sandbox_url:
                runs = []
                for n in [n for _ in range(args.rounds) for n in args.processes]:
                    runs.append(await run_processes(n, args, base.temporal_address, sandbox_url, tmp, console))
                    console.print(table(runs[-1:], f"--processes {n}"))
                return runs
        finally:
            stack.stop(server)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=300, help="orders in the burst")
    parser.add_argument("--processes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2],
                        help="comma-separated worker process counts to compare (default 1,2)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole comparison, alternating")
    parser.add_argument("--concurrency", type=int, default=50, help="POSTs in flight at most")
    parser.add_argument("--db", choices=("pg", "sqlite"), default="pg")
    parser.add_argument("--timeout", type=float, default=240, help="seconds to wait for the burst")
    parser.add_argument("--log-level", default="INFO", help="the workers' ORDERHUB_LOG_LEVEL")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    # The API runs in this process: keep its structlog lines (one per order) off the console.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    console = Console(width=140)
    runs = asyncio.run(main(args, console))
    title = (f"{args.orders} paid orders, {args.concurrency} in flight, {args.db}, "
             f"{os.cpu_count()} cores: POST -> AWAITING_SCAN")
    console.print(table(runs, title))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "cpu_count": os.cpu_count(),
        "orders": args.orders, "concurrency": args.concurrency, "db": args.db, "worker_log_level": args.log_level,
        "runs": [r.summary() for r in runs],
        "raw": [asdict(r) for r in runs],
    }, indent=2) + "\n")
    console.print(f"written {args.results}")


if __name__ == "__main__":
    cli()
