"""ReconcileDayWorkflow end to end in the time-skipping environment, against the sandbox in this process: a day
planted by `simulate-reconciliation` (hub orders and ledger rows through the hub's own functions, bill lines,
overrides and gateway trades in the sandbox) reports exactly the planted differences, stores them, tells the
finance robot the counts; re-running the day replaces the report; a clean day reports none; the Schedule's
run (no day given) reconciles the day before under the day's own workflow id. And the reports' API."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select
from temporalio.worker import Worker

from activities.clients.reconciliation import reconcile_day
from activities.http import PartnerHttp
from activities.notify import NotifierActivities
from activities.orders import register_order
from activities.reconciliation import ReconciliationActivities
from api.app import create_app as create_api
from api.auth import issue_token
from api.orders import hold_late_payment
from models.config import Settings
from models.db import session_scope
from models.ledger import lock_order
from models.order import workflow_id_for
from models.order_workflow import RegisterOrderInput
from models.reconciliation import (
    BILL_CHANNELS,
    RECONCILE_WORKFLOW,
    ReconcileDayInput,
    ReconcileDayResult,
    previous_day,
    reconcile_id,
)
from models.reconciliation_plan import ReconciliationPlan, plan_day
from models.seed import seed_sandbox_shops
from models.tables import ReconciliationDifference, ReconciliationReport, Shop
from orderkit import make_order
from problemkit import code_of
from sandbox.app import create_app as create_sandbox
from sandbox.config import SandboxSettings
from workers.reconciliation_sim import simulate_reconciliation
from workflows.reconciliation import ReconcileDayWorkflow

DAY = date(2026, 11, 30)


@pytest.fixture
async def hub(sqlite_url, ts_env):
    await seed_sandbox_shops(sqlite_url, channels=BILL_CHANNELS)
    settings = Settings(database_url=sqlite_url, task_queue=f"recon-{uuid.uuid4().hex[:8]}")
    sandbox = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_sandbox(SandboxSettings())),
                                base_url="http://sandbox")
    http = PartnerHttp("http://sandbox", client=sandbox)
    activities = ReconciliationActivities(sqlite_url, http)
    async with sandbox, Worker(ts_env.client, task_queue=settings.task_queue, workflows=[ReconcileDayWorkflow],
                               activities=[activities.reconcile_day, NotifierActivities(http).notify]):
        yield settings, sandbox, ts_env.client


async def stored(db_url: str, day: date) -> tuple[ReconciliationReport | None, list[tuple[str, str, str | None]]]:
    async with session_scope(db_url) as session:
        report = await session.get(ReconciliationReport, day.isoformat())
        rows = (await session.exec(select(ReconciliationDifference)
                                   .where(col(ReconciliationDifference.day) == day.isoformat()))).all()
    return report, sorted((r.kind, r.channel, r.external_id) for r in rows)


async def finance_messages(sandbox: httpx.AsyncClient) -> list[dict]:
    items = (await sandbox.get("/_sandbox/records", params={"kind": "notification"})).json()["items"]
    return [i for i in items if i["body"].get("audience") == "finance"]


@pytest.mark.parametrize("seed", [3, 17])
async def test_a_simulated_day_reports_exactly_the_planted_differences(hub, seed):
    settings, sandbox, client = hub
    plan = plan_day(DAY, seed)
    printed, missing = await simulate_reconciliation(settings.database_url, sandbox, plan)
    assert missing == []
    planted = sorted((p["kind"], p["channel"], p["external_id"]) for p in printed["planted"])
    assert {p[0] for p in planted} == {k.value for k in Counter(p.kind for p in plan.planted)}

    result = await reconcile_day(client, settings, DAY)
    assert result.status.value == "differences" and result.errors == []
    assert result.counts == dict(sorted(Counter(p[0] for p in planted).items()))
    report, rows = await stored(settings.database_url, DAY)
    assert report is not None and report.workflow_id == reconcile_id(DAY)
    assert rows == planted
    assert sum(s.orders for s in result.summary.values()) == len(plan.orders)
    [message] = await finance_messages(sandbox)
    assert f"{len(planted)} differences" in message["body"]["title"]
    assert all(f"{kind}: {n}" in message["body"]["text"] for kind, n in result.counts.items())

    again = await reconcile_day(client, settings, DAY)  # replaces the report, not adds to it
    assert again.counts == result.counts
    assert (await stored(settings.database_url, DAY))[1] == planted


async def test_a_clean_day_reports_no_differences_and_tells_nobody(hub):
    settings, sandbox, client = hub
    plan = plan_day(DAY, 5)
    clean = ReconciliationPlan(day=DAY, orders=[o for o in plan.orders if o.kind is None])
    await simulate_reconciliation(settings.database_url, sandbox, clean)
    result = await reconcile_day(client, settings, DAY)
    assert (result.status.value, result.differences, result.errors) == ("clean", 0, [])
    assert sum(s.paid_fen for s in result.summary.values()) == sum(o.amount for o in clean.orders)
    assert await finance_messages(sandbox) == []


async def test_a_bill_the_platform_refuses_is_named_and_its_shop_not_reported_missing(hub):
    settings, sandbox, client = hub
    async with session_scope(settings.database_url) as session:  # a shop the platform does not know
        session.add(Shop(channel="jd", shop="ghost", app_key="k", app_secret="s", access_token="t",
                         sync_interval_s=60))
    plan = plan_day(DAY, 5)
    clean = ReconciliationPlan(day=DAY, orders=[o for o in plan.orders if o.kind is None])
    await simulate_reconciliation(settings.database_url, sandbox, clean)
    result = await reconcile_day(client, settings, DAY)
    assert (result.status.value, result.differences) == ("incomplete", 0)
    [error] = result.errors
    assert error.startswith("jd/ghost: SHOP_NOT_FOUND")
    [message] = await finance_messages(sandbox)
    assert "jd/ghost" in message["body"]["text"]


async def test_the_schedules_run_reconciles_the_day_before_under_the_days_own_id(hub, ts_env):
    settings, _, client = hub
    # The day before the workflow's own clock (the time-skipping server's, which other tests move on).
    day = previous_day(await ts_env.get_current_time(), "Asia/Shanghai")
    result = await client.execute_workflow(
        RECONCILE_WORKFLOW, ReconcileDayInput(notify=False), id=f"reconcile-daily-{uuid.uuid4().hex[:6]}",
        task_queue=settings.task_queue, result_type=ReconcileDayResult)
    assert result.day == day and result.status.value == "clean"
    assert (await client.get_workflow_handle(reconcile_id(day)).describe()).status.name == "COMPLETED"


async def test_the_reports_api_is_for_finance(hub):
    settings, sandbox, client = hub
    plan = plan_day(DAY, 21)
    await simulate_reconciliation(settings.database_url, sandbox, plan)
    await reconcile_day(client, settings, DAY, notify=False)
    await reconcile_day(client, settings, date(2026, 11, 29), notify=False)
    api = create_api(settings, migrate=False)
    tokens = {role: await issue_token(settings.database_url, role) for role in ("finance", "admin", "channel")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://api") as http:
        def as_(role: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[role]}"}

        answer = await http.get(f"/v1/reconciliation/{DAY}", headers=as_("finance"))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) >= {"date", "status", "summary", "differences"} and body["date"] == DAY.isoformat()
        assert body["status"] == "differences" and len(body["differences"]) == len(plan.planted)
        for summary in body["summary"].values():
            assert set(summary) == {"orders", "paid_fen", "refunded_fen", "fees_fen", "settled_fen"}
        assert set(body["differences"][0]) == {"kind", "channel", "shop", "order_id", "external_id",
                                                "expected_fen", "actual_fen", "detail"}
        assert (await http.get(f"/v1/reconciliation/{DAY}", headers=as_("admin"))).status_code == 200
        assert (await http.get(f"/v1/reconciliation/{DAY}", headers=as_("channel"))).status_code == 403
        assert (await http.get(f"/v1/reconciliation/{DAY}")).status_code == 401

        missing = await http.get("/v1/reconciliation/2020-01-01", headers=as_("finance"))
        assert missing.status_code == 404 and code_of(missing) == "report_not_found"
        assert (await http.get("/v1/reconciliation/2020-13-45", headers=as_("finance"))).status_code == 422

        as_csv = await http.get(f"/v1/reconciliation/{DAY}.csv", headers=as_("finance"))
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert sorted((r["kind"], r["channel"], r["external_id"]) for r in rows) == \
            sorted((d["kind"], d["channel"], d["external_id"] or "") for d in body["differences"])
        assert (await http.get(f"/v1/reconciliation/{DAY}.csv", headers=as_("channel"))).status_code == 403
        assert (await http.get("/v1/reconciliation/2020-01-01.csv", headers=as_("finance"))).status_code == 404

        listed = (await http.get("/v1/reconciliation", params={"from": "2026-11-29", "to": "2026-11-30"},
                                 headers=as_("finance"))).json()["items"]
        assert [(r["date"], r["status"]) for r in listed] == [("2026-11-30", "differences"), ("2026-11-29", "clean")]
        only = (await http.get("/v1/reconciliation", params={"from": "2026-11-30"}, headers=as_("finance"))).json()
        assert [r["date"] for r in only["items"]] == ["2026-11-30"]
        assert (await http.get("/v1/reconciliation", params={"to": "junk"}, headers=as_("finance"))).status_code == 422
    async with session_scope(settings.database_url) as session:
        assert await session.scalar(select(func.count()).select_from(ReconciliationReport)) == 2


async def test_the_commands_plant_a_day_and_reconcile_it(sqlite_url, sandbox_url, ts_env):
    """`simulate-reconciliation` against the sandbox process prints what it planted as one JSON line; `reconcile`
    then runs the day through a worker and prints the counts per kind: exactly the planted ones."""
    import asyncio
    import json

    from typer.testing import CliRunner

    from models.config import get_settings
    from workers.cli import app

    await seed_sandbox_shops(sqlite_url, channels=BILL_CHANNELS)
    queue = f"recon-{uuid.uuid4().hex[:8]}"
    env = {"ORDERHUB_DATABASE_URL": sqlite_url, "ORDERHUB_SANDBOX_URL": sandbox_url, "ORDERHUB_TASK_QUEUE": queue,
           "ORDERHUB_TEMPORAL_ADDRESS": ts_env.client.service_client.config.target_host,
           "ORDERHUB_TEMPORAL_NAMESPACE": ts_env.client.namespace, "COLUMNS": "200"}

    def run(*args: str):  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, list(args), env=env)
        finally:
            get_settings.cache_clear()

    planted = await asyncio.to_thread(run, "simulate-reconciliation", "--date", "2026-11-28", "--seed", "9")
    assert planted.exit_code == 0, planted.output
    [line] = planted.stdout.strip().splitlines()
    printed = json.loads(line)
    plan = plan_day(date(2026, 11, 28), 9)
    assert printed == {"planted": [p.model_dump(mode="json") for p in plan.planted], "clean": plan.clean}

    http = PartnerHttp(sandbox_url)
    activities = ReconciliationActivities(sqlite_url, http)
    try:
        async with Worker(ts_env.client, task_queue=queue, workflows=[ReconcileDayWorkflow],
                          activities=[activities.reconcile_day, NotifierActivities(http).notify]):
            result = await asyncio.to_thread(run, "reconcile", "--date", "2026-11-28", "--no-notify")
    finally:
        await http.aclose()
    assert result.exit_code == 0, result.output
    for kind, count in Counter(p["kind"] for p in printed["planted"]).items():
        assert f"{kind}: {count}" in result.output
    assert f"{len(printed['planted'])} differences" in result.output
    assert (await stored(sqlite_url, date(2026, 11, 28)))[1] == sorted(
        (p["kind"], p["channel"], p["external_id"]) for p in printed["planted"])


async def test_a_payment_held_for_a_cancelled_order_is_reported_until_finance_settles_it(hub):
    """Money that came in after the order was cancelled is kept in the ledger as held; the day's
    report names it (payment_unmatched) so the finance robot hears of it."""
    settings, sandbox, client = hub
    paid = (await sandbox.post("/gateway/trade/pay", json={"out_trade_no": "late-1", "total_amount": "39.98"})).json()
    order = make_order([("SKU-1", 2)], paid=False, external_id="LATE-1")
    await register_order(settings.database_url, RegisterOrderInput(
        order=order, workflow_id=workflow_id_for(order.order_id), received_at=datetime.now(UTC)))
    async with session_scope(settings.database_url) as session:
        row = await lock_order(session, order.order_id)
        assert row is not None
        row.status = "CANCELLED"
        await session.flush()
    await hold_late_payment(settings.database_url, order.order_id, paid["trade_no"], 3998)
    today = datetime.now(UTC).astimezone(ZoneInfo(settings.reconcile_time_zone)).date()
    result = await reconcile_day(client, settings, today)
    _, differences = await stored(settings.database_url, today)
    # The gateway's trade, named by the merchant's out_trade_no: matched to no live order's payment.
    assert differences == [("payment_unmatched", "own_store", "late-1")]
    assert result.counts == {"payment_unmatched": 1}
