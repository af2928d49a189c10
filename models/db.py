"""Database engine, sessions and migrations (SQLite by default, PostgreSQL via DATABASE_URL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_engines: dict[str, AsyncEngine] = {}
_makers: dict[tuple[str, bool], async_sessionmaker[AsyncSession]] = {}  # (url, autocommit)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str) -> AsyncEngine:
    if is_sqlite(url):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            # WAL lets the API read while the worker writes; busy_timeout queues writers
            # instead of failing them; SQLite does not enforce foreign keys unless asked.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # No pre-ping: it is a round trip before every transaction. A connection dropped meanwhile fails
    # its statement instead, SQLAlchemy then discards the whole pool, and the activity retries (the
    # API answers 503): the database-cut drill (bench/drills.py) holds this to nothing lost.
    return create_async_engine(url, pool_size=10, max_overflow=20)


def get_engine(url: str) -> AsyncEngine:
    """One engine per URL per process."""
    if url not in _engines:
        _engines[url] = create_engine(url)
    return _engines[url]


async def dispose_engines() -> None:
    for engine in list(_engines.values()):
        await engine.dispose()
    _engines.clear()
    _makers.clear()


def session_factory(url: str, *, autocommit: bool = False) -> async_sessionmaker[AsyncSession]:
    """One sessionmaker per database (and mode), made once: every transaction of every activity asks."""
    key = (url, autocommit)
    if key not in _makers:
        engine = get_engine(url)
        if autocommit:
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        _makers[key] = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    return _makers[key]


@asynccontextmanager
async def session_scope(url: str) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits on success and rolls back on error."""
    async with session_factory(url)() as session:
        async with session.begin():
            yield session


@asynccontextmanager
async def read_scope(url: str) -> AsyncIterator[AsyncSession]:
    """A session for a single-statement read: autocommit, so no BEGIN and COMMIT round trips around
    it (the API's lookups on every order, scan and carrier callback). Reads needing one snapshot
    across statements, and every write, use session_scope."""
    async with session_factory(url, autocommit=True)() as session:
        yield session


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade_sync(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


async def upgrade(url: str) -> None:
    """Apply migrations. Alembic's env runs its own event loop, so it gets a thread."""
    await asyncio.to_thread(upgrade_sync, url)
