"""`orderhub token issue|list|revoke`: principals from the command line, each action an audit entry
by the CLI principal (actor `cli`, the OS user, role admin). The same as /v1/principals over HTTP."""

from __future__ import annotations

import asyncio
import getpass
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

# The models are imported by the commands: the database stack takes a second to import, which every
# other `orderhub` command would pay.
if TYPE_CHECKING:
    from models.audit import Outcome
    from models.principals import Principal

app = typer.Typer(help="Principals and their bearer tokens (the same as /v1/principals).", no_args_is_help=True)


def console() -> Console:
    # Made per command, not at import: it takes the terminal's width (COLUMNS) when it prints.
    return Console()
T = TypeVar("T")

_DURATION = re.compile(r"^(\d+)([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str) -> timedelta:
    """"90d", "12h", "30m" -> a timedelta; anything else is a typer.BadParameter."""
    found = _DURATION.match(text.strip())
    if found is None or int(found.group(1)) == 0:
        raise typer.BadParameter("a positive whole number of days, hours or minutes: 90d, 12h, 30m",
                                 param_hint="--expires-in")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def _run(work: Callable[[str], Awaitable[T]]) -> T:
    """One command's database work in a loop of its own: migrate first (a fresh install's first
    command may be `token issue`), and close the connections before the loop ends."""
    from models.config import get_settings
    from models.db import dispose_engines, upgrade

    settings = get_settings()
    db_url = settings.db_url
    if not settings.database_url:  # SQLite in data_dir, which a fresh install has not made yet
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def go() -> T:
        try:
            await upgrade(db_url)
            return await work(db_url)
        finally:
            await dispose_engines()

    return asyncio.run(go())


async def _audit(db_url: str, action: str, object_id: str | None, *, before: dict[str, Any] | None = None,
                 after: dict[str, Any] | None = None, outcome: Outcome = "ok") -> None:
    """The CLI's audit entry (models.audit.cli_audit: actor `cli`, the OS user, role admin)."""
    from models.audit import cli_audit

    await cli_audit(db_url, action, object_type="principal", object_id=object_id, before=before, after=after,
                    outcome=outcome)


def _scopes(principal: Principal) -> list[dict[str, Any]]:
    return [scope.model_dump() for scope in principal.scopes]


def _when(at: datetime | None) -> str | None:
    """A time in JSON and audit entries, as the API writes it."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at is not None else None


def _shown(at: datetime) -> str:
    """A time for a person reading the terminal."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@app.command("issue")
def issue(
    role: Annotated[str, typer.Option(help="admin, operator, channel, warehouse, ... (docs/api.md); an unknown "
                                           "one is refused, naming the roles")],
    name: Annotated[str, typer.Option(help="who or what uses it: a person, an integration (douyin-app)")],
    channel: Annotated[str | None, typer.Option(help="scope: only this channel's orders and tickets")] = None,
    shop: Annotated[str | None, typer.Option(help="scope: only this shop of --channel")] = None,
    expires_in: Annotated[str | None, typer.Option(help="the token is refused after this: 90d, 12h, 30m "
                                                        "(default: never)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help='one line of JSON: {"id", "name", "role", "token", '
                                                         '"expires_at"}')] = False,
) -> None:
    """Issue a principal and print its bearer token, once: only its hash is kept."""
    from models import principals as registry

    lifetime = parse_duration(expires_in) if expires_in is not None else None

    async def work(db_url: str) -> tuple[Principal, str]:
        try:
            principal, token = await registry.issue_principal(
                db_url, role=role, name=name, channel=channel, shop=shop, expires_in=lifetime,
                created_by=f"cli:{getpass.getuser()}")
        except registry.InvalidPrincipal as err:
            await _audit(db_url, "token.issue", None, outcome="refused",
                         after={"name": name, "role": role, "channel": channel, "shop": shop, "refused": str(err)})
            raise
        await _audit(db_url, "token.issue", principal.id, after={
            "name": principal.name, "role": principal.role, "scopes": _scopes(principal),
            "expires_at": _when(principal.expires_at)})
        return principal, token

    try:
        principal, token = _run(work)
    except registry.InvalidPrincipal as err:
        raise typer.BadParameter(err.reason, param_hint=f"--{err.field.replace('_', '-')}") from None
    if as_json:
        print(json.dumps({"id": principal.id, "name": principal.name, "role": principal.role, "token": token,
                          "expires_at": _when(principal.expires_at)}, ensure_ascii=False))
        return
    expires = f", expires {_shown(principal.expires_at)}" if principal.expires_at else ", never expires"
    console().print(f"issued {principal.id}: {principal.name}, {principal.role}, scope {_scope_text(principal)}{expires}")
    console().print("token (shown this once; keep it in your secret store):")
    print(token)


def _scope_text(principal: Principal) -> str:
    return ", ".join(f"{s.channel}/{s.shop}" if s.shop else s.channel for s in principal.scopes) or "all"


def _state(principal: Principal, now: datetime) -> str:
    if principal.revoked_at is not None:
        return "revoked"
    if principal.expires_at is not None and principal.expires_at <= now:
        return "expired"
    return "active"


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="a JSON list of principals")] = False,
) -> None:
    """Every principal, revoked and expired ones too (never a token)."""
    from models import principals as registry

    principals = _run(registry.list_principals)
    if as_json:
        print(json.dumps([p.model_dump(mode="json") for p in principals], ensure_ascii=False))
        return
    now = datetime.now(UTC)
    table = Table(title=f"{len(principals)} principals")
    for column in ("id", "name", "role", "scope", "created", "expires", "state"):
        table.add_column(column)
    for p in principals:
        table.add_row(p.id, p.name, p.role, _scope_text(p), _shown(p.created_at) if p.created_at else "",
                      _shown(p.expires_at) if p.expires_at else "never", _state(p, now))
    console().print(table)


@app.command("revoke")
def revoke(principal_id: Annotated[str, typer.Argument(help="the principal's id (p_...), from `token list`")]) -> None:
    """Revoke a principal's token: refused from the next request on, on every API process."""
    from models import principals as registry

    async def work(db_url: str) -> tuple[Principal | None, Principal | None]:
        before = await registry.get_principal(db_url, principal_id)
        after = await registry.revoke_principal(db_url, principal_id, datetime.now(UTC))
        if after is None:
            await _audit(db_url, "token.revoke", principal_id, outcome="refused")
            return None, None
        # Revoking again changes nothing, and its entry says so: before and after hold the first time.
        await _audit(db_url, "token.revoke", principal_id,
                     before={"revoked_at": _when(before.revoked_at) if before else None},
                     after={"revoked_at": _when(after.revoked_at)})
        return before, after

    before, after = _run(work)
    if after is None:
        console().print(f"[red]no principal {principal_id}[/red]; `orderhub token list` shows them")
        raise typer.Exit(1)
    if before is not None and before.revoked_at is not None:
        console().print(f"{principal_id} ({after.name}) was already revoked at {_shown(before.revoked_at)}")
    else:
        console().print(f"revoked {principal_id} ({after.name}, {after.role}); its token is refused from now on")
