"""Recorded workflow histories (orders, after-sales tickets, channel and stock syncs) replay against the current code (same data converter).
A control-flow change that breaks one of them must use workflow.patched, or the histories are
re-recorded on purpose with `orderhub histories record`. `--from-server` replays what a server ran."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rich.console import Console
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.workflow import NondeterminismError
from typer.testing import CliRunner

from models.order_workflow import OrderWorkflowInput
from orderkit import make_order, running_worker, settings_for, submit, wait_until
from workers.cli import app
from workers.histories import (
    HISTORY_PREFIX,
    SERVER_QUERY,
    build_replayer,
    recorded,
    replay,
    replay_from_server,
    server_report,
)
from workers.scenarios import AFTER_SALES_SCENARIOS, CHANNEL_SCENARIOS, SCENARIOS

HISTORIES = Path(__file__).parent / "histories"


def test_every_branch_has_a_recorded_history():
    expected = [f"order_{name}" for name in SCENARIOS] + [
        f"{prefix}{name}" for name in CHANNEL_SCENARIOS for prefix in ("channel_sync_", "stock_sync_")] + [
        f"after_sales_{name}" for name in AFTER_SALES_SCENARIOS] + [
        "order_refund_before_shipping",  # the order's side of the ticket that stopped it
        "order_exchange_other_sku",  # the replacement order of an exchange for another SKU, pushed to the platform
        "parcel_merged_parcel", "order_merged_parcel_second_order"]  # the parcel and its other order
    # One generation: every branch recorded once, against the current code.
    assert sorted(p.stem for p in recorded(HISTORIES)) == sorted(expected)


@pytest.mark.parametrize("path", recorded(HISTORIES), ids=lambda p: p.stem)
async def test_history_replays_deterministically(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    workflow_type = history.events[0].workflow_execution_started_event_attributes.workflow_type.name
    assert path.stem.startswith(HISTORY_PREFIX[workflow_type])
    await replay([path])


# Unsandboxed: the sandbox would re-import this test module and its imports; not what is tested here.
@workflow.defn(name="OrderWorkflow", sandboxed=False)
class ChangedOrderWorkflow:
    """OrderWorkflow's name over other code: a deploy that changed what a running order does."""

    @workflow.run
    async def run(self, input: OrderWorkflowInput) -> None:
        await workflow.sleep(3600)


async def test_replay_from_server_replays_the_runs_the_server_lists(dev_env, sqlite_url, sandbox_url):
    client = dev_env.client
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(client, settings):
        _, handle = await submit(client, settings, make_order(paid=True))
    run_id = (await handle.describe()).run_id
    # The default query, narrowed to this run: the shared dev server holds other tests' runs too.
    query = f"({SERVER_QUERY}) AND WorkflowId = '{handle.id}'"
    try:
        await wait_until(lambda: client.count_workflows(query), lambda c: c.count == 1, attempts=200)

        replayed = await replay_from_server(client, query)
        assert [(r.workflow_type, r.workflow_id, r.run_id, r.failure) for r in replayed] == [
            ("OrderWorkflow", handle.id, run_id, None)]

        changed = await replay_from_server(client, query, replayer=build_replayer([ChangedOrderWorkflow]))
        assert [(r.workflow_id, type(r.failure)) for r in changed] == [(handle.id, NondeterminismError)]
        console = Console(record=True, width=200)
        assert not server_report(changed, "dev", console)
        assert f"{handle.id} ({run_id}): " in console.export_text()

        # The command: the project's settings pick the server; every run listed, exit 0 when all replay.
        address = client.service_client.config.target_host
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["histories", "replay", "--from-server", "--query", query, "--limit", "5"],
            env={"ORDERHUB_TEMPORAL_ADDRESS": address, "ORDERHUB_TEMPORAL_NAMESPACE": client.namespace,
                 "COLUMNS": "60"})  # a narrow terminal: the ids are still whole
        assert result.exit_code == 0, result.output
        assert handle.id in result.output and "deterministic" in result.output
        assert "1 run(s)" in result.output
    finally:
        await handle.terminate("test over")


def test_replay_options_for_the_server_need_from_server():
    result = CliRunner().invoke(app, ["histories", "replay", "--limit", "5"])
    assert result.exit_code == 2
    assert "--from-server" in result.output
