"""ChannelSyncWorkflow against the sandbox platforms over HTTP, per channel: every order pulled is
one hub order (none missed, none doubled) across worker restarts, overlapping windows and
continue-as-new; a platform-side cancel reaches the running order; a webhook that never arrived is
caught by the pull; an expired token pauses that shop (visible at GET /v1/shops) and a new token
given with PUT resumes it while the other shops keep running.

The sandbox here pushes its webhooks to a port nothing listens on: every order arrives by pull.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from api.app import create_app
from api.auth import ROLES, issue_token
from models.channel_sync import ChannelSyncInput, channel_sync_id
from models.db import session_scope
from models.order import CHANNELS
from models.tables import OrderRecord, Shop
from orderkit import running_worker, settings_for, wait_until
from workers import stack
from workflows.channel_sync import ChannelSyncWorkflow

LOST_WEBHOOKS = "http://127.0.0.1:9"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def platforms() -> AsyncIterator[str]:
    async with stack.sandbox_process(delivery_delay_s="0", hub_url=LOST_WEBHOOKS) as url:
        yield url


class Platform:
    """The sandbox platform's control API for one shop."""

    def __init__(self, http: httpx.AsyncClient, channel: str, shop: str) -> None:
        self.http, self.channel, self.shop = http, channel, shop
        self.base = f"/_sandbox/platforms/{channel}/shops/{shop}"
        self.token = f"token-{uuid.uuid4().hex[:10]}"

    async def open(self, db_url: str) -> None:
        """The shop exists at the platform and is registered in the hub with the same credentials."""
        creds = {"app_key": f"key-{self.shop}", "app_secret": f"secret-{self.shop}", "access_token": self.token}
        assert (await self.http.put(self.base, json=creds)).status_code == 200
        async with session_scope(db_url) as session:
            session.add(Shop(channel=self.channel, shop=self.shop, sync_interval_s=300, **creds))

    async def sell(self, count: int) -> list[str]:
        response = await self.http.post(f"{self.base}/orders", json={"count": count, "skus": ["SKU-1", "SKU-4"]})
        assert response.status_code == 200, response.text
        return response.json()["created"]

    async def event(self, external_id: str, event: str) -> None:
        response = await self.http.post(f"{self.base}/orders/{external_id}/events", json={"event": event})
        assert response.status_code == 200, response.text

    async def token_action(self, action: str) -> dict:
        response = await self.http.post(f"{self.base}/token", json={"action": action})
        assert response.status_code == 200, response.text
        return response.json()


async def hub_orders(db_url: str, channel: str, shop: str) -> dict[str, str]:
    async with session_scope(db_url) as session:
        rows = (await session.execute(select(OrderRecord.external_id, OrderRecord.status)
                                      .where(OrderRecord.channel == channel, OrderRecord.shop == shop))).all()
    return dict(rows)


def shop_name() -> str:
    return f"s{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("channel", CHANNELS)
async def test_pull_hands_every_order_to_one_workflow_across_restarts(dev_env, platforms, sqlite_url, channel):
    settings = settings_for(sqlite_url, platforms)
    client = dev_env.client
    async with httpx.AsyncClient(base_url=platforms) as http:
        platform = Platform(http, channel, shop_name())
        await platform.open(sqlite_url)
        first = await platform.sell(7)
        sync_input = ChannelSyncInput(channel=channel, shop=platform.shop, sync_interval_s=1, overlap_s=120,
                                      initial_lookback_s=3600, polls_per_run=3)
        async with running_worker(client, settings):
            await client.start_workflow(ChannelSyncWorkflow.run, sync_input,
                                        id=channel_sync_id(channel, platform.shop), task_queue=settings.task_queue)
            sync = client.get_workflow_handle(channel_sync_id(channel, platform.shop))  # the latest run
            await wait_until(lambda: hub_orders(sqlite_url, channel, platform.shop), lambda o: set(o) == set(first))

        # The worker is down (a deploy): the platform takes more orders and a buyer cancels one.
        second = await platform.sell(5)
        await platform.event(first[0], "cancel")
        async with running_worker(client, settings):
            orders = await wait_until(lambda: hub_orders(sqlite_url, channel, platform.shop),
                                      lambda o: set(o) == set(first + second) and o[first[0]] == "CANCELLED")
            # More polls over the same overlapping windows, through continue-as-new: still one order each.
            await wait_until(lambda: sync.query(ChannelSyncWorkflow.state), lambda s: s.polls >= 2 and s.cursor)
            runs = await wait_until(lambda: _runs(sync), lambda r: r >= 2)
        assert runs >= 2, "polls_per_run=3 continues as new"
        orders = await hub_orders(sqlite_url, channel, platform.shop)
        assert sorted(orders) == sorted(first + second)
        async with session_scope(sqlite_url) as session:
            shop = await session.get(Shop, (channel, platform.shop))
        assert shop.status == "ACTIVE" and shop.sync_cursor is not None and shop.orders_pulled >= len(orders)
        await sync.terminate("test over")


async def _runs(handle) -> int:
    """How many runs the workflow id has had (1 + continue-as-new count), from the latest run's history."""
    first_event = [e async for e in handle.fetch_history_events()][0]
    attrs = first_event.workflow_execution_started_event_attributes
    return 2 if attrs.continued_execution_run_id else 1


@pytest.mark.parametrize("channel", CHANNELS)
async def test_expired_token_pauses_only_that_shop_until_put_gives_a_new_one(dev_env, platforms, sqlite_url, channel):
    settings = settings_for(sqlite_url, platforms)
    app = create_app(settings, migrate=False)
    app.state.temporal = dev_env.client
    admin = {"Authorization": f"Bearer {await issue_token(sqlite_url, 'admin')}"}
    assert "admin" in ROLES
    async with httpx.AsyncClient(base_url=platforms) as http, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api, \
            running_worker(dev_env.client, settings):
        paused_shop, other_shop = Platform(http, channel, shop_name()), Platform(http, channel, shop_name())
        for platform in (paused_shop, other_shop):
            creds = {"app_key": f"key-{platform.shop}", "app_secret": f"secret-{platform.shop}",
                     "access_token": platform.token}
            assert (await http.put(platform.base, json=creds)).status_code == 200
            created = await api.post("/v1/shops", headers=admin, json={
                "channel": channel, "shop": platform.shop, "credentials": creds, "sync_interval_s": 3600})
            assert created.status_code == 201, created.text

        async def shops() -> dict[str, dict]:
            listed = (await api.get("/v1/shops", headers=admin)).json()
            return {s["shop"]: s for s in listed}

        async def pull(platform: Platform, expected: list[str]) -> None:
            assert (await api.post(f"/v1/shops/{channel}/{platform.shop}/sync", headers=admin)).status_code == 202
            await wait_until(lambda: hub_orders(sqlite_url, channel, platform.shop), lambda o: set(o) == set(expected))

        before = await paused_shop.sell(2)
        await pull(paused_shop, before)

        # The seller's authorisation expires at the platform.
        await paused_shop.token_action("expire")
        after = await paused_shop.sell(1)
        await api.post(f"/v1/shops/{channel}/{paused_shop.shop}/sync", headers=admin)
        listed = await wait_until(shops, lambda s: s[paused_shop.shop]["status"] == "PAUSED")
        assert listed[paused_shop.shop]["status_reason"], "the alert says why"
        assert paused_shop.token not in str(listed)

        # Other shops keep running.
        other_orders = await other_shop.sell(2)
        await pull(other_shop, other_orders)
        assert (await shops())[other_shop.shop]["status"] == "ACTIVE"
        assert set(await hub_orders(sqlite_url, channel, paused_shop.shop)) == set(before)

        # A new token through PUT resumes the paused shop at once; nothing was missed meanwhile.
        new_token = (await paused_shop.token_action("issue"))["access_token"]
        updated = await api.put(f"/v1/shops/{channel}/{paused_shop.shop}", headers=admin,
                                json={"access_token": new_token})
        assert updated.status_code == 200
        await wait_until(lambda: hub_orders(sqlite_url, channel, paused_shop.shop),
                         lambda o: set(o) == set(before + after))
        listed = await wait_until(shops, lambda s: s[paused_shop.shop]["status"] == "ACTIVE")
        assert listed[paused_shop.shop]["status_reason"] is None

        for platform in (paused_shop, other_shop):
            await dev_env.client.get_workflow_handle(channel_sync_id(channel, platform.shop)).terminate("test over")
