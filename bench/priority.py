"""Do vip/urgent orders overtake ordinary ones when the workers are saturated?

    .venv/bin/python -m bench.priority [--orders 200] [--priority-share 0.1] [--strategy all]

Starts its own Temporal dev server (workers/stack.py's command, free ports, a temp db file), then
per strategy starts a burst of orders all at once against a worker with few slots and reports the
start->close time (server clocks) of priority vs ordinary orders:

- none:            one queue, no priority (the FIFO baseline);
- task-priority:   one queue, Priority(priority_key) from models.priority on start, inherited by
                   the activities;
- dedicated-queue: priority orders on a second queue served by its own worker; the slots are split
                   between the two workers so the total equals the single worker's.

The stand-in workflow has an order's shape (a few short activities in a row) without database or
sandbox: what is measured is Temporal's queueing, which OrderWorkflow goes through the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import Priority
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from models.config import Settings
from models.order import Order
from models.priority import priority_for
from workers import stack

STEPS = 4  # reserve, route, waybill, notify: roughly an order's activities before it waits for the carrier
STRATEGIES = ("none", "task-priority", "dedicated-queue")


@activity.defn
async def stand_in_step(step: int) -> int:
    await asyncio.sleep(random.uniform(0.02, 0.05))
    return activity.info().priority.priority_key or 0  # 0: none shown (eagerly dispatched, or none set)


@workflow.defn
class StandInOrder:
    @workflow.run
    async def run(self) -> list[int]:
        # Activities set no priority of their own: they must inherit the workflow's.
        return [await workflow.execute_activity(stand_in_step, i, start_to_close_timeout=timedelta(seconds=60))
                for i in range(STEPS)]


def make_orders(total: int, share: float, seed: int) -> list[Order]:
    """Ordinary orders plus `share` of them tagged urgent or vip (alternately), shuffled."""
    n_priority = round(total * share)
    tags = [["urgent"] if i % 2 == 0 else ["vip"] for i in range(n_priority)] + [[]] * (total - n_priority)
    random.Random(seed).shuffle(tags)
    return [Order.model_validate({
        "channel": "own_store", "external_id": f"B{i:05d}", "priority_tags": t,
        "buyer": {"name": "x", "phone": "13800000000", "province": "上海", "city": "上海市", "address": "x"},
        "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": 100}],
    }) for i, t in enumerate(tags)]


@dataclass
class Run:
    strategy: str
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"priority": [], "ordinary": []})
    # Activities by the priority key activity.info() showed them: the workflow's, none, another.
    seen: Counter[str] = field(default_factory=Counter)
    makespan_s: float = 0.0
    slots: str = ""


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def workers_for(client: Client, args: argparse.Namespace, strategy: str, queue: str) -> tuple[list[Worker], str]:
    slots, priority_slots = args.slots, args.priority_slots

    def worker(task_queue: str, n: int) -> Worker:
        return Worker(client, task_queue=task_queue, workflows=[StandInOrder], activities=[stand_in_step],
                      workflow_runner=UnsandboxedWorkflowRunner(), disable_eager_activity_execution=not args.eager,
                      max_concurrent_activities=n, max_concurrent_workflow_tasks=n)

    if strategy != "dedicated-queue":
        return [worker(queue, slots)], f"{slots} act + {slots} wft"
    ordinary = slots - priority_slots
    return ([worker(queue, ordinary), worker(f"{queue}-priority", priority_slots)],
            f"ordinary {ordinary}+{ordinary}, priority {priority_slots}+{priority_slots}")


async def run_strategy(client: Client, args: argparse.Namespace, strategy: str, orders: list[Order]) -> Run:
    queue = f"bench-{strategy}-{uuid.uuid4().hex[:6]}"
    run = Run(strategy)
    workers, run.slots = workers_for(client, args, strategy, queue)
    for w in workers:
        asyncio.create_task(w.run())
    await asyncio.sleep(1)  # pollers up: the burst meets a running, then saturated, worker

    def start(order: Order):
        urgent = order.priority in ("urgent", "vip")
        return client.start_workflow(
            StandInOrder.run, id=f"{queue}-{order.external_id}",
            task_queue=f"{queue}-priority" if strategy == "dedicated-queue" and urgent else queue,
            priority=priority_for(order) if strategy == "task-priority" else Priority.default,
            execution_timeout=timedelta(minutes=10))

    t0 = time.monotonic()
    handles = await asyncio.gather(*(start(o) for o in orders))
    results = await asyncio.gather(*(h.result() for h in handles))
    run.makespan_s = time.monotonic() - t0
    for w in workers:
        await w.shutdown()

    sem = asyncio.Semaphore(20)

    async def describe(h):
        async with sem:
            return await h.describe()

    for order, desc, keys in zip(orders, await asyncio.gather(*(describe(h) for h in handles)), results, strict=False):
        kind = "priority" if order.priority in ("urgent", "vip") else "ordinary"
        run.latencies[kind].append((desc.close_time - desc.start_time).total_seconds())
        if strategy == "task-priority":
            expected = priority_for(order).priority_key
            run.seen.update("inherited" if k == expected else "none" if k == 0 else "other" for k in keys)
    return run


def table(runs: list[Run], title: str) -> Table:
    t = Table(title=title)
    for col in ("strategy", "slots (act+wft)", "priority p50", "priority p95",
                "ordinary p50", "ordinary p95", "burst done"):
        t.add_column(col, justify="left" if col.startswith(("strategy", "slots")) else "right")
    for r in runs:
        p, o = r.latencies["priority"], r.latencies["ordinary"]
        t.add_row(r.strategy, r.slots, f"{pct(p, 50):.2f}s", f"{pct(p, 95):.2f}s",
                  f"{pct(o, 50):.2f}s", f"{pct(o, 95):.2f}s", f"{r.makespan_s:.1f}s")
    return t


def markdown(runs: list[Run], title: str, command: str, notes: list[str]) -> str:
    server = subprocess.run([stack.temporal_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    lines = [f"## {title}", "", f"`{command}`", "", f"{os.cpu_count()} cores; {server}; start->close per order.", "",
             "| strategy | slots (activity + workflow task) | priority p50 | priority p95 | ordinary p50 "
             "| ordinary p95 | burst done |", "|---|---|--:|--:|--:|--:|--:|"]
    for r in runs:
        p, o = r.latencies["priority"], r.latencies["ordinary"]
        lines.append(f"| {r.strategy} | {r.slots} | {pct(p, 50):.2f}s | {pct(p, 95):.2f}s | {pct(o, 50):.2f}s "
                     f"| {pct(o, 95):.2f}s | {r.makespan_s:.1f}s |")
    return "\n".join([*lines, "", *notes, ""])


async def main(args: argparse.Namespace) -> list[Run]:
    settings = Settings(temporal_address=f"127.0.0.1:{stack.free_port()}", temporal_ui_port=stack.free_port())
    with tempfile.TemporaryDirectory() as tmp:
        cmd = stack.temporal_dev_server_command(settings, Path(tmp) / "temporal.db")
        for kv in args.dynamic_config:  # to compare matcher settings, e.g. matching.useNewMatcher=false
            cmd += ["--dynamic-config-value", kv]
        server = stack.spawn(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # its shutdown warnings
        try:
            host, _, port = settings.temporal_address.rpartition(":")
            stack.wait_for_port(host, int(port), proc=server)
            client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
            orders = make_orders(args.orders, args.priority_share, args.seed)
            strategies = STRATEGIES if args.strategy == "all" else (args.strategy,)
            return [await run_strategy(client, args, s, orders) for s in strategies]
        finally:
            stack.stop(server)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.priority", description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=200, help="orders in the burst, all kinds")
    parser.add_argument("--priority-share", type=float, default=0.1, help="share tagged urgent or vip")
    parser.add_argument("--strategy", choices=(*STRATEGIES, "all"), default="all")
    # A worker with a single workflow-task slot stalls (measured: 30 orders in 55 s where ~10 s was
    # expected): dedicated-queue needs at least 2 per worker, hence 4 in total.
    parser.add_argument("--slots", type=int, default=4, help="activity and workflow-task slots in total")
    parser.add_argument("--priority-slots", type=int, default=None,
                        help="dedicated-queue: the priority worker's share of --slots (default half)")
    parser.add_argument("--dynamic-config", action="append", default=[], metavar="KEY=VALUE",
                        help="extra dev-server dynamic config, repeatable")
    parser.add_argument("--no-eager", dest="eager", action="store_false",
                        help="disable eager activity execution (on by default, as in OrderHub's worker)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("PRIORITY.md"),
                        help="markdown file the results are appended to")
    args = parser.parse_args()
    args.priority_slots = args.priority_slots or max(1, args.slots // 2)
    if args.strategy in ("dedicated-queue", "all") and not 0 < args.priority_slots < args.slots:
        parser.error("dedicated-queue needs 0 < --priority-slots < --slots")

    runs = asyncio.run(main(args))
    n_priority = round(args.orders * args.priority_share)
    title = (f"{args.orders} orders ({n_priority} urgent/vip) started at once, {args.slots} slots"
             + ("" if args.eager else ", eager activities off")
             + (f", {' '.join(args.dynamic_config)}" if args.dynamic_config else ""))
    Console(width=120).print(table(runs, title))
    # An eagerly dispatched activity (handed to the worker with the workflow task, never queued)
    # shows no priority in activity.info(): "none" counts those.
    notes = [f"task-priority, priority key in activity.info() of the {r.seen.total()} activities: "
             + ", ".join(f"{k} {n}" for k, n in sorted(r.seen.items())) + "."
             for r in runs if r.strategy == "task-priority"]
    command = " ".join([".venv/bin/python -m bench.priority", *sys.argv[1:]])
    with args.results.open("a") as f:
        f.write(markdown(runs, f"{date.today()}: {title}", command, notes) + "\n")


if __name__ == "__main__":
    cli()
