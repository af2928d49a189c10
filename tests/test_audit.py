"""The audit trail: entries written, read back by filter and page, refused any UPDATE by the database (SQLite and
PostgreSQL), purged past the retention by PurgeAuditWorkflow; the middleware writes one entry per state-changing
request with its actor, what changed, where from and how it ended, and nothing for an anonymous caller."""

from __future__ import annotations

import asyncio
import getpass
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.worker import Worker
from typer.testing import CliRunner

from activities.audit import AuditActivities
from activities.clients.audit import ensure_audit_schedule
from api.audit import install_audit, note_actor, note_change
from api.audit import router as audit_router
from api.auth import issue_token
from api.errors import install_error_handlers
from api.throttle import AuthThrottle
from models.audit import (
    AUDIT_RETENTION_SCHEDULE_ID,
    PURGE_AUDIT_WORKFLOW,
    AuditDraft,
    AuditEntry,
    AuditQuery,
    PurgeAuditInput,
    PurgeAuditResult,
    audit_row,
    cli_audit,
    purge_audit,
    query_audit,
    record_audit,
)
from models.config import Settings, get_settings
from models.db import session_scope
from models.principals import Principal
from workers.cli import app as cli
from workflows.audit_retention import PurgeAuditWorkflow

NOW = datetime.now(UTC)
ALICE = Principal(id="p-alice", name="alice", role="operator")


def draft(**fields) -> AuditDraft:
    return AuditDraft(**{"actor_id": "p-alice", "actor_name": "alice", "role": "operator", "action": "put_stock",
                         **fields})


async def entries(db_url: str, **filters) -> list[AuditEntry]:
    rows, _ = await query_audit(db_url, AuditQuery(page_size=500, **filters))
    return rows


async def add_at(db_url: str, *ats: datetime, **fields) -> None:
    """Entries written at given times (the past cannot be had through record_audit, which stamps now)."""
    async with session_scope(db_url) as session:
        session.add_all([audit_row(draft(**fields), at) for at in ats])


# --- the table --------------------------------------------------------------------------------------------

async def test_an_entry_is_written_and_read_back_whole(db_url):
    entry_id = await record_audit(db_url, draft(
        object_type="stock", object_id="SKU-1/WH-SH", before={"on_hand": 5, "safety_stock": 0},
        after={"on_hand": 7, "safety_stock": 1, "seen": datetime(2026, 12, 1, tzinfo=UTC)}, ip="203.0.113.7",
        request_id="r-1", outcome="ok"))
    [entry] = await entries(db_url)
    assert entry.id == entry_id and entry.at.tzinfo is not None and abs(entry.at - datetime.now(UTC)) < timedelta(minutes=1)
    assert (entry.actor_id, entry.actor_name, entry.role, entry.action) == ("p-alice", "alice", "operator", "put_stock")
    assert (entry.object_type, entry.object_id, entry.ip, entry.request_id, entry.outcome) == (
        "stock", "SKU-1/WH-SH", "203.0.113.7", "r-1", "ok")
    assert entry.before == {"on_hand": 5, "safety_stock": 0}
    assert entry.after == {"on_hand": 7, "safety_stock": 1, "seen": "2026-12-01T00:00:00Z"}  # JSON, not a datetime


async def test_the_database_refuses_to_change_an_entry_but_lets_the_purge_delete(db_url):
    entry_id = await record_audit(db_url, draft(object_type="order", object_id="o-1", after={"status": "X"}))
    for statement in ("UPDATE audit_entries SET actor_id = 'someone-else'",
                      "UPDATE audit_entries SET after = NULL WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with session_scope(db_url) as session:
                await session.execute(text(statement), {"id": entry_id})
    [entry] = await entries(db_url)
    assert (entry.actor_id, entry.after) == ("p-alice", {"status": "X"})
    async with session_scope(db_url) as session:
        await session.execute(text("DELETE FROM audit_entries WHERE id = :id"), {"id": entry_id})
    assert await entries(db_url) == []


async def test_query_filters_pages_and_counts_newest_first(db_url):
    day = timedelta(days=1)
    await add_at(db_url, NOW - 3 * day, NOW - 2 * day, NOW - day, object_type="order", object_id="o-1")
    await add_at(db_url, NOW - day, object_type="order", object_id="o-2", actor_id="p-bob", actor_name="bob")
    await add_at(db_url, NOW, object_type="ticket", object_id="o-1", actor_id="cli", actor_name="root")

    assert [(e.object_type, e.object_id) for e in await entries(db_url, object_type="order", object_id="o-1")] == [
        ("order", "o-1")] * 3
    assert [e.object_type for e in await entries(db_url, object_id="o-1")] == ["ticket", "order", "order", "order"]
    assert [e.actor_id for e in await entries(db_url, actor="bob")] == ["p-bob"]  # by name
    assert [e.actor_name for e in await entries(db_url, actor="p-bob")] == ["bob"]  # by id
    window = await entries(db_url, since=NOW - 2 * day, until=NOW - day)  # since inclusive, until exclusive
    assert [e.at for e in window] == [NOW - 2 * day]
    naive = await entries(db_url, since=(NOW - day).replace(tzinfo=None))  # no zone: UTC
    assert len(naive) == 3

    rows, total = await query_audit(db_url, AuditQuery(page=1, page_size=2))
    assert total == 5 and [r.at for r in rows] == [NOW, NOW - day]
    rows, total = await query_audit(db_url, AuditQuery(page=3, page_size=2))
    assert total == 5 and [r.at for r in rows] == [NOW - 3 * day]
    rows, total = await query_audit(db_url, AuditQuery(page=4, page_size=2))
    assert (rows, total) == ([], 5)


async def test_purge_deletes_what_is_older_than_the_cutoff_in_batches(db_url):
    old = [NOW - timedelta(days=200, minutes=m) for m in range(5)]
    await add_at(db_url, *old, NOW - timedelta(days=10))
    seen: list[int] = []
    assert await purge_audit(db_url, NOW - timedelta(days=180), batch=2, on_batch=seen.append) == 5
    assert seen == [2, 4, 5]  # three transactions, none with more than two rows
    assert [e.at for e in await entries(db_url)] == [NOW - timedelta(days=10)]
    assert await purge_audit(db_url, NOW - timedelta(days=180)) == 0


async def test_a_cli_entry_names_the_os_user_as_an_admin(sqlite_url):
    entry_id = await cli_audit(sqlite_url, "cli.reconcile", object_type="reconciliation_day", object_id="2026-11-30",
                               after={"status": "clean"})
    [entry] = await entries(sqlite_url)
    assert entry.id == entry_id
    assert (entry.actor_id, entry.actor_name, entry.role, entry.action) == (
        "cli", getpass.getuser(), "admin", "cli.reconcile")
    assert (entry.object_id, entry.after, entry.outcome) == ("2026-11-30", {"status": "clean"}, "ok")


async def test_a_cli_entry_that_cannot_be_written_does_not_fail_the_command(tmp_path):
    empty = f"sqlite+aiosqlite:///{tmp_path / 'unmigrated.db'}"  # no audit_entries table
    assert await cli_audit(empty, "cli.reconcile") is None


def test_a_cli_command_that_fails_still_writes_its_entry(sqlite_url, monkeypatch):
    """`orderhub reconcile` with no Temporal to reach: the command fails, its entry says so."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("ORDERHUB_TEMPORAL_ADDRESS", "127.0.0.1:9")  # nothing listens
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["reconcile", "--date", "2026-11-30"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    [entry] = asyncio.run(entries(sqlite_url))
    assert (entry.actor_id, entry.role, entry.action, entry.object_id, entry.outcome) == (
        "cli", "admin", "cli.reconcile", "2026-11-30", "failed")


# --- the middleware ---------------------------------------------------------------------------------------

def tiny_app(db_url: str) -> FastAPI:
    """Routes that do what the real ones do: the auth dependency sets the principal, the route notes the change."""
    app = FastAPI()

    @app.put("/v1/things/{thing_id}")
    async def put_thing(request: Request, thing_id: str, fail: int = 0) -> dict:
        request.state.principal = ALICE
        if fail:
            raise HTTPException(fail, "no")
        note_change(request, object_type="thing", object_id=thing_id, before={"size": 1}, after={"size": 2})
        return {"ok": True}

    @app.post("/v1/things/{thing_id}/split", status_code=202)
    async def split_thing(request: Request, thing_id: str) -> dict:
        request.state.principal = ALICE
        note_change(request, object_type="thing", object_id=thing_id, before={"parts": 1})
        note_change(request, object_type="thing", object_id=thing_id, after={"parts": 2})  # the same entry
        note_change(request, object_type="thing", object_id=f"{thing_id}-b", after={"parts": 1}, action="thing.split_off")
        return {"ok": True}

    @app.delete("/v1/things/{thing_id}")
    async def delete_thing(request: Request, thing_id: str, token: str = "") -> dict:
        if token != "good":
            raise HTTPException(401, "missing bearer token")
        request.state.principal = ALICE
        return {"ok": True}

    @app.post("/v1/webhooks/{channel}/{shop}")
    async def webhook(request: Request, channel: str, shop: str) -> dict:
        note_actor(request, actor_id=f"platform:{channel}/{shop}", actor_name=f"{channel} {shop}")
        note_change(request, object_type="order", object_id=f"{channel}:{shop}:E1", after={"status": "RECEIVED"})
        return {"ok": True}

    @app.post("/v1/boom")
    async def boom(request: Request) -> dict:
        request.state.principal = ALICE
        raise RuntimeError("bug")

    @app.get("/v1/things/{thing_id}")
    async def get_thing(request: Request, thing_id: str) -> dict:
        request.state.principal = ALICE
        return {"ok": True}

    install_audit(app, db_url=db_url)
    return app


@pytest.fixture
async def tiny(sqlite_url):
    transport = httpx.ASGITransport(app=tiny_app(sqlite_url), client=("203.0.113.7", 40000), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client, sqlite_url


async def test_a_change_is_one_entry_with_actor_values_address_and_request_id(tiny):
    client, db = tiny
    answer = await client.put("/v1/things/T-1")
    assert answer.status_code == 200
    [entry] = await entries(db)  # written before the answer: readable at once
    assert (entry.actor_id, entry.actor_name, entry.role) == ("p-alice", "alice", "operator")
    assert (entry.action, entry.object_type, entry.object_id) == ("put_thing", "thing", "T-1")
    assert (entry.before, entry.after, entry.outcome) == ({"size": 1}, {"size": 2}, "ok")
    assert entry.ip == "203.0.113.7"
    assert entry.request_id == answer.headers["X-Request-ID"] and len(entry.request_id) == 32  # a uuid4 hex

    answer = await client.put("/v1/things/T-1", headers={"X-Request-ID": "trace-42.a:b"})
    assert answer.headers["X-Request-ID"] == "trace-42.a:b"
    assert (await entries(db))[0].request_id == "trace-42.a:b"
    answer = await client.put("/v1/things/T-1", headers={"X-Request-ID": "has spaces and ' quotes"})
    assert answer.headers["X-Request-ID"] != "has spaces and ' quotes"  # not sane: a new one
    assert (await entries(db))[0].request_id == answer.headers["X-Request-ID"]


async def test_the_entry_is_in_the_database_before_the_answer_starts(sqlite_url):
    """A client holding its answer can read the entry: the middleware writes it before the response's first message."""
    app = tiny_app(sqlite_url)
    written_at_start: list[int] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            written_at_start.append(len(await entries(sqlite_url)))
            assert dict(message["headers"])[b"x-request-id"]

    await app({"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PUT", "scheme": "http",
               "path": "/v1/things/T-7", "raw_path": b"/v1/things/T-7", "root_path": "", "query_string": b"",
               "headers": [], "client": ("203.0.113.7", 40000), "server": ("api", 80)}, receive, send)
    assert written_at_start == [1]


async def test_outcome_follows_the_status(tiny):
    client, db = tiny
    assert (await client.put("/v1/things/T-2", params={"fail": 409})).status_code == 409
    [refused] = await entries(db)
    # Refused before it noted a change: the entry still names the object of its path.
    assert (refused.outcome, refused.action, refused.object_type, refused.object_id) == (
        "refused", "put_thing", "things", "T-2")
    assert (refused.before, refused.after) == (None, None)

    assert (await client.post("/v1/boom")).status_code == 500
    assert [(e.action, e.outcome) for e in await entries(db, actor="alice")][0] == ("boom", "failed")
    assert (await client.put("/v1/things/T-2", params={"fail": 503})).status_code == 503
    assert (await entries(db))[0].outcome == "failed"


async def test_two_objects_noted_are_two_entries_and_202_is_accepted(tiny):
    client, db = tiny
    answer = await client.post("/v1/things/T-3/split")
    assert answer.status_code == 202
    found = sorted(await entries(db), key=lambda e: e.object_id or "")
    assert [(e.action, e.object_id, e.before, e.after, e.outcome) for e in found] == [
        ("split_thing", "T-3", {"parts": 1}, {"parts": 2}, "accepted"),
        ("thing.split_off", "T-3-b", None, {"parts": 1}, "accepted")]
    assert {e.request_id for e in found} == {answer.headers["X-Request-ID"]}


async def test_an_anonymous_request_writes_nothing(tiny):
    client, db = tiny
    for _ in range(3):
        answer = await client.delete("/v1/things/T-4")
        assert answer.status_code == 401 and answer.headers["X-Request-ID"]
    assert await entries(db) == []
    assert (await client.delete("/v1/things/T-4", params={"token": "good"})).status_code == 200
    [entry] = await entries(db)
    assert (entry.action, entry.object_type, entry.object_id) == ("delete_thing", "things", "T-4")


async def test_a_platform_callback_is_written_with_its_platform_actor(tiny):
    client, db = tiny
    assert (await client.post("/v1/webhooks/douyin/default")).status_code == 200
    [entry] = await entries(db)
    assert (entry.actor_id, entry.actor_name, entry.role) == ("platform:douyin/default", "douyin default", "platform")
    assert (entry.object_type, entry.object_id, entry.after) == ("order", "douyin:default:E1", {"status": "RECEIVED"})


async def test_reads_are_not_written_but_carry_a_request_id(tiny):
    client, db = tiny
    answer = await client.get("/v1/things/T-5", headers={"X-Request-ID": "r-5"})
    assert answer.status_code == 200 and answer.headers["X-Request-ID"] == "r-5"
    assert await entries(db) == []


async def test_an_entry_that_cannot_be_written_does_not_fail_the_request(tmp_path):
    empty = f"sqlite+aiosqlite:///{tmp_path / 'unmigrated.db'}"  # no audit_entries table
    transport = httpx.ASGITransport(app=tiny_app(empty))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        answer = await client.put("/v1/things/T-6")
    assert answer.status_code == 200 and answer.json() == {"ok": True}


# --- GET /v1/audit ----------------------------------------------------------------------------------------

@pytest.fixture
async def audit_api(sqlite_url):
    """The audit router on an app of its own, with an admin's and an operator's token."""
    app = FastAPI()
    app.state.settings = Settings(database_url=sqlite_url)
    app.state.auth_throttle = AuthThrottle()
    install_error_handlers(app)
    app.include_router(audit_router)
    tokens = {role: await issue_token(sqlite_url, role) for role in ("admin", "operator")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        client.headers["Authorization"] = f"Bearer {tokens['admin']}"
        yield client, sqlite_url, tokens


async def test_the_audit_api_filters_and_pages_for_admins_only(audit_api):
    client, db, tokens = audit_api
    minute = timedelta(minutes=1)
    await add_at(db, *(NOW - i * minute for i in range(60)), object_type="order", object_id="o-1",
                 before={"address": "old"}, after={"address": "new"})
    await add_at(db, NOW - 90 * minute, object_type="stock", object_id="SKU-1", actor_id="p-bob", actor_name="bob")

    first = (await client.get("/v1/audit")).json()
    assert (first["total"], first["page"], first["page_size"], len(first["items"])) == (61, 1, 50, 50)
    top = first["items"][0]
    assert set(top) == {"id", "at", "actor_id", "actor_name", "role", "action", "object_type", "object_id", "before",
                        "after", "ip", "request_id", "outcome"}
    assert datetime.fromisoformat(top["at"]) == NOW and (top["before"], top["after"]) == (
        {"address": "old"}, {"address": "new"})
    second = (await client.get("/v1/audit", params={"page": 2})).json()
    assert len(second["items"]) == 11 and second["items"][-1]["object_id"] == "SKU-1"

    stock = (await client.get("/v1/audit", params={"object_type": "stock", "object_id": "SKU-1"})).json()
    assert stock["total"] == 1 and stock["items"][0]["actor_name"] == "bob"
    assert (await client.get("/v1/audit", params={"actor": "p-bob"})).json()["total"] == 1
    window = {"since": (NOW - 10 * minute).isoformat(), "until": (NOW - 5 * minute).isoformat()}
    assert (await client.get("/v1/audit", params=window)).json()["total"] == 5

    assert (await client.get("/v1/audit", params={"page": 0})).status_code == 422
    assert (await client.get("/v1/audit", headers={"Authorization": f"Bearer {tokens['operator']}"})).status_code == 403
    assert (await client.get("/v1/audit", headers={"Authorization": ""})).status_code == 401
    # No route changes or deletes an entry.
    assert (await client.delete("/v1/audit")).status_code == 405
    assert (await client.put("/v1/audit")).status_code == 405


# --- retention --------------------------------------------------------------------------------------------

async def test_the_retention_workflow_purges_what_is_past_the_retention(sqlite_url, ts_env):
    await add_at(sqlite_url, NOW - timedelta(days=400), NOW - timedelta(days=181), NOW - timedelta(days=100),
                 NOW - timedelta(days=1))
    queue = f"audit-{uuid.uuid4().hex[:8]}"
    client = ts_env.client
    async with Worker(client, task_queue=queue, workflows=[PurgeAuditWorkflow],
                      activities=[AuditActivities(sqlite_url).purge_audit]):
        result = await client.execute_workflow(PURGE_AUDIT_WORKFLOW, PurgeAuditInput(retention_days=180),
                                               id=f"audit-retention-{queue}", task_queue=queue,
                                               result_type=PurgeAuditResult)
        assert result.purged == 2
        # The cutoff is 180 days before the run's start, by the workflow's clock.
        assert abs(result.before - (datetime.now(UTC) - timedelta(days=180))) < timedelta(minutes=5)
        assert sorted(e.at for e in await entries(sqlite_url)) == [NOW - timedelta(days=100), NOW - timedelta(days=1)]

        explicit = await client.execute_workflow(
            PURGE_AUDIT_WORKFLOW, PurgeAuditInput(before=NOW - timedelta(days=50)), id=f"audit-explicit-{queue}",
            task_queue=queue, result_type=PurgeAuditResult)
        assert (explicit.purged, explicit.before) == (1, NOW - timedelta(days=50))
        assert [e.at for e in await entries(sqlite_url)] == [NOW - timedelta(days=1)]


async def test_the_retention_schedule_is_created_once_and_follows_the_settings(dev_env):
    client = dev_env.client
    settings = Settings(task_queue=f"audit-{uuid.uuid4().hex[:8]}")
    assert (settings.audit_retention_days, settings.audit_purge_time, settings.audit_purge_time_zone) == (
        180, "04:00", "Asia/Shanghai")
    handle = client.get_schedule_handle(AUDIT_RETENTION_SCHEDULE_ID)
    try:
        await ensure_audit_schedule(client, settings)
        await ensure_audit_schedule(client, settings)  # a second worker start: no error, one schedule
        assert len([s async for s in await client.list_schedules() if s.id == AUDIT_RETENTION_SCHEDULE_ID]) == 1
        described = await handle.describe()
        assert described.schedule.spec.time_zone_name == "Asia/Shanghai"
        [calendar] = described.schedule.spec.calendars
        assert ([(r.start, r.end) for r in calendar.hour], [(r.start, r.end) for r in calendar.minute]) == (
            [(4, 4)], [(0, 0)])
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == PURGE_AUDIT_WORKFLOW and action.task_queue == settings.task_queue
        [arg] = await client.data_converter.decode(action.args, [PurgeAuditInput])
        assert (arg.before, arg.retention_days) == (None, 180)

        await handle.pause(note="operator")
        later = Settings(task_queue=settings.task_queue, audit_purge_time="05:30", audit_retention_days=365)
        await ensure_audit_schedule(client, later)
        described = await handle.describe()
        [calendar] = described.schedule.spec.calendars
        assert ([r.start for r in calendar.hour], [r.start for r in calendar.minute]) == ([5], [30])
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        [arg] = await client.data_converter.decode(action.args, [PurgeAuditInput])
        assert arg.retention_days == 365
        assert described.schedule.state.paused  # the operator's pause is kept
    finally:
        await handle.delete()
