"""`orderhub dev`: the whole stack in the foreground until Ctrl-C stops all of it."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time

from rich.console import Console
from rich.table import Table

from models.config import Settings
from models.db import dispose_engines, upgrade
from models.principals import ensure_dev_principals
from models.rules import DEFAULT_RULES_FILE
from models.seed import seed_demo, seed_sandbox_shops
from workers import stack


async def prepare(settings: Settings) -> tuple[bool, dict[str, str]]:
    """Migrate, seed an empty database (warehouses, SKUs, one sandbox shop per channel), and make
    sure every role has a token (principals `dev-<role>`)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.rules_file == DEFAULT_RULES_FILE:
        # The stack runs on a copy of its own: edit it freely, the processes reload it within a second.
        local = settings.data_dir / "rules.yaml"
        if not local.exists():
            shutil.copy(DEFAULT_RULES_FILE, local)
        settings.rules_file = local.resolve()
    await upgrade(settings.db_url)
    seeded = await seed_demo(settings.db_url)
    await seed_sandbox_shops(settings.db_url)
    tokens = await ensure_dev_principals(settings.db_url, settings.tokens_file)
    await dispose_engines()
    return seeded, tokens


def _port_in_use(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        stack.wait_for_port(host, int(port), timeout_s=0.2)
        return True
    except TimeoutError:
        return False


def run_dev(settings: Settings, console: Console) -> int:
    seeded, tokens = asyncio.run(prepare(settings))
    if _port_in_use(settings.temporal_address):
        console.print(f"[red]{settings.temporal_address} is already in use: is another `make dev` running?[/red]")
        return 1

    host, _, port = settings.temporal_address.rpartition(":")
    procs: dict[str, subprocess.Popen] = {}
    try:
        console.print("starting Temporal dev server ...")
        procs["temporal"] = stack.spawn(stack.temporal_dev_server_command(settings, settings.data_dir / "temporal.db"))
        stack.wait_for_port(host, int(port), timeout_s=60, proc=procs["temporal"])
        stack.wait_for_port(host, settings.temporal_ui_port, timeout_s=60, proc=procs["temporal"])

        orderhub = [stack.BIN / "orderhub"]
        # The sandbox's Shopify and own store push their webhooks to this stack's API.
        procs["sandbox"] = stack.spawn([str(orderhub[0]), "sandbox"], env={"SANDBOX_HUB_URL": settings.api_base_url})
        stack.wait_for_port(settings.sandbox_host, settings.sandbox_port, proc=procs["sandbox"])
        rules = {"ORDERHUB_RULES_FILE": str(settings.rules_file)}
        procs["worker"] = stack.spawn([str(orderhub[0]), "worker"], env=rules)
        procs["api"] = stack.spawn([str(orderhub[0]), "api"], env=rules)
        stack.wait_for_port(settings.api_host, settings.api_port, proc=procs["api"])

        _banner(console, settings, seeded, tokens)
        return _supervise(procs, console)
    except KeyboardInterrupt:
        return 0
    finally:
        for name in ("api", "worker", "sandbox", "temporal"):
            if name in procs:
                stack.stop(procs[name])


def _supervise(procs: dict[str, subprocess.Popen], console: Console) -> int:
    """Wait for Ctrl-C (or SIGTERM); if any part dies, stop the rest and say which."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    while True:
        for name, proc in procs.items():
            if proc.poll() is not None:
                console.print(f"[red]{name} exited with {proc.returncode}; stopping the stack[/red]")
                return proc.returncode or 1
        time.sleep(0.5)


def _banner(console: Console, settings: Settings, seeded: bool, tokens: dict[str, str]) -> None:
    host = settings.temporal_address.rpartition(":")[0]
    table = Table(title="OrderHub dev stack", show_header=False)
    table.add_row("API", f"http://{settings.api_host}:{settings.api_port}  (docs: /docs)")
    table.add_row("Temporal UI", f"http://{host}:{settings.temporal_ui_port}")
    table.add_row("Temporal gRPC", settings.temporal_address)
    table.add_row("Sandbox", f"{settings.sandbox_base_url}  (records: /_sandbox/records)")
    table.add_row("Database", settings.db_url)
    table.add_row("Rules", f"{settings.rules_file}  (GET /v1/rules; reloaded when edited)")
    table.add_row("Demo data", "seeded" if seeded else "kept (database not empty)")
    for role, token in tokens.items():
        table.add_row(f"token: {role}", token)
    console.print(table)
    console.print(f"tokens written to {settings.tokens_file}; Ctrl-C stops everything")
    console.print(f"try: curl -H 'Authorization: Bearer {tokens['admin']}' "
                  f"http://{settings.api_host}:{settings.api_port}/v1/warehouses", soft_wrap=True)
