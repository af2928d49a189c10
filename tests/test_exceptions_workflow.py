"""Exceptions, SLAs, presale and health on OrderWorkflow in the time-skipping environment, with its real
activities: SQLite, the shipped rules file, and the sandbox (carrier, gateway, group robot) over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from activities.inventory import set_stock_level
from models.db import session_scope
from models.order import Buyer, OrderStatus
from models.order_workflow import CancelOrder, ConfirmPayment, ResolveHold, ScanShipment, StockReplenished
from models.search_attributes import EXCEPTION_TAGS
from models.tables import OrderEvent, OrderException, OrderRecord, SlaBreach
from orderkit import BUYER, finish, make_order, running_worker, settings_for, submit, wait_until
from ticketkit import records
from workflows.order import OrderWorkflow


@pytest.fixture
def ts_env(own_clock_env):
    """These tests move the clock by hours and days: each gets a clock of its own."""
    return own_clock_env


async def state_where(handle, done, attempts: int = 300):
    return await wait_until(lambda: handle.query(OrderWorkflow.state), done, attempts)


async def exception_rows(db_url: str, order_id: str) -> list[OrderException]:
    async with session_scope(db_url) as session:
        return list((await session.execute(select(OrderException).where(OrderException.order_id == order_id)
                                           .order_by(OrderException.id))).scalars())


async def notifications_for(sandbox_url: str, order_id: str) -> list[dict]:
    return [r["body"] for r in await records(sandbox_url, "notification")
            if r["body"]["subject"].get("order_id") == order_id]


async def ship(env, handle) -> OrderStatus:
    await state_where(handle, lambda s: s.status == OrderStatus.AWAITING_SCAN)
    await handle.execute_update(OrderWorkflow.scan_shipment, ScanShipment())
    return (await finish(env, handle)).status


async def test_a_vague_address_holds_the_order_until_an_operator_corrects_it(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order = make_order(paid=True, buyer={"address": "小区门口菜鸟驿站代收"})
        accepted, handle = await submit(ts_env.client, settings, order)
        assert accepted.exception_tags == ["fuzzy_address"]
        state = await state_where(handle, lambda s: s.status == OrderStatus.ON_HOLD)
        assert state.hold_reason == "exception review: fuzzy_address"
        assert (await handle.describe()).typed_search_attributes.get(EXCEPTION_TAGS) == ["fuzzy_address"]
        [row] = await exception_rows(sqlite_url, order.order_id)
        assert (row.tag, row.severity, row.team, row.resolved_at) == ("fuzzy_address", "hold", "address_desk", None)
        assert "菜鸟驿站代收" not in row.reason  # the kind of problem, never the address

        # Still vague after the first correction: held again, the tag stands.
        still = Buyer(**{**BUYER, "address": "幸福路 8 号楼下"})
        state = await handle.execute_update(OrderWorkflow.resolve_hold, ResolveHold(
            action="update_address", address=still, resolved_by="operator:op-7"))
        assert (state.status, state.exception_tags) == (OrderStatus.ON_HOLD, ["fuzzy_address"])

        good = Buyer(**{**BUYER, "address": "幸福路 8 号 3 栋 1201 室"})
        await handle.execute_update(OrderWorkflow.resolve_hold, ResolveHold(
            action="update_address", address=good, resolved_by="operator:op-7", note="called the buyer"))
        state = await state_where(handle, lambda s: s.status == OrderStatus.AWAITING_SCAN)
        assert state.exception_tags == []
        assert (await handle.describe()).typed_search_attributes.get(EXCEPTION_TAGS) == []
        assert await ship(ts_env, handle) == OrderStatus.COMPLETED

    [row] = await exception_rows(sqlite_url, order.order_id)
    assert (row.resolved_by, row.resolution) == ("operator:op-7", "address updated") and row.resolved_at
    async with session_scope(sqlite_url) as session:
        record = await session.get(OrderRecord, order.order_id)
        events = (await session.execute(select(OrderEvent.event, OrderEvent.detail)
                                        .where(OrderEvent.order_id == order.order_id))).all()
    assert record.buyer_address == "幸福路 8 号 3 栋 1201 室" and record.exception_tags == []
    assert [d["by"] for e, d in events if e == "address_updated"] == ["operator:op-7", "operator:op-7"]
    assert "reviewed" in [e for e, _ in events]


async def test_dispute_words_flag_the_order_without_holding_it(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order = make_order(paid=True, buyer_message="上次发的是假货，再这样就投诉")
        _, handle = await submit(ts_env.client, settings, order)
        state = await state_where(handle, lambda s: s.status == OrderStatus.AWAITING_SCAN)
        assert state.exception_tags == ["dispute_words"]
        assert state.health_score == 85  # 100 minus the tag's penalty of 15
        # Customer care answers the buyer and acknowledges the flag; the order never stopped.
        state = await handle.execute_update(OrderWorkflow.resolve_hold,
                                            ResolveHold(action="release", resolved_by="operator:care-3"))
        assert (state.status, state.exception_tags, state.health_score) == (OrderStatus.AWAITING_SCAN, [], 100)
        assert await ship(ts_env, handle) == OrderStatus.COMPLETED
    [row] = await exception_rows(sqlite_url, order.order_id)
    assert (row.tag, row.severity, row.team, row.resolved_by) == ("dispute_words", "flag", "customer_care",
                                                                  "operator:care-3")


async def test_an_unreviewed_hold_alerts_the_owner_at_2h_and_the_supervisor_at_4h(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order = make_order(paid=True, buyer={"address": "学校对面快递柜"})
        _, handle = await submit(ts_env.client, settings, order)
        await state_where(handle, lambda s: s.status == OrderStatus.ON_HOLD)

        await ts_env.sleep(timedelta(hours=1, minutes=55))
        assert await notifications_for(sandbox_url, order.order_id) == []
        await ts_env.sleep(timedelta(minutes=10))
        [alert] = await wait_until(lambda: notifications_for(sandbox_url, order.order_id), lambda n: len(n) == 1)
        assert alert["audience"] == "address-desk" and "SLA alert" in alert["title"]

        await ts_env.sleep(timedelta(hours=2))
        sent = await wait_until(lambda: notifications_for(sandbox_url, order.order_id), lambda n: len(n) == 2)
        assert sent[1]["audience"] == "ops-lead" and "SLA escalate" in sent[1]["title"]
        # Two breaches cost 30 points on top of the tag's 20: the order is in the review queue too.
        state = await state_where(handle, lambda s: "low_health" in s.exception_tags)
        assert state.health_score == 50

        await handle.execute_update(OrderWorkflow.resolve_hold, ResolveHold(action="cancel", note="no answer"))
        assert (await finish(ts_env, handle)).status == OrderStatus.CANCELLED

    async with session_scope(sqlite_url) as session:
        breaches = (await session.execute(select(SlaBreach).where(SlaBreach.order_id == order.order_id)
                                          .order_by(SlaBreach.breached_at))).scalars().all()
    assert [(b.kind, b.stage, b.team, b.audience) for b in breaches] == [
        ("review", "alert", "address_desk", "address-desk"), ("review", "escalate", "address_desk", "ops-lead")]
    assert all(row.resolved_at for row in await exception_rows(sqlite_url, order.order_id))  # queue emptied


async def test_the_shipping_promise_alerts_before_it_breaks_and_when_it_does(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order = make_order(paid=True)
        _, handle = await submit(ts_env.client, settings, order)
        await state_where(handle, lambda s: s.status == OrderStatus.AWAITING_SCAN)

        await ts_env.sleep(timedelta(hours=41, minutes=50))
        assert await notifications_for(sandbox_url, order.order_id) == []
        await ts_env.sleep(timedelta(minutes=20))  # 6 h before the 48 h promise
        [alert] = await wait_until(lambda: notifications_for(sandbox_url, order.order_id), lambda n: len(n) == 1)
        assert alert["audience"] == "warehouse-desk"
        await ts_env.sleep(timedelta(hours=6))
        sent = await wait_until(lambda: notifications_for(sandbox_url, order.order_id), lambda n: len(n) == 2)
        assert sent[1]["audience"] == "ops-lead" and "SLA breached" in sent[1]["title"]
        assert await ship(ts_env, handle) == OrderStatus.COMPLETED

    async with session_scope(sqlite_url) as session:
        stages = (await session.execute(select(SlaBreach.kind, SlaBreach.stage).where(
            SlaBreach.order_id == order.order_id).order_by(SlaBreach.breached_at))).all()
    assert [tuple(s) for s in stages] == [("shipping_promise", "alert"), ("shipping_promise", "breached")]


async def test_a_presale_order_waits_for_its_date_then_ships(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        ship_from = await ts_env.get_current_time() + timedelta(days=3)
        order = make_order(paid=True, priority_tags=["presale"], ship_not_before=ship_from)
        _, handle = await submit(ts_env.client, settings, order)
        await wait_until(lambda: _events(sqlite_url, order.order_id), lambda e: "awaiting_presale_date" in e)
        await ts_env.sleep(timedelta(days=2, hours=23))
        state = await handle.query(OrderWorkflow.state)
        assert (state.status, state.shipments) == (OrderStatus.FULFILLING, [])  # nothing printed yet
        await ts_env.sleep(timedelta(hours=2))
        state = await state_where(handle, lambda s: s.status == OrderStatus.AWAITING_SCAN)
        assert len(await records(sandbox_url, "waybill", state.shipments[0].shipment_id)) == 1
        # The promise runs from the presale date: nothing was late.
        assert await notifications_for(sandbox_url, order.order_id) == []
        assert await ship(ts_env, handle) == OrderStatus.COMPLETED


async def test_a_payment_callback_with_the_wrong_amount_holds_for_payments(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order = make_order(paid=False)
        _, handle = await submit(ts_env.client, settings, order)
        state = await handle.execute_update(OrderWorkflow.confirm_payment,
                                            ConfirmPayment(trade_no="PAY-9", amount=1))
        assert (state.paid, state.exception_tags, state.health_score) == (False, ["payment_callback_failed"], 80)
        state = await state_where(handle, lambda s: s.status == OrderStatus.ON_HOLD)
        assert state.hold_reason == f"payment callback says 1 fen paid, the order is {order.total_amount} fen"
        await ts_env.sleep(timedelta(hours=1))  # past the payment deadline: a person decides, not the timer
        assert (await handle.query(OrderWorkflow.state)).status == OrderStatus.ON_HOLD

        await handle.execute_update(OrderWorkflow.resolve_hold, ResolveHold(
            action="release", resolved_by="operator:pay-1", note="captured in the gateway console"))
        state = await state_where(handle, lambda s: s.status == OrderStatus.AWAITING_SCAN)
        assert state.paid and state.exception_tags == []
        assert await ship(ts_env, handle) == OrderStatus.COMPLETED
    [row] = await exception_rows(sqlite_url, order.order_id)
    assert (row.team, row.resolved_by, row.resolution) == ("payments", "operator:pay-1",
                                                           "captured in the gateway console")


async def test_out_of_stock_is_tagged_while_short_and_cleared_by_the_restock(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order = make_order([("SKU-3", 100)], paid=True)  # 80 on hand
        accepted, handle = await submit(ts_env.client, settings, order)
        assert accepted.status == OrderStatus.ON_HOLD  # answered at once; the queue entry follows
        await state_where(handle, lambda s: s.exception_tags == ["out_of_stock"])
        [row] = await exception_rows(sqlite_url, order.order_id)
        assert row.team == "inventory"
        await set_stock_level(sqlite_url, "SKU-3", "WH-GZ", 200, None)
        await handle.signal(OrderWorkflow.stock_replenished, StockReplenished(sku="SKU-3"))
        state = await state_where(handle, lambda s: s.status == OrderStatus.AWAITING_SCAN)
        assert state.exception_tags == []
        await handle.execute_update(OrderWorkflow.cancel, CancelOrder(reason="test over"))
        assert (await finish(ts_env, handle)).status == OrderStatus.CANCELLED
    [row] = await exception_rows(sqlite_url, order.order_id)
    assert (row.resolved_by, row.resolution) == ("system", "stock reserved")


async def test_the_fourth_unpaid_order_of_a_buyer_within_the_hour_is_suspected_fraud(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        handles = []
        for n in range(4):
            accepted, handle = await submit(ts_env.client, settings, make_order(paid=False, buyer_id="tb-buyer-77"))
            handles.append(handle)
            assert accepted.exception_tags == ([] if n < 3 else ["suspected_fraud"]), n
        # Another buyer on the same address is not this buyer.
        accepted, other = await submit(ts_env.client, settings, make_order(paid=False, buyer_id="tb-buyer-78"))
        assert accepted.exception_tags == []
        for handle in [*handles, other]:  # all before any finish(): its time skipping passes the payment deadline
            await handle.execute_update(OrderWorkflow.cancel, CancelOrder(reason="test over"))
        for handle in [*handles, other]:
            assert (await finish(ts_env, handle)).status == OrderStatus.CANCELLED


async def _events(db_url: str, order_id: str) -> list[str]:
    async with session_scope(db_url) as session:
        return list((await session.execute(select(OrderEvent.event).where(OrderEvent.order_id == order_id)))
                    .scalars())
