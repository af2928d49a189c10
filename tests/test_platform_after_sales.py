"""A refund or return the buyer opens on a marketplace becomes an after-sales ticket within one sync, per
marketplace, against the sandbox platforms over HTTP and a real Temporal dev server: exactly one ticket
however often the shop syncs, with the platform's request id (GET /v1/after-sales/{id} shows it); rejecting
or approving the ticket answers that request at the platform by its own id, once. A request the hub
refuses (more than the order paid) is quarantined with its reason, not dropped.

The sandbox here pushes its webhooks to a port nothing listens on: orders arrive by pull.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio
from sqlmodel import col, select

from api.app import create_app
from api.auth import issue_token
from models.channel_sync import ChannelSyncInput, SyncNow, channel_sync_id
from models.db import session_scope
from models.ledger import balance, claim_refund, lock_order
from models.tables import AfterSalesTicketRecord, OrderRecord, QuarantinedPayload, Shop
from orderkit import running_worker, settings_for, wait_until
from workers import stack
from workflows.channel_sync import ChannelSyncWorkflow

LOST_WEBHOOKS = "http://127.0.0.1:9"
MARKETPLACES = ["taobao", "jd", "pinduoduo", "douyin", "shopify"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def platforms() -> AsyncIterator[str]:
    async with stack.sandbox_process(delivery_delay_s="0", hub_url=LOST_WEBHOOKS) as url:
        yield url


async def tickets_of(db_url: str, channel: str, shop: str) -> list[AfterSalesTicketRecord]:
    async with session_scope(db_url) as session:
        return list((await session.exec(select(AfterSalesTicketRecord).where(
            col(AfterSalesTicketRecord.channel) == channel, col(AfterSalesTicketRecord.shop) == shop))).all())


async def hub_order_ids(db_url: str, channel: str, shop: str) -> set[str]:
    async with session_scope(db_url) as session:
        return set((await session.exec(select(OrderRecord.external_id).where(
            col(OrderRecord.channel) == channel, col(OrderRecord.shop) == shop))).all())


class Shopfront:
    """One shop at a sandbox marketplace, registered in the hub, with its sync workflow."""

    def __init__(self, http: httpx.AsyncClient, client, channel: str) -> None:
        self.http, self.client, self.channel = http, client, channel
        self.shop = f"s{uuid.uuid4().hex[:8]}"
        self.base = f"/_sandbox/platforms/{channel}/shops/{self.shop}"
        self.handle = client.get_workflow_handle(channel_sync_id(channel, self.shop))

    async def open(self, db_url: str, task_queue: str) -> None:
        creds = {"app_key": f"key-{self.shop}", "app_secret": f"secret-{self.shop}",
                 "access_token": f"token-{uuid.uuid4().hex[:10]}"}
        assert (await self.http.put(self.base, json=creds)).status_code == 200
        async with session_scope(db_url) as session:
            session.add(Shop(channel=self.channel, shop=self.shop, sync_interval_s=3600, **creds))
        await self.client.start_workflow(
            ChannelSyncWorkflow.run, ChannelSyncInput(channel=self.channel, shop=self.shop, sync_interval_s=3600,
                                                      overlap_s=120, initial_lookback_s=3600),
            id=channel_sync_id(self.channel, self.shop), task_queue=task_queue)

    async def sell(self) -> str:
        response = await self.http.post(f"{self.base}/orders", json={"count": 1, "skus": ["SKU-1"]})
        assert response.status_code == 200, response.text
        return response.json()["created"][0]

    async def sync(self) -> None:
        """One more poll, finished."""
        before = (await self.handle.query(ChannelSyncWorkflow.state)).polls
        await self.handle.signal(ChannelSyncWorkflow.sync_now, SyncNow())
        await wait_until(lambda: self.handle.query(ChannelSyncWorkflow.state), lambda s: s.polls > before, 600)

    async def after_sale(self, external_id: str, **body) -> dict:
        response = await self.http.post(f"{self.base}/orders/{external_id}/after-sales", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def order(self, external_id: str) -> dict:
        return (await self.http.get(f"{self.base}/orders/{external_id}")).json()

    async def answers(self, request_id: str) -> list[dict]:
        records = (await self.http.get("/_sandbox/records", params={"kind": "channel_refund"})).json()["items"]
        return [r for r in records if r["key"].startswith(f"{self.channel}/{self.shop}/")
                and r["body"]["refund_id"] == request_id]


@pytest.mark.parametrize(("channel", "decision"), [(c, "reject") for c in MARKETPLACES] + [("jd", "approve")])
async def test_buyer_request_becomes_one_ticket_and_its_answer_reaches_the_platform(dev_env, platforms, sqlite_url,
                                                                                     channel, decision):
    # every ticket waits for a support lead (Shopify's returns name no amount: the whole order's may be large)
    settings = settings_for(sqlite_url, platforms, after_sales_auto_approve_max_fen=0,
                            after_sales_support_lead_max_fen=10 ** 9)
    app = create_app(settings, migrate=False)
    app.state.temporal = dev_env.client
    lead = {"Authorization": f"Bearer {await issue_token(sqlite_url, 'support_lead')}"}
    async with httpx.AsyncClient(base_url=platforms) as http, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api, \
            running_worker(dev_env.client, settings):
        shopfront = Shopfront(http, dev_env.client, channel)
        await shopfront.open(sqlite_url, settings.task_queue)
        external_id = await shopfront.sell()
        await wait_until(lambda: hub_order_ids(sqlite_url, channel, shopfront.shop), lambda o: o == {external_id})

        # The buyer asks the platform for part of the money back; two syncs: one ticket.
        request = await shopfront.after_sale(external_id, type="refund_only", reason="quality", amount=300)
        await shopfront.sync()
        await shopfront.sync()
        [ticket] = await tickets_of(sqlite_url, channel, shopfront.shop)
        assert (ticket.platform_request_id, ticket.platform_status) == (request["request_id"], "pending")
        assert (ticket.order_id, ticket.type, ticket.reason, ticket.requested_amount) == (
            f"{channel}:{shopfront.shop}:{external_id}", "refund_only", "quality",
            300 if channel != "shopify" else ticket.requested_amount)
        state = await shopfront.handle.query(ChannelSyncWorkflow.state)
        assert state.last_after_sales is not None and state.last_after_sales.known == 1, "the repeat found it"

        view = await wait_until(lambda: api.get(f"/v1/after-sales/{ticket.ticket_id}", headers=lead),
                                lambda r: r.json()["status"] == "AWAITING_APPROVAL")
        assert view.json()["platform_request"] == {"id": request["request_id"], "channel": channel,
                                                   "status": "pending"}

        # The seller's answer goes to the platform's own request, by its id, once.
        if decision == "reject":
            answered = await api.post(f"/v1/after-sales/{ticket.ticket_id}/reject", headers=lead,
                                      json={"comment": "the goods arrived intact"})
            final, outcome, shown = "REJECTED", "REJECTED", "refused"
        else:
            answered = await api.post(f"/v1/after-sales/{ticket.ticket_id}/approve", headers=lead, json={})
            final, outcome, shown = "REFUNDED", "REFUNDED", "refunded"
        assert answered.status_code == 200, answered.text
        await wait_until(lambda: api.get(f"/v1/after-sales/{ticket.ticket_id}", headers=lead),
                         lambda r: r.json()["status"] == final, 600)
        [answer] = await shopfront.answers(request["request_id"])
        assert answer["body"]["status"] == outcome
        order = await shopfront.order(external_id)
        assert [(r["request_id"], r["status"]) for r in order["after_sales"]] == [
            (request["request_id"], "refused" if decision == "reject" else "agreed")]
        view = (await api.get(f"/v1/after-sales/{ticket.ticket_id}", headers=lead)).json()
        assert view["platform_request"]["status"] == shown

        # Later syncs see the answered request and open nothing new.
        await shopfront.sync()
        assert len(await tickets_of(sqlite_url, channel, shopfront.shop)) == 1
        await shopfront.handle.terminate("test over")


async def test_a_request_the_hub_refuses_is_quarantined_with_its_reason(dev_env, platforms, sqlite_url):
    settings = settings_for(sqlite_url, platforms, after_sales_auto_approve_max_fen=0)
    async with httpx.AsyncClient(base_url=platforms) as http, running_worker(dev_env.client, settings):
        shopfront = Shopfront(http, dev_env.client, "taobao")
        await shopfront.open(sqlite_url, settings.task_queue)
        external_id = await shopfront.sell()
        await wait_until(lambda: hub_order_ids(sqlite_url, "taobao", shopfront.shop), lambda o: o == {external_id})
        # A hub ticket already claims all but 1 yuan of the order's money: the platform request asks for more.
        async with session_scope(sqlite_url) as session:
            order = await lock_order(session, f"taobao:{shopfront.shop}:{external_id}")
            assert order is not None
            left = (await balance(session, order.order_id)).refundable
            await claim_refund(session, order, request_no="earlier-ticket", amount=left - 100, source="ticket",
                               at=datetime.now(UTC))
        await shopfront.after_sale(external_id, type="refund_only", reason="quality", amount=200)
        await shopfront.sync()
        await shopfront.sync()
        assert await tickets_of(sqlite_url, "taobao", shopfront.shop) == []
        async with session_scope(sqlite_url) as session:
            kept = list((await session.exec(select(QuarantinedPayload).where(
                col(QuarantinedPayload.source) == f"pull:taobao/{shopfront.shop}:after-sales"))).all())
        assert len(kept) == 1, "kept once, however often pulled"
        assert "refund_exceeds_paid" in kept[0].reason
        state = await shopfront.handle.query(ChannelSyncWorkflow.state)
        assert state.last_after_sales is not None and state.last_after_sales.quarantined == 1
        await shopfront.handle.terminate("test over")
