"""TEMPORARY until the principals helper's branch lands: role tokens seen as unscoped principals."""
# ruff: noqa
from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from sqlmodel import col, select

from models.db import read_scope
from models.principals import Principal
from models.tables import ApiToken


async def principal_by_token(db_url: str, token: str, now: datetime) -> tuple[Principal | None, str]:
    h = hashlib.sha256(token.encode()).hexdigest()
    async with read_scope(db_url) as session:
        row = await session.scalar(select(ApiToken).where(col(ApiToken.token_hash) == h))
    if row is None:
        return None, "unknown bearer token"
    return Principal(id="p_" + h[:10], name=row.label or f"dev-{row.role}", role=row.role), ""


class AuthThrottle:
    def blocked(self, client: str) -> float | None:
        return None

    def failed(self, client: str) -> None: ...

    def succeeded(self, client: str) -> None: ...
