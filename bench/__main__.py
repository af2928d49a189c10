"""`make bench` / `make bench-smoke`: the hub's numbers next to bare Temporal's, in the same run.

    .venv/bin/python -m bench [--smoke] [--out bench/results/latest.json]

- happy_path: paid orders posted through the API and walked to COMPLETED (a warehouse loop reads the
  orders awaiting their scan every 0.2 s and scans them; the sandbox carrier signs at once), next to
  BaselineOrder doing the same number and kinds of steps with no-op bodies (bench/baseline.py).
- flash_sale: many concurrent clients post unpaid orders for one SKU with less stock than orders;
  every order must be answered (reserved or held short), exactly the stock reserved, none oversold,
  none lost; next to bare update-with-start of BaselineOrder.
- footprint: the flash sale's orders left open (awaiting payment or held) on one worker: its RSS, and
  the payment deadline firing for every one of them.
- fault_drills (full size only): bench/drills.py with 1,000 orders each on a stack of their own.

`--only SECTION[,SECTION]` runs some sections and keeps the others' figures already in `--out`;
`--drills NAME[,NAME]` the same for the fault drills.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from bench import drills
from bench.baseline import BaselineOrder, Nothing, Shape, shape_of
from bench.harness import BASELINE_QUEUE, BenchStack, bench_stack, machine
from models.db import session_scope
from models.tables import OrderRecord, Reservation
from workers.scenarios import new_order

SIZES = {
    "full": dict(happy=400, happy_clients=40, flash=10_000, stock=8_000, flash_clients=100, payment_timeout_s=720,
                 drill_orders=1000),
    "smoke": dict(happy=20, happy_clients=10, flash=200, stock=160, flash_clients=20, payment_timeout_s=75,
                  drill_orders=0),
}
SECTIONS = ("happy_path", "flash_sale", "footprint", "fault_drills")
FLASH_SKU = "FLASH-1"


def ms(seconds: list[float], q: float) -> float:
    if not seconds:
        return 0.0
    ordered = sorted(seconds)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def clients(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run one(i) for i < n from `concurrency` clients; the elapsed seconds."""
    items = iter(range(n))
    started = time.perf_counter()

    async def client() -> None:
        for i in items:
            await one(i)
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started


def cpu_ms_per_order(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    return {key: round(1000 * (after[key] - before[key]) / n, 1) for key in before}


async def warehouse(b: BenchStack, stop: asyncio.Event, every_s: float = 0.2) -> None:
    """The warehouse's pick list: what waits for its scan, read every `every_s`; each parcel scanned once."""
    scanned: set[str] = set()
    operator = b.hub._auth("operator")
    while not stop.is_set():
        listed = await b.hub.http.get("/v1/orders", params={"status": "AWAITING_SCAN", "page_size": 500},
                                      headers=operator)
        todo = [o["order_id"] for o in listed.json()["items"] if o["order_id"] not in scanned]
        answers = await asyncio.gather(*(b.hub.act(order_id, "shipment") for order_id in todo))
        scanned.update(order_id for order_id, a in zip(todo, answers, strict=True) if a.status_code == 200)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def happy_path(b: BenchStack, n: int, concurrency: int) -> tuple[dict[str, Any], Shape]:
    latencies: list[float] = []
    workflow_ids: list[str] = []

    async def hub_order(_: int) -> None:
        t0 = time.perf_counter()
        order_id = (await b.hub.post_order(new_order([("SKU-1", 1)], paid=True))).json()["order_id"]
        await b.client.get_workflow_handle(f"order-{order_id}").result()  # the warehouse scans it meanwhile
        latencies.append(time.perf_counter() - t0)
        workflow_ids.append(f"order-{order_id}")

    stop = asyncio.Event()
    scanning = asyncio.create_task(warehouse(b, stop))
    cpu_before = b.cpu_seconds()
    elapsed = await clients(n, concurrency, hub_order)
    hub_cpu = cpu_ms_per_order(cpu_before, b.cpu_seconds(), n)
    stop.set()
    await scanning
    histories = [await b.client.get_workflow_handle(w).fetch_history() for w in workflow_ids[:10]]
    shape = shape_of(histories[0].events)

    base_latencies: list[float] = []
    base_ids: list[str] = []

    async def baseline_order(_: int) -> None:
        t0 = time.perf_counter()
        start = WithStartWorkflowOperation(BaselineOrder.run, shape, id=f"baseline-{uuid.uuid4().hex}",
                                           task_queue=BASELINE_QUEUE,
                                           id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
        await b.client.execute_update_with_start_workflow(BaselineOrder.decision, Nothing(),
                                                          start_workflow_operation=start)
        handle = await start.workflow_handle()
        await handle.execute_update(BaselineOrder.scan, Nothing())
        await handle.signal(BaselineOrder.delivered, Nothing())
        await handle.result()
        base_latencies.append(time.perf_counter() - t0)
        base_ids.append(handle.id)

    cpu_before = b.cpu_seconds()
    base_elapsed = await clients(n, concurrency, baseline_order)
    base_cpu = cpu_ms_per_order(cpu_before, b.cpu_seconds(), n)
    base_history = await b.client.get_workflow_handle(base_ids[0]).fetch_history()
    hub_rate, base_rate = n / elapsed, n / base_elapsed
    return {
        "orders": n, "clients": concurrency, "hub_orders_per_s": round(hub_rate, 2),
        "baseline_per_s": round(base_rate, 2), "ratio": round(hub_rate / base_rate, 3),
        "p50_ms": ms(latencies, 0.5), "p99_ms": ms(latencies, 0.99),
        "baseline_p50_ms": ms(base_latencies, 0.5), "baseline_p99_ms": ms(base_latencies, 0.99),
        "history_events_per_order": round(statistics.mean(len(h.events) for h in histories), 1),
        "baseline_history_events": len(base_history.events), "steps": shape.model_dump(),
        # CPU per order: the hub's server and worker processes, and the whole machine (the baseline's
        # worker runs in the harness, so its machine figure is the one to compare).
        "cpu_ms_per_order": hub_cpu, "baseline_machine_cpu_ms_per_order": base_cpu["machine"],
        "baseline_server_cpu_ms_per_order": base_cpu["server"],
    }, shape


async def flash_sale(b: BenchStack, n: int, stock: int, concurrency: int, shape: Shape) -> dict[str, Any]:
    """Bare update-with-start first, then the hub: the hub's orders stay open afterwards (footprint),
    and their payment deadlines must not fire while the baseline is being measured."""
    base_took: list[float] = []
    base_retries = 0
    # The hub's flash orders are unpaid: answered, they wait for the payment. So does the baseline
    # (the happy path's later steps would run on, into the hub's turn on the machine).
    shape = Shape(local_before_answer=shape.local_before_answer, local_before_scan=0, remote_before_scan=0,
                  local_after_scan=0, remote_after_scan=0, local_after_delivery=0)

    async def baseline_buyer(_: int) -> None:
        nonlocal base_retries
        t0 = time.perf_counter()
        workflow_id = f"flash-baseline-{uuid.uuid4().hex}"
        while True:  # an overloaded server times the call out: the same start again, as the API would
            start = WithStartWorkflowOperation(BaselineOrder.run, shape, id=workflow_id, task_queue=BASELINE_QUEUE,
                                               id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
            try:
                await b.client.execute_update_with_start_workflow(BaselineOrder.decision, Nothing(),
                                                                  start_workflow_operation=start)
                break
            except (WorkflowUpdateRPCTimeoutOrCancelledError, RPCError):
                base_retries += 1
        base_took.append(time.perf_counter() - t0)

    cpu_before = b.cpu_seconds()
    base_elapsed = await clients(n, concurrency, baseline_buyer)
    base_cpu = cpu_ms_per_order(cpu_before, b.cpu_seconds(), n)

    operator = b.hub._auth("operator")
    (await b.hub.http.put(f"/v1/stock/{FLASH_SKU}", json={"warehouse": "WH-SH", "on_hand": stock, "safety_stock": 0},
                          headers=operator)).raise_for_status()
    answers: list[tuple[float, float, int, str, str]] = []  # at, took, code, status, order_id
    retries = 0
    started = time.perf_counter()

    async def buyer(_: int) -> None:
        nonlocal retries
        t0 = time.perf_counter()
        response, failed = await b.post_until_answered(new_order([(FLASH_SKU, 1)], paid=False))
        retries += failed
        body = response.json()
        answers.append((time.perf_counter() - started, time.perf_counter() - t0, response.status_code,
                        body.get("status", ""), body.get("order_id", "")))

    cpu_before = b.cpu_seconds()
    elapsed = await clients(n, concurrency, buyer)
    hub_cpu = cpu_ms_per_order(cpu_before, b.cpu_seconds(), n)
    reserved_at = sorted(at for at, _, code, status, _ in answers if code in (200, 201) and status != "ON_HOLD")
    late = [order_id for _, _, code, _, order_id in answers if code == 202]
    for order_id in late:  # accepted without an answer in time: the decision must still come
        await b.hub.wait_status(order_id, "AWAITING_PAYMENT", "ON_HOLD", timeout_s=300)
    async with session_scope(b.settings.db_url) as session:
        reserved = await session.scalar(select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
            Reservation.sku == FLASH_SKU, Reservation.status == "RESERVED"))
        found = await session.scalar(select(func.count()).select_from(OrderRecord).where(
            OrderRecord.order_id.in_([a[4] for a in answers])))
        # Every order is open now (awaiting payment, or held short): the worker's memory at its fullest.
        b.peak_open = await session.scalar(select(func.count()).select_from(OrderRecord).where(
            OrderRecord.order_id.in_([a[4] for a in answers]), OrderRecord.status.not_in(["COMPLETED", "CANCELLED"])))
    b.peak_rss_mb = b.worker_rss_mb()
    rate, base_rate = n / elapsed, n / base_elapsed
    return {
        "orders": n, "stock": stock, "clients": concurrency, "reserved": reserved,
        "oversold": max(0, reserved - stock), "lost": n - found,
        "answered": sum(1 for a in answers if a[2] in (200, 201)), "answered_late": len(late),
        "refused": sum(1 for a in answers if a[2] >= 400), "retried": retries, "baseline_retried": base_retries,
        "accept_per_s": round(rate, 2), "baseline_accept_per_s": round(base_rate, 2),
        "ratio": round(rate / base_rate, 3), "accept_p50_ms": ms([a[1] for a in answers], 0.5),
        "accept_p99_ms": ms([a[1] for a in answers], 0.99), "baseline_accept_p50_ms": ms(base_took, 0.5),
        "baseline_accept_p99_ms": ms(base_took, 0.99),
        "sold_out_s": round(reserved_at[stock - 1], 1) if len(reserved_at) >= stock else None,
        "cpu_ms_per_order": hub_cpu, "baseline_machine_cpu_ms_per_order": base_cpu["machine"],
        "baseline_server_cpu_ms_per_order": base_cpu["server"],
    }


async def footprint(b: BenchStack, order_ids_since: datetime, deadline_s: float) -> dict[str, Any]:
    async def counts() -> tuple[int, int]:
        async with session_scope(b.settings.db_url) as session:
            rows = (await session.execute(select(OrderRecord.status).where(
                OrderRecord.created_at >= order_ids_since))).scalars().all()
        return sum(s not in ("COMPLETED", "CANCELLED") for s in rows), sum(s == "CANCELLED" for s in rows)

    open_orders, rss = b.peak_open, b.peak_rss_mb  # taken when the flash sale ended
    waited = time.perf_counter()
    cancelled = 0
    while time.perf_counter() - waited < deadline_s:
        still_open, cancelled = await counts()
        if still_open == 0:
            break
        await asyncio.sleep(2)
    return {"open_orders": open_orders, "worker_rss_mb": round(rss, 1), "deadline_cancelled": cancelled,
            "deadline_missed": open_orders - cancelled}


async def run(size: str, sections: set[str], save: Callable[[dict[str, Any]], None],
              drill_names: tuple[str, ...] = drills.DRILLS, drills_before: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    """The sections asked for; `save` gets the results so far after each (a crash keeps what was measured)."""
    sizes = SIZES[size]
    results: dict[str, Any] = {"size": size, "at": datetime.now(UTC).isoformat(timespec="seconds"),
                               "machine": machine()}
    if sections & {"happy_path", "flash_sale", "footprint"}:
        async with bench_stack(payment_timeout_s=sizes["payment_timeout_s"]) as b:
            # The flash sale's baseline takes the happy path's shape: measured even when not reported.
            happy, shape = await happy_path(b, sizes["happy"], sizes["happy_clients"])
            if "happy_path" in sections:
                results["happy_path"] = happy
                save(results)
            if sections & {"flash_sale", "footprint"}:
                flash_started = datetime.now(UTC)
                results["flash_sale"] = await flash_sale(b, sizes["flash"], sizes["stock"], sizes["flash_clients"],
                                                         shape)
                save(results)
                results["footprint"] = await footprint(b, flash_started, deadline_s=sizes["payment_timeout_s"] + 300)
                save(results)
    if "fault_drills" in sections and sizes["drill_orders"]:
        results["fault_drills"] = dict(drills_before or {})  # the drills not run again keep their figures
        async with bench_stack(**drills.STACK) as b:
            for name in drill_names:
                results["fault_drills"].update(await drills.run_drills(b, sizes["drill_orders"], (name,)))
                save(results)
    return results


def report(results: dict[str, Any], console: Console) -> None:
    for section in SECTIONS:
        if section not in results:
            continue
        table = Table(title=section, show_header=False)
        for key, value in results[section].items():
            table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
        console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a small run, under 3 minutes")
    parser.add_argument("--out", type=Path, default=Path("bench/results/latest.json"))
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--drills", default=",".join(drills.DRILLS), help="with fault_drills: which of them")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    if not sections <= set(SECTIONS):
        parser.error(f"--only: unknown section(s) {', '.join(sorted(sections - set(SECTIONS)))}")
    drill_names = tuple(args.drills.split(","))
    if not set(drill_names) <= set(drills.DRILLS):
        parser.error(f"--drills: of {', '.join(drills.DRILLS)}")
    partial = sections != set(SECTIONS) or drill_names != drills.DRILLS
    earlier = json.loads(args.out.read_text()) if args.out.exists() and partial else {}

    def save(results: dict[str, Any]) -> None:  # a partial run keeps the other sections' figures
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**earlier, **results}, indent=2, default=str) + "\n")

    results = asyncio.run(run("smoke" if args.smoke else "full", sections, save, drill_names,
                              earlier.get("fault_drills")))
    save(results)
    report(results, Console())
    Console().print(f"written to {args.out}")


if __name__ == "__main__":
    main()
