"""Principals: who calls the hub. One per person and per integration, each with a role and, for
integrations and shop staff, a scope (a channel, or one shop of a channel). A principal's tokens are
stored only as SHA-256 hashes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import DateTime, update
from sqlmodel import Field as TableField
from sqlmodel import SQLModel, col, select

from models.db import read_scope, session_scope
from models.order import CHANNELS

# support_lead, finance and operations approve after-sales tickets (models.after_sales.TicketPolicy.tiers);
# warehouse prints, scans and counts stock; customer_service answers buyers about the orders of its scope.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}")  # a handle: `name@id` is a staff id on timelines
ROLES = ("admin", "operator", "channel", "warehouse", "customer_service", "support_lead", "finance", "operations")


class Scope(BaseModel):
    """What a scoped principal may see: one channel's orders, or one shop's (shop set)."""

    model_config = ConfigDict(frozen=True)

    channel: str
    shop: str | None = None

    def admits(self, channel: str, shop: str) -> bool:
        return channel == self.channel and (self.shop is None or shop == self.shop)


class Principal(BaseModel):
    """The authenticated caller, as every route, audit entry and workflow message sees it."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    role: str
    scopes: list[Scope] = Field(default_factory=list, description="empty: every channel and shop")
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def actor(self) -> str:
        """How the principal is named on timelines, holds and workflow messages: `name@id` (a staff-id
        shaped string, so it fits the fields that take one; the id keeps two people of one name apart)."""
        handle = re.sub(r"[^A-Za-z0-9_.\-]", "-", self.name)[:40].lstrip("-_.") or "principal"
        return f"{handle}@{self.id}"

    def admits(self, channel: str, shop: str) -> bool:
        """Whether an order or ticket of this channel and shop is within the principal's scope."""
        return not self.scopes or any(s.admits(channel, shop) for s in self.scopes)


# --- The stored principal, and issuing, finding, listing and revoking it -------------------------------------

def _utcnow() -> datetime:
    # models.tables.utcnow, which cannot be imported here: models.tables imports this module to register the table.
    return datetime.now(UTC)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PrincipalRecord(SQLModel, table=True):
    """A principal as stored: its one token only as a SHA-256 hash (a token is shown once, when issued)."""

    __tablename__ = "principals"

    id: str = TableField(primary_key=True, max_length=16)
    name: str = TableField(max_length=100)
    role: str = TableField(max_length=32)
    channel: str | None = TableField(default=None, max_length=16)
    shop: str | None = TableField(default=None, max_length=64)
    # Unique and indexed: every authenticated request finds its principal by this, in one lookup.
    token_hash: str = TableField(max_length=64, unique=True, index=True)
    created_at: datetime = TableField(default_factory=_utcnow, sa_type=DateTime(timezone=True))
    expires_at: datetime | None = TableField(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = TableField(default=None, sa_type=DateTime(timezone=True))
    created_by: str | None = TableField(default=None, max_length=120)


class InvalidPrincipal(ValueError):
    """A principal that cannot be issued, naming the field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


_SHOP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")  # models.order.ShopName


def new_principal_id() -> str:
    return "p_" + secrets.token_urlsafe(8)[:10]


def new_token(role: str) -> str:
    return f"oh_{role}_{secrets.token_urlsafe(24)}"


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def as_principal(row: PrincipalRecord) -> Principal:
    scopes = [Scope(channel=row.channel, shop=row.shop)] if row.channel else []
    return Principal(id=row.id, name=row.name, role=row.role, scopes=scopes, created_at=_aware(row.created_at),
                     expires_at=_aware(row.expires_at), revoked_at=_aware(row.revoked_at))


def _check(role: str, name: str, channel: str | None, shop: str | None, expires_in: timedelta | None) -> None:
    if role not in ROLES:
        raise InvalidPrincipal("role", f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not NAME.fullmatch(name):
        raise InvalidPrincipal("name", "1 to 40 letters, digits, '.', '_' or '-', starting with a letter or digit "
                                       "(it names the principal on timelines and approvals)")
    if shop is not None and channel is None:
        raise InvalidPrincipal("shop", "a shop scope needs its channel")
    if channel is not None and channel not in CHANNELS:
        raise InvalidPrincipal("channel", f"unknown channel {channel!r}; one of {', '.join(CHANNELS)}")
    if shop is not None and not _SHOP.match(shop):
        raise InvalidPrincipal("shop", "1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit")
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidPrincipal("expires_in", "must be positive")


async def _issue(db_url: str, principal_id: str, *, role: str, name: str, channel: str | None, shop: str | None,
                 expires_in: timedelta | None, created_by: str | None) -> tuple[Principal, str]:
    _check(role, name, channel, shop, expires_in)
    token, now = new_token(role), _utcnow()
    row = PrincipalRecord(id=principal_id, name=name, role=role, channel=channel, shop=shop,
                          token_hash=hash_token(token), created_at=now,
                          expires_at=now + expires_in if expires_in is not None else None, created_by=created_by)
    async with session_scope(db_url) as session:
        session.add(row)
    return as_principal(row), token


async def issue_principal(db_url: str, *, role: str, name: str, channel: str | None = None, shop: str | None = None,
                          expires_in: timedelta | None = None,
                          created_by: str | None = None) -> tuple[Principal, str]:
    """A new principal and its token, which is returned here once and stored only as its hash.
    Raises InvalidPrincipal (a ValueError naming the field) for an unknown role or channel, a shop
    without its channel, or a non-positive `expires_in`."""
    return await _issue(db_url, new_principal_id(), role=role, name=name, channel=channel, shop=shop,
                        expires_in=expires_in, created_by=created_by)


async def issue_token(db_url: str, role: str, label: str = "") -> str:
    """An unscoped, unexpiring principal's token: for tests, benchmarks and a first install."""
    principal_id = new_principal_id()
    _, token = await _issue(db_url, principal_id, role=role, name=label or f"{role}-{principal_id[2:8]}",
                            channel=None, shop=None, expires_in=None, created_by=None)
    return token


async def principal_by_token(db_url: str, token: str, now: datetime) -> tuple[Principal | None, str]:
    """The principal a bearer token belongs to, or None and why ("unknown token", "token revoked",
    "token expired"). One indexed read and no cache, so a revoke or an expiry holds on the very next
    request on every API process."""
    async with read_scope(db_url) as session:
        row = await session.scalar(select(PrincipalRecord).where(col(PrincipalRecord.token_hash) == hash_token(token)))
    if row is None:
        return None, "unknown token"
    if row.revoked_at is not None:
        return None, "token revoked"
    expires_at = _aware(row.expires_at)
    if expires_at is not None and expires_at <= now:
        return None, "token expired"
    return as_principal(row), ""


async def list_principals(db_url: str) -> list[Principal]:
    """Every principal, revoked and expired ones too, oldest first."""
    async with read_scope(db_url) as session:
        rows = await session.scalars(
            select(PrincipalRecord).order_by(col(PrincipalRecord.created_at), col(PrincipalRecord.id)))
        return [as_principal(row) for row in rows]


async def get_principal(db_url: str, principal_id: str) -> Principal | None:
    async with read_scope(db_url) as session:
        row = await session.get(PrincipalRecord, principal_id)
        return as_principal(row) if row is not None else None


async def revoke_principal(db_url: str, principal_id: str, now: datetime) -> Principal | None:
    """Revoke the principal's token from `now` on (None: no such principal). Revoking again keeps
    the first time: the update only touches a principal not yet revoked."""
    async with session_scope(db_url) as session:
        await session.execute(update(PrincipalRecord)
                              .where(col(PrincipalRecord.id) == principal_id, col(PrincipalRecord.revoked_at).is_(None))
                              .values(revoked_at=now))
        row = await session.get(PrincipalRecord, principal_id, populate_existing=True)
        return as_principal(row) if row is not None else None


async def ensure_dev_principals(db_url: str, tokens_file: Path) -> dict[str, str]:
    """`make dev`'s tokens, one per role: those in `tokens_file` are kept while the database still
    admits them for their role; the others are issued anew to principals named `dev-<role>`. The file
    is readable by its owner only."""
    tokens = await asyncio.to_thread(_read_tokens, tokens_file)
    now = _utcnow()
    for role in ROLES:
        principal = (await principal_by_token(db_url, tokens[role], now))[0] if role in tokens else None
        if principal is None or principal.role != role:
            _, tokens[role] = await issue_principal(db_url, role=role, name=f"dev-{role}", created_by="orderhub dev")
    await asyncio.to_thread(_write_tokens, tokens_file, tokens)
    return {role: tokens[role] for role in ROLES}


def _read_tokens(tokens_file: Path) -> dict[str, str]:
    if not tokens_file.exists():
        return {}
    try:
        return {k: v for k, v in json.loads(tokens_file.read_text()).items() if k in ROLES and isinstance(v, str)}
    except (ValueError, AttributeError):
        return {}


def _write_tokens(tokens_file: Path, tokens: dict[str, str]) -> None:
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600, not chmod-ed after writing: the tokens are never readable by others, not even briefly.
    fd = os.open(tokens_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file left by an older version may have had wider rights
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps({role: tokens[role] for role in ROLES if role in tokens}, indent=2) + "\n")
