"""Fault drills (bench/drills.py) at suite size: a few hundred orders each through the whole stack,
its own Temporal dev server (SQLite file), PostgreSQL database, sandbox, API and worker processes;
`make bench` runs the same drills with 1,000 orders.

Each drill must end with nothing lost or stuck, one waybill per parcel, one refund per cancelled
order, and stock that adds up (on_hand + shipped = initial, nothing left reserved)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bench import drills
from bench.harness import BenchStack, bench_stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

ORDERS = int(os.environ.get("ORDERHUB_DRILL_ORDERS", "200"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def drill_stack() -> AsyncIterator[BenchStack]:
    async with bench_stack(**drills.STACK) as b:
        yield b


def assert_kept_its_promises(result: drills.DrillResult) -> None:
    assert result.orders == ORDERS
    assert result.problems() == [], json.dumps(result.summary(), default=str)[:4000]
    assert result.completed + result.cancelled == ORDERS


async def test_worker_killed_mid_run_and_restarted(drill_stack: BenchStack):
    result = await drills.worker_killed(drill_stack, ORDERS)
    assert_kept_its_promises(result)
    before, after = result.notes["worker_pids"]
    assert before != after and drill_stack.worker.pid == after and drill_stack.worker.poll() is None


async def test_carrier_channel_and_gateway_failing_17_percent_with_latency(drill_stack: BenchStack):
    result = await drills.partner_faults(drill_stack, ORDERS)
    assert_kept_its_promises(result)
    injected = result.notes["injected"]
    assert injected.get("carrier.create_waybill", 0) > 0 and injected.get("own_store.shipback", 0) > 0
    assert result.cancelled > 0  # refunds were asked for while the gateway failed


async def test_temporal_server_restarted_mid_run(drill_stack: BenchStack):
    result = await drills.server_restarted(drill_stack, ORDERS)
    assert_kept_its_promises(result)
    assert len(set(result.notes["server_pids"])) == 2


async def test_database_connection_cut_for_seconds(drill_stack: BenchStack):
    result = await drills.db_cut(drill_stack, ORDERS)
    assert_kept_its_promises(result)
    assert drill_stack.db_link is not None and drill_stack.db_link.cuts == 1


async def test_duplicate_and_out_of_order_webhooks_make_one_order_each(drill_stack: BenchStack):
    result = await drills.webhooks(drill_stack, ORDERS)
    assert result.problems() == [], json.dumps(result.summary(), default=str)[:4000]
    assert result.completed + result.cancelled == ORDERS
    assert result.notes["delivered_twice"] > 0 and result.notes["all_delivered"]
