"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables)
from models.db import get_engine, is_sqlite, read_scope, session_scope
from models.tables import Sku, utcnow


async def test_migrations_match_models(db_url):
    url = db_url  # migrated to head by the fixture

    def diff(connection):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)

    async with get_engine(url).connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_read_scope_reads_without_holding_a_transaction(db_url):
    """A single-statement read (read_scope) sees what was committed, and on PostgreSQL runs without a
    transaction around it: each statement its own, no BEGIN/COMMIT round trips."""
    async with session_scope(db_url) as session:
        session.add(Sku(code="SKU-READ", name="read me", created_at=utcnow()))
    async with read_scope(db_url) as session:
        assert await session.scalar(select(Sku.name).where(Sku.code == "SKU-READ")) == "read me"
        if not is_sqlite(db_url):
            first = await session.scalar(text("SELECT now()"))
            await asyncio.sleep(0.01)
            assert await session.scalar(text("SELECT now()")) > first  # now() is fixed within a transaction
    async with session_scope(db_url) as session:  # the pool's connections write in transactions again
        first = await session.scalar(text("SELECT now()" if not is_sqlite(db_url) else "SELECT 1"))
        assert await session.scalar(text("SELECT now()" if not is_sqlite(db_url) else "SELECT 1")) == first
