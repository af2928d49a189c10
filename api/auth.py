"""Bearer tokens with roles. Only SHA-256 hashes are stored; the dev stack writes the plain
tokens to .orderhub/tokens.json for the person running it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import col, select

from models.db import read_scope, session_scope
from models.tables import ApiToken

# support_lead, finance and operations approve after-sales tickets (models.after_sales.TicketPolicy.tiers).
ROLES = ("admin", "operator", "channel", "support_lead", "finance", "operations")

_bearer = HTTPBearer(auto_error=False)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def role_of(db_url: str, token: str) -> str | None:
    return await _role_by_hash(db_url, hash_token(token))


async def _role_by_hash(db_url: str, token_hash: str) -> str | None:
    async with read_scope(db_url) as session:
        return await session.scalar(select(ApiToken.role).where(col(ApiToken.token_hash) == token_hash))


class KnownTokens:
    """Roles of tokens the database confirmed, kept `ttl_s`: a burst of orders (a flash sale, a
    platform replaying its webhooks) does not look the same token up in the database on every request.
    Only found tokens are kept, so a new one works at once; a deleted one stops within `ttl_s`."""

    def __init__(self, db_url: str, ttl_s: float) -> None:
        self.db_url, self.ttl_s = db_url, ttl_s
        self._roles: dict[str, tuple[str, float]] = {}  # token hash -> (role, confirmed at)

    async def role_of(self, token: str) -> str | None:
        key, now = hash_token(token), time.monotonic()
        known = self._roles.get(key)
        if known is not None and now - known[1] < self.ttl_s:
            return known[0]
        role = await _role_by_hash(self.db_url, key)
        if role is None:
            self._roles.pop(key, None)
        elif self.ttl_s > 0:
            self._roles[key] = (role, now)
        return role


async def issue_token(db_url: str, role: str, label: str = "") -> str:
    token = f"oh_{role}_{secrets.token_urlsafe(24)}"
    async with session_scope(db_url) as session:
        session.add(ApiToken(token_hash=hash_token(token), role=role, label=label))
    return token


async def ensure_dev_tokens(db_url: str, tokens_file: Path) -> dict[str, str]:
    """Reuse the tokens in tokens_file while the database still knows them; issue the rest."""
    tokens = await asyncio.to_thread(_read_tokens, tokens_file)
    for role in ROLES:
        if role not in tokens or await role_of(db_url, tokens[role]) != role:
            tokens[role] = await issue_token(db_url, role, label="dev stack")
    await asyncio.to_thread(_write_tokens, tokens_file, tokens)
    return tokens


def _read_tokens(tokens_file: Path) -> dict[str, str]:
    if not tokens_file.exists():
        return {}
    try:
        return {k: v for k, v in json.loads(tokens_file.read_text()).items() if k in ROLES}
    except (ValueError, AttributeError):
        return {}


def _write_tokens(tokens_file: Path, tokens: dict[str, str]) -> None:
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    tokens_file.write_text(json.dumps(tokens, indent=2) + "\n")
    os.chmod(tokens_file, 0o600)


def require(*roles: str) -> Callable:
    """Dependency: the caller's role, which must be one of `roles`."""

    async def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
        status, detail, role = await authorize(request, credentials.credentials if credentials else None, roles)
        if role is None:
            raise HTTPException(status, detail, headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)
        return role

    check.roles = roles  # type: ignore[attr-defined]  # read by `route_roles`
    return check


async def authorize(request: Request, token: str | None, roles: tuple[str, ...]) -> tuple[int, str, str | None]:
    """(status, why, the caller's role when it is one of `roles`): the one check every route's
    `require` makes, and the one made before a body that failed to parse is kept in quarantine."""
    if token is None:
        return 401, "missing bearer token", None
    role = await request.app.state.tokens.role_of(token)
    if role is None:
        return 401, "unknown bearer token", None
    if role not in roles:
        return 403, f"role {role} may not do this; needs one of {', '.join(roles)}", None
    return 200, "", role


def route_roles(route: object) -> tuple[str, ...]:
    """The roles a route's `require` admits (none: the route has no token check)."""
    for dependency in getattr(getattr(route, "dependant", None), "dependencies", []):
        roles = getattr(dependency.call, "roles", None)
        if roles is not None:
            return tuple(roles)
    return ()


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
