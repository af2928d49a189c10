"""Principals: issued with a token shown once and stored as its hash, listed without it, revoked and
expired at once (the very next lookup), over functions, the CLI and HTTP; the api_tokens of an older
install become principals whose tokens keep working; failed authentications are throttled per client."""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from alembic import command
from sqlalchemy import text, update
from typer.testing import CliRunner

from api import principals as principals_api
from api.app import create_app
from api.throttle import AuthThrottle
from models.config import Settings, get_settings
from models.db import alembic_config, dispose_engines, read_scope, session_scope
from models.principals import (
    ROLES,
    InvalidPrincipal,
    PrincipalRecord,
    Scope,
    ensure_dev_principals,
    hash_token,
    issue_principal,
    issue_token,
    list_principals,
    principal_by_token,
    revoke_principal,
)
from workers.cli import app as cli
from workers.tokens import parse_duration


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- functions ---------------------------------------------------------------------------------------------

async def test_an_issued_token_finds_its_principal_and_only_its_hash_is_stored(sqlite_url):
    principal, token = await issue_principal(sqlite_url, role="channel", name="douyin-app", channel="douyin",
                                             shop="default", created_by="test")
    assert token.startswith("oh_channel_") and len(token) > 40
    assert principal.id.startswith("p_") and len(principal.id) == 12
    assert principal.scopes == [Scope(channel="douyin", shop="default")]
    assert principal.expires_at is None and principal.revoked_at is None
    found, why = await principal_by_token(sqlite_url, token, utcnow())
    assert (found, why) == (principal, "")
    assert found is not None and found.admits("douyin", "default") and not found.admits("douyin", "other")

    async with read_scope(sqlite_url) as session:
        stored = (await session.execute(text("SELECT * FROM principals WHERE id = :id"), {"id": principal.id})).one()
    assert token not in [str(v) for v in stored] and stored.token_hash == hash_token(token)
    assert stored.created_by == "test"

    channel_wide, _ = await issue_principal(sqlite_url, role="customer_service", name="cs-jd", channel="jd")
    assert channel_wide.scopes == [Scope(channel="jd")] and channel_wide.admits("jd", "any-shop")
    assert await principal_by_token(sqlite_url, "oh_admin_not-issued", utcnow()) == (None, "unknown token")


@pytest.mark.parametrize("fields, field", [
    ({"role": "root"}, "role"),
    ({"shop": "default"}, "shop"),  # a shop without its channel
    ({"channel": "ebay"}, "channel"),
    ({"channel": "jd", "shop": "no/slash"}, "shop"),
    ({"name": "  "}, "name"),
    ({"expires_in": timedelta(0)}, "expires_in"),
])
async def test_a_principal_that_cannot_be_issued_names_the_field(sqlite_url, fields, field):
    with pytest.raises(InvalidPrincipal) as refused:
        await issue_principal(sqlite_url, **{"role": "channel", "name": "x", **fields})
    assert isinstance(refused.value, ValueError) and refused.value.field == field
    assert await list_principals(sqlite_url) == []


async def test_an_expired_token_is_refused(sqlite_url):
    principal, token = await issue_principal(sqlite_url, role="operator", name="temp", expires_in=timedelta(hours=1))
    assert principal.expires_at is not None
    assert (await principal_by_token(sqlite_url, token, utcnow()))[0] == principal
    assert await principal_by_token(sqlite_url, token, principal.expires_at) == (None, "token expired")
    # An expiry set in the past (as an operator would, by hand) holds from the next lookup on.
    async with session_scope(sqlite_url) as session:
        await session.execute(update(PrincipalRecord).where(PrincipalRecord.id == principal.id)
                              .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await principal_by_token(sqlite_url, token, utcnow()) == (None, "token expired")


async def test_a_revoke_holds_at_once_and_a_second_keeps_the_first_time(sqlite_url):
    principal, token = await issue_principal(sqlite_url, role="finance", name="fin-1")
    other, other_token = await issue_principal(sqlite_url, role="finance", name="fin-2")
    first = utcnow()
    revoked = await revoke_principal(sqlite_url, principal.id, first)
    assert revoked is not None and revoked.revoked_at == first
    assert await principal_by_token(sqlite_url, token, utcnow()) == (None, "token revoked")
    again = await revoke_principal(sqlite_url, principal.id, first + timedelta(minutes=5))
    assert again is not None and again.revoked_at == first
    assert await revoke_principal(sqlite_url, "p_unknown000", utcnow()) is None
    assert (await principal_by_token(sqlite_url, other_token, utcnow()))[0] == other  # the other one still works
    listed = {p.id: p for p in await list_principals(sqlite_url)}
    assert listed[principal.id].revoked_at == first and listed[other.id].revoked_at is None
    assert all("token_hash" not in p.model_dump() for p in listed.values())


async def test_issue_token_is_an_unscoped_principal(sqlite_url):
    token = await issue_token(sqlite_url, "warehouse")
    named = await issue_token(sqlite_url, "admin", label="first-install")
    plain, _ = await principal_by_token(sqlite_url, token, utcnow())
    assert plain is not None and plain.role == "warehouse" and plain.scopes == []
    assert plain.name == f"warehouse-{plain.id[2:8]}"
    assert (await principal_by_token(sqlite_url, named, utcnow()))[0].name == "first-install"  # type: ignore[union-attr]


async def test_dev_principals_are_kept_while_admitted_and_written_for_the_owner_only(sqlite_url, tmp_path):
    tokens_file = tmp_path / "data" / "tokens.json"
    tokens = await ensure_dev_principals(sqlite_url, tokens_file)
    assert list(tokens) == list(ROLES) and json.loads(tokens_file.read_text()) == tokens
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    names = {p.role: p.name for p in await list_principals(sqlite_url)}
    assert names == {role: f"dev-{role}" for role in ROLES}

    assert await ensure_dev_principals(sqlite_url, tokens_file) == tokens  # reused: nothing issued
    assert len(await list_principals(sqlite_url)) == len(ROLES)

    operator, _ = await principal_by_token(sqlite_url, tokens["operator"], utcnow())
    assert operator is not None
    await revoke_principal(sqlite_url, operator.id, utcnow())
    tokens_file.chmod(0o644)
    again = await ensure_dev_principals(sqlite_url, tokens_file)
    assert again["operator"] != tokens["operator"] and {r: t for r, t in again.items() if r != "operator"} == \
        {r: t for r, t in tokens.items() if r != "operator"}
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600


# --- the command line --------------------------------------------------------------------------------------

async def orderhub(db_url: str, *args: str):  # type: ignore[no-untyped-def]
    """`orderhub ARGS` against db_url, in a thread: the command runs its own event loop."""
    await dispose_engines()  # the command's loop opens (and closes) its own connections

    def run():  # type: ignore[no-untyped-def]
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(cli, list(args), env={"ORDERHUB_DATABASE_URL": db_url, "COLUMNS": "200"})
        finally:
            get_settings.cache_clear()

    return await asyncio.to_thread(run)


def test_durations():
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("30m") == timedelta(minutes=30)
    for bad in ("0d", "90", "1w", "-1d", "1.5h", ""):
        with pytest.raises(Exception, match="90d, 12h, 30m"):
            parse_duration(bad)


async def test_token_issue_list_and_revoke_on_the_command_line(sqlite_url):
    issued = await orderhub(sqlite_url, "token", "issue", "--role", "channel", "--name", "douyin-app",
                            "--channel", "douyin", "--shop", "default", "--expires-in", "90d", "--json")
    assert issued.exit_code == 0, issued.output
    lines = issued.stdout.splitlines()
    assert len(lines) == 1
    shown = json.loads(lines[0])
    assert list(shown) == ["id", "name", "role", "token", "expires_at"]
    assert (shown["name"], shown["role"]) == ("douyin-app", "channel") and shown["token"].startswith("oh_channel_")
    expires_at = datetime.fromisoformat(shown["expires_at"])
    assert timedelta(days=89, hours=23) < expires_at - utcnow() <= timedelta(days=90)

    principal, _ = await principal_by_token(sqlite_url, shown["token"], utcnow())
    assert principal is not None and principal.id == shown["id"]
    assert principal.scopes == [Scope(channel="douyin", shop="default")] and principal.expires_at == expires_at

    plain = await orderhub(sqlite_url, "token", "issue", "--role", "admin", "--name", "alice")
    assert plain.exit_code == 0 and "shown this once" in plain.stdout and "never expires" in plain.stdout
    alice_token = plain.stdout.strip().splitlines()[-1]
    assert alice_token.startswith("oh_admin_")

    listed = await orderhub(sqlite_url, "token", "list", "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["role"]) for r in rows] == [("douyin-app", "channel"), ("alice", "admin")]
    assert set(rows[0]) == {"id", "name", "role", "scopes", "created_at", "expires_at", "revoked_at"}
    assert shown["token"] not in listed.stdout and alice_token not in listed.stdout
    table = await orderhub(sqlite_url, "token", "list")
    assert table.exit_code == 0 and "douyin/default" in table.stdout and "active" in table.stdout

    revoked = await orderhub(sqlite_url, "token", "revoke", shown["id"])
    assert revoked.exit_code == 0 and "refused from now on" in revoked.stdout
    assert await principal_by_token(sqlite_url, shown["token"], utcnow()) == (None, "token revoked")
    assert (await orderhub(sqlite_url, "token", "revoke", shown["id"])).exit_code == 0  # again: nothing changes
    assert "revoked" in (await orderhub(sqlite_url, "token", "list")).stdout

    unknown = await orderhub(sqlite_url, "token", "revoke", "p_nobody0000")
    assert unknown.exit_code == 1 and "no principal p_nobody0000" in unknown.stdout


@pytest.mark.parametrize("args, option", [
    (["--role", "root"], "--role"),
    (["--role", "channel", "--shop", "default"], "--shop"),
    (["--role", "channel", "--channel", "ebay"], "--channel"),
    (["--role", "channel", "--expires-in", "3 weeks"], "--expires-in"),
])
async def test_a_refused_issue_names_the_option(sqlite_url, args, option):
    refused = await orderhub(sqlite_url, "token", "issue", "--name", "x", *args)
    assert refused.exit_code == 2 and option in refused.output
    assert await list_principals(sqlite_url) == []


# --- HTTP --------------------------------------------------------------------------------------------------

@pytest.fixture
async def api(sqlite_url):
    app = create_app(Settings(database_url=sqlite_url), migrate=False)
    if not any(getattr(route, "path", "") == "/v1/principals" for route in app.routes):
        app.include_router(principals_api.router)  # until api/app.py includes it
    admin = await issue_token(sqlite_url, "admin", label="test-admin")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                                 headers={"Authorization": f"Bearer {admin}"}) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def code_of(body: dict) -> str:
    """An error answer's code, in the {"error"} shape or the problem+json one ("type": "/problems/<code>")."""
    return body.get("error") or body["type"].rsplit("/", 1)[-1]


async def test_admins_issue_list_and_revoke_principals_over_http(api):
    created = await api.post("/v1/principals", json={"role": "channel", "name": "jd-app", "channel": "jd",
                                                     "shop": "default", "expires_in_days": 30})
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "name", "role", "scopes", "created_at", "expires_at", "revoked_at", "token"}
    assert body["scopes"] == [{"channel": "jd", "shop": "default"}] and body["revoked_at"] is None
    lifetime = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(body["created_at"])
    assert lifetime == timedelta(days=30)

    operator = (await api.post("/v1/principals", json={"role": "operator", "name": "op-7"})).json()
    assert operator["scopes"] == [] and operator["expires_at"] is None
    assert (await api.get("/v1/principals", headers=bearer(operator["token"]))).status_code == 403  # admins only

    listed = await api.get("/v1/principals")
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [i["name"] for i in items] == ["test-admin", "jd-app", "op-7"]
    assert all("token" not in i and "token_hash" not in i for i in items)

    new_admin = (await api.post("/v1/principals", json={"role": "admin", "name": "alice"})).json()
    assert (await api.get("/v1/principals", headers=bearer(new_admin["token"]))).status_code == 200
    revoked = await api.delete(f"/v1/principals/{new_admin['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await api.get("/v1/principals", headers=bearer(new_admin["token"]))).status_code == 401  # the next one
    again = await api.delete(f"/v1/principals/{new_admin['id']}")
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]

    missing = await api.delete("/v1/principals/p_nobody0000")
    assert missing.status_code == 404 and code_of(missing.json()) == "not_found"


@pytest.mark.parametrize("body, field", [
    ({"role": "root", "name": "x"}, "role"),
    ({"role": "channel", "name": "x", "shop": "default"}, "shop"),
    ({"role": "channel", "name": "x", "channel": "ebay"}, "channel"),
    ({"role": "channel", "name": "x", "expires_in_days": "30"}, "expires_in_days"),  # strict: no string
    ({"role": "channel", "name": "x", "expires_in_days": True}, "expires_in_days"),
    ({"role": "channel", "name": "x", "expires_in_days": 0}, "expires_in_days"),
    ({"role": "channel", "name": "x", "created_by": "someone else"}, "created_by"),  # no unknown fields
    ({"role": "channel"}, "name"),
])
async def test_a_principal_that_cannot_be_issued_over_http_is_422_naming_the_field(api, body, field):
    refused = await api.post("/v1/principals", json=body)
    assert refused.status_code == 422 and code_of(refused.json()) == "validation_failed"
    assert field in [e["field"] for e in refused.json()["errors"]]
    assert [i["name"] for i in (await api.get("/v1/principals")).json()["items"]] == ["test-admin"]


# --- migration of the api_tokens of an older install -------------------------------------------------------

async def migrate(url: str, revision: str, *, down: bool = False) -> None:
    await asyncio.to_thread(command.downgrade if down else command.upgrade, alembic_config(url), revision)


async def test_api_tokens_become_principals_and_keep_working(db_url):
    await migrate(db_url, "0012", down=True)
    tokens = {"ops": ("operator", "ops-bot"), "dev": ("admin", "dev stack"), "bare": ("channel", "")}
    created = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    async with session_scope(db_url) as session:
        for token, (role, label) in tokens.items():
            await session.execute(text("INSERT INTO api_tokens (token_hash, role, label, created_at) "
                                       "VALUES (:h, :r, :l, :at)"),
                                  {"h": hash_token(f"oh_{token}"), "r": role, "l": label, "at": created})
    await migrate(db_url, "head")

    found = {token: (await principal_by_token(db_url, f"oh_{token}", utcnow()))[0] for token in tokens}
    assert {t: (p.role, p.name) for t, p in found.items() if p} == {
        "ops": ("operator", "ops-bot"), "dev": ("admin", "dev-admin"), "bare": ("channel", "legacy-channel")}
    assert all(p is not None and p.created_at == created and p.scopes == [] for p in found.values())

    # Back down: the principals a role token can stand for return as api_tokens (not the revoked, scoped
    # or expiring ones, whose token would otherwise gain rights), and up again they still work.
    await revoke_principal(db_url, found["bare"].id, utcnow())  # type: ignore[union-attr]
    scoped, scoped_token = await issue_principal(db_url, role="channel", name="scoped", channel="jd")
    await migrate(db_url, "0012", down=True)
    async with read_scope(db_url) as session:
        rows = (await session.execute(text("SELECT token_hash, role, label FROM api_tokens"))).all()
    assert sorted((r.role, r.label) for r in rows) == [("admin", "dev-admin"), ("operator", "ops-bot")]
    await migrate(db_url, "head")
    assert (await principal_by_token(db_url, "oh_ops", utcnow()))[0] is not None
    assert await principal_by_token(db_url, scoped_token, utcnow()) == (None, "unknown token")


# --- throttling failed authentications ---------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_repeated_failures_block_a_client_for_a_while():
    clock = Clock()
    throttle = AuthThrottle(max_failures=3, window_s=60, block_s=30, clock=clock)
    assert throttle.blocked("1.2.3.4") is None
    assert throttle.failed("1.2.3.4") is None and throttle.failed("1.2.3.4") is None
    throttle.failed("5.6.7.8")
    assert throttle.blocked("1.2.3.4") is None
    throttle.succeeded("1.2.3.4")  # a success does not wipe failures within the window
    assert throttle.failed("1.2.3.4") == 30
    assert throttle.blocked("1.2.3.4") == 30 and throttle.blocked("5.6.7.8") is None  # per client
    clock.now += 20
    assert throttle.blocked("1.2.3.4") == 10
    clock.now += 10
    assert throttle.blocked("1.2.3.4") is None
    # Counting starts again after the block.
    assert throttle.failed("1.2.3.4") is None and throttle.failed("1.2.3.4") is None
    assert throttle.failed("1.2.3.4") == 30


def test_failures_spread_beyond_the_window_do_not_block():
    clock = Clock()
    throttle = AuthThrottle(max_failures=3, window_s=60, clock=clock)
    for _ in range(10):
        assert throttle.failed("1.2.3.4") is None
        clock.now += 31  # two failures per window at most
        if throttle.failed("1.2.3.4") is not None:
            pytest.fail("blocked though never three failures within a window")
        clock.now += 31
    clock.now += 61
    throttle.succeeded("1.2.3.4")
    assert len(throttle) == 0  # a client whose window passed is forgotten


def test_memory_is_bounded():
    clock = Clock()
    throttle = AuthThrottle(max_failures=2, window_s=60, max_clients=100, clock=clock)
    throttle.failed("attacker")
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}")
        clock.now += 0.001
    assert len(throttle) == 100
    assert throttle.failed("attacker") is None  # forgotten as the least recently failed; counts from one again


def test_settings_name_the_limits():
    settings = Settings()
    throttle = AuthThrottle(settings.auth_failure_limit, settings.auth_failure_window_s)
    assert (throttle.max_failures, throttle.window_s, throttle.block_s) == (10, 60.0, 60.0)
    assert not hasattr(settings, "api_token_cache_s")

