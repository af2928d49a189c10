"""The `orderhub` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from models.config import get_settings
from models.logs import configure_logging
from workers.tokens import app as token_app

app = typer.Typer(help="OrderHub: every order a durable Temporal workflow.", no_args_is_help=True)
histories_app = typer.Typer(help="Recorded OrderWorkflow histories (replayed by the test suite).",
                            no_args_is_help=True)
app.add_typer(histories_app, name="histories")
app.add_typer(token_app, name="token")
console = Console()


def _audited(action: str, **fields: object) -> None:
    """The audit entry of a command that ran outside an event loop of its own (actor `cli`, the OS user)."""
    import asyncio

    from models.audit import cli_audit
    from models.db import dispose_engines

    async def go() -> int | None:
        try:
            return await cli_audit(get_settings().db_url, action, **fields)
        finally:
            await dispose_engines()

    if asyncio.run(go()) is None:
        console.print("[yellow]warning[/yellow]: the audit entry of this command was not written (see the log)")


@app.command()
def dev() -> None:
    """Run the whole stack in the foreground: Temporal dev server + UI, sandbox, worker, API."""
    from workers.dev import run_dev

    raise typer.Exit(run_dev(get_settings(), console))


@app.command()
def worker(
    processes: Annotated[int, typer.Option(min=1, help="worker processes on this host, all polling the task queue; "
                                                        "above 1 this process supervises them")] = 1,
) -> None:
    """Run the order worker."""
    settings = get_settings()
    configure_logging(settings.log_level, "worker")
    if processes > 1:
        from workers.processes import run_processes

        raise typer.Exit(run_processes(settings, processes))
    from workers.worker import main

    main(settings)


@app.command()
def api() -> None:
    """Serve the HTTP API (migrates the database first)."""
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    configure_logging(settings.log_level, "api")
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None)


@app.command()
def sandbox() -> None:
    """Serve the platform sandbox (carriers, payment gateway, own store)."""
    import uvicorn

    from workers.stack import SANDBOX_APP

    settings = get_settings()
    configure_logging(settings.log_level, "sandbox")
    # By name, as stack.sandbox_command does: only tests import the sandbox; it reads SANDBOX_* itself.
    uvicorn.run(SANDBOX_APP, factory=True, host=settings.sandbox_host, port=settings.sandbox_port, log_config=None)


@app.command()
def simulate(
    platform: Annotated[str, typer.Option(help="taobao|jd|pinduoduo|douyin|shopify|own_store|all")] = "all",
    count: Annotated[int, typer.Option(min=1, help="orders per platform")] = 10,
    rate: Annotated[float | None, typer.Option(min=0.01, help="orders per second per platform (default: as fast as possible)")] = None,
    duplicates: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of webhooks delivered more than once")] = 0.0,
    shop: Annotated[str, typer.Option(help="the sandbox shop, as registered in the hub")] = "default",
    sku: Annotated[list[str] | None, typer.Option(help="skus the orders buy (repeat; default the demo catalogue)")] = None,
) -> None:
    """Make the sandbox platforms take N orders each, delivered as each platform delivers them:
    a webhook (Shopify, own store) or waiting for the hub's next pull (the marketplaces)."""
    from models.seed import DEMO_SKUS
    from workers.simulate import channels_for, report
    from workers.simulate import simulate as run

    try:
        channels = channels_for(platform)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--platform") from None
    settings = get_settings()
    audit = {"object_type": "shop", "object_id": shop,
             "after": {"platforms": list(channels), "count": count, "duplicates": duplicates}}
    try:
        results = run(settings.sandbox_base_url, channels, count, rate=rate, duplicates=duplicates,
                      skus=sku or [s["code"] for s in DEMO_SKUS], shop=shop, console=console)
    except Exception:
        _audited("cli.simulate", outcome="failed", **audit)
        raise
    report(results, console)
    failed = any(r.failed for r in results.values())
    _audited("cli.simulate", outcome="failed" if failed else "ok", **audit)
    if failed:
        raise typer.Exit(1)


@app.command("simulate-problems")
def simulate_problems(
    count: Annotated[int, typer.Option(min=1, help="orders in the stream (a fraud burst adds three)")] = 40,
    seed: Annotated[int, typer.Option(help="the mix and its details; the same seed, the same stream")] = 7,
    settle_s: Annotated[float, typer.Option(min=1, help="how long to wait for every order to settle")] = 90,
) -> None:
    """Post a stream of orders with seeded problems through the running stack's API, then check that
    every problem order is in the right queue with the right tags and no clean order is held."""
    import asyncio
    import json

    import httpx

    from workers.problems import report, run_stream
    from workers.scenarios import Hub

    settings = get_settings()
    tokens = json.loads(settings.tokens_file.read_text())

    async def go() -> bool:
        async with httpx.AsyncClient(base_url=settings.api_base_url, timeout=60) as http:
            return report(await run_stream(Hub(http, tokens, settings.sandbox_base_url), count, seed, settle_s=settle_s), console)

    try:
        passed = asyncio.run(go())
    except Exception:
        _audited("cli.simulate_problems", outcome="failed", after={"count": count, "seed": seed})
        raise
    _audited("cli.simulate_problems", outcome="ok" if passed else "failed", after={"count": count, "seed": seed})
    if not passed:
        raise typer.Exit(1)


def _day(text: str, param: str = "--date"):  # type: ignore[no-untyped-def]
    from models.reconciliation import parse_day

    try:
        return parse_day(text)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint=param) from None


@app.command()
def reconcile(
    date: Annotated[str, typer.Option(help="the day to reconcile, YYYY-MM-DD (in ORDERHUB_RECONCILE_TIME_ZONE)")],
    notify: Annotated[bool, typer.Option(help="tell the finance robot when the day has differences")] = True,
) -> None:
    """Reconcile one day now, through its workflow (reconcile-<date>), and print the summary. Running a day
    again replaces its report."""
    import asyncio

    from rich.table import Table

    from activities.clients.connection import connect
    from activities.clients.reconciliation import reconcile_day
    from models.audit import cli_audit

    day = _day(date)
    settings = get_settings()

    async def go():  # type: ignore[no-untyped-def]
        audit = {"object_type": "reconciliation_day", "object_id": day.isoformat()}
        try:
            result = await reconcile_day(await connect(settings), settings, day, notify=notify)
        except Exception:
            await cli_audit(settings.db_url, "cli.reconcile", outcome="failed", **audit)
            raise
        await cli_audit(settings.db_url, "cli.reconcile", **audit,
                        after={"status": result.status.value, "differences": result.differences})
        return result

    result = asyncio.run(go())
    table = Table(title=f"Reconciliation {result.day.isoformat()}: {result.status.value}")
    for column in ("channel", "orders", "paid_fen", "refunded_fen", "fees_fen", "settled_fen"):
        table.add_column(column, justify="left" if column == "channel" else "right")
    for channel, s in result.summary.items():
        table.add_row(channel, *(str(v) for v in (s.orders, s.paid_fen, s.refunded_fen, s.fees_fen, s.settled_fen)))
    console.print(table)
    for kind, count in result.counts.items():
        console.print(f"{kind}: {count}")
    for error in result.errors:
        console.print(f"[yellow]not fetched[/yellow] {error}")
    console.print(f"{result.differences} differences; GET /v1/reconciliation/{result.day.isoformat()} lists them")


@app.command("simulate-reconciliation")
def simulate_reconciliation(
    date: Annotated[str, typer.Option(help="the day to plant, YYYY-MM-DD")],
    seed: Annotated[int, typer.Option(help="draws the orders and the differences; the same seed, the same day")] = 1,
) -> None:
    """Plant in the sandbox and the hub a day of clean orders among seeded differences of every kind, and print
    what was planted as one line of JSON: {"planted": [{"kind", "channel", "external_id"}], "clean": N}.
    Replaces the previous simulation. `orderhub reconcile --date` then reports exactly the planted ones."""
    import asyncio
    import json
    import sys

    import httpx

    from models.audit import cli_audit
    from models.db import upgrade
    from models.reconciliation_plan import plan_day
    from workers.reconciliation_sim import simulate_reconciliation as plant

    day = _day(date)
    settings = get_settings()
    plan = plan_day(day, seed, time_zone=settings.reconcile_time_zone)

    async def go():  # type: ignore[no-untyped-def]
        await upgrade(settings.db_url)
        audit = {"object_type": "reconciliation_day", "object_id": day.isoformat()}
        try:
            async with httpx.AsyncClient(base_url=settings.sandbox_base_url, timeout=30) as sandbox:
                printed, missing = await plant(settings.db_url, sandbox, plan)
        except Exception:
            await cli_audit(settings.db_url, "cli.simulate_reconciliation", outcome="failed", **audit)
            raise
        await cli_audit(settings.db_url, "cli.simulate_reconciliation", **audit,
                        after={"seed": seed, "planted": len(printed["planted"]), "clean": printed["clean"]})
        return printed, missing

    printed, missing = asyncio.run(go())
    for shop in missing:
        print(f"warning: the hub has no shop {shop}: its bill cannot be fetched", file=sys.stderr)
    print(json.dumps(printed, ensure_ascii=False, separators=(",", ":")))


@histories_app.command("record")
def histories_record(
    out: Annotated[Path, typer.Option(help="where the JSON histories go")] = Path("tests/histories"),
    only: Annotated[list[str] | None, typer.Option(help="record only these scenarios")] = None,
    suffix: Annotated[str, typer.Option(help="write <name>.<suffix>.json beside the older recording "
                                             "(a patched workflow's new path; the old one still replays)")] = "",
) -> None:
    """Re-record the histories against a fresh dev server, sandbox and database. Do it on purpose:
    a workflow change must keep the old histories replaying (or use workflow.patched)."""
    from workers.histories import main_record

    for path in main_record(out, only, suffix):
        console.print(f"recorded {path}")


@histories_app.command("replay")
def histories_replay(
    directory: Annotated[Path, typer.Argument(help="folder of recorded histories")] = Path("tests/histories"),
    from_server: Annotated[bool, typer.Option("--from-server", help="replay the runs the Temporal server of "
                                              "ORDERHUB_TEMPORAL_* lists instead of the folder")] = False,
    query: Annotated[str | None, typer.Option(help="with --from-server: the visibility query (default: our "
                                              "workflow types, running or completed)")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="with --from-server: at most this many runs, running "
                                              "ones then the latest closed (default 50)")] = None,
) -> None:
    """Replay the recorded histories, or with --from-server the server's recent runs, against the current
    workflow code. With --from-server every run is reported and any failure exits 1."""
    if not from_server:
        if query is not None or limit is not None:
            raise typer.BadParameter("--query and --limit go with --from-server")
        from workers.histories import main_replay

        for path in main_replay(directory):
            console.print(f"replayed {path}: deterministic")
        return

    from workers.histories import SERVER_LIMIT, SERVER_QUERY, main_replay_from_server, server_report

    settings = get_settings()
    results = main_replay_from_server(settings, query or SERVER_QUERY, limit or SERVER_LIMIT)
    if not server_report(results, settings.temporal_address, console):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
