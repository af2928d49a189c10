"""OrderWorkflow in the time-skipping environment, with its real activities: the database is
SQLite, carriers, gateway and own store are the sandbox over HTTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError

from activities.inventory import set_stock_level
from api.stock import stock_of
from models.db import session_scope
from models.ledger import balance
from models.order import OrderStatus
from models.order_workflow import (
    CancelOrder,
    ChannelUpdate,
    ConfirmPayment,
    ResolveHold,
    ScanShipment,
    StockReplenished,
)
from models.search_attributes import CHANNEL, ORDER_STATUS, PRIORITY
from models.shipping import TrackingEvent
from models.tables import OrderEvent, OrderRecord
from orderkit import (
    finish,
    gateway_trade,
    make_order,
    paid_order,
    policy_of,
    running_worker,
    settings_for,
    submit,
    wait_until,
)
from workflows.order import OrderWorkflow


async def records(sandbox_url: str, kind: str, key: str | None = None) -> list[dict]:
    params = {"kind": kind, **({"key": key} if key else {})}
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{sandbox_url}/_sandbox/records", params=params)).json()["items"]


@pytest.mark.parametrize("workflow_sandbox", ["strict", "passthrough"])
async def test_paid_order_walks_to_completed(ts_env, sqlite_url, sandbox_url, workflow_sandbox):
    settings = settings_for(sqlite_url, sandbox_url, workflow_sandbox=workflow_sandbox)
    async with running_worker(ts_env.client, settings):
        order = make_order([("SKU-1", 2)], paid=True)
        decision, handle = await submit(ts_env.client, settings, order)
        assert decision.created and decision.status == OrderStatus.FULFILLING
        assert [(a.sku, a.warehouse, a.quantity) for a in decision.reservation.allocations] == [("SKU-1", "WH-SH", 2)]

        await _wait_status(handle, OrderStatus.AWAITING_SCAN)
        shipped = await handle.execute_update(OrderWorkflow.scan_shipment, ScanShipment())
        assert shipped.status == OrderStatus.SHIPPED
        result = await finish(ts_env, handle)
        indexed = (await handle.describe()).typed_search_attributes

    assert result.status == OrderStatus.COMPLETED
    assert (indexed.get(CHANNEL), indexed.get(PRIORITY), indexed.get(ORDER_STATUS)) == ("own_store", "normal", "COMPLETED")
    waybills = await records(sandbox_url, "waybill", f"{order.order_id}-WH-SH")
    assert len(waybills) == 1
    shipbacks = await records(sandbox_url, "shipback", f"own_store/default/{order.order_id}-WH-SH")
    assert len(shipbacks) == 1 and shipbacks[0]["body"]["waybill_no"] == result.shipments[0].waybill_no
    stock = await stock_of(sqlite_url, "SKU-1")
    sh = next(w for w in stock.warehouses if w.warehouse == "WH-SH")
    assert (sh.on_hand, sh.reserved) == (498, 0)
    # Every step is in the read model's timeline, also where two share one local activity
    # (receipt and screening, the reservation and its transition, delivered and completed).
    async with session_scope(sqlite_url) as session:
        timeline = (await session.execute(select(OrderEvent.seq, OrderEvent.status, OrderEvent.event, OrderEvent.detail)
                                          .where(OrderEvent.order_id == order.order_id).order_by(OrderEvent.seq))).all()
        assert (await session.get(OrderRecord, order.order_id)).status == "COMPLETED"
    assert [(seq, status, event) for seq, status, event, _ in timeline] == [
        (0, "RECEIVED", "received"), (1, "FULFILLING", "stock_reserved"), (2, "FULFILLING", "shipments_planned"),
        (3, "AWAITING_SCAN", "waybill_printed"), (4, "SHIPPED", "parcel_scanned"), (5, "SHIPPED", "pushed_to_channel"),
        (6, "DELIVERED", "delivered"), (7, "COMPLETED", "completed")]
    assert timeline[1][3] == {"allocations": [{"sku": "SKU-1", "warehouse": "WH-SH", "quantity": 2}]}


async def test_repeat_submit_returns_same_order(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order = make_order()
        first, handle = await submit(ts_env.client, settings, order)
        again, handle2 = await submit(ts_env.client, settings, order)
        assert first.created and not again.created
        assert handle.result_run_id == handle2.result_run_id
        assert again.reservation == first.reservation
        stock = await stock_of(sqlite_url, "SKU-1")
        assert sum(w.reserved for w in stock.warehouses) == 2
        await handle.execute_update(OrderWorkflow.cancel, CancelOrder())


async def test_unpaid_order_cancelled_at_deadline_and_stock_released(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        decision, handle = await submit(ts_env.client, settings, make_order([("SKU-2", 3)]),
                                        policy_of(settings, payment_timeout_s=30 * 60))
        assert decision.status == OrderStatus.AWAITING_PAYMENT
        assert sum(w.reserved for w in (await stock_of(sqlite_url, "SKU-2")).warehouses) == 3
        result = await finish(ts_env, handle)  # the 30 minutes are skipped
    assert result.status == OrderStatus.CANCELLED
    assert result.cancel_reason == "payment deadline passed"
    assert sum(w.reserved for w in (await stock_of(sqlite_url, "SKU-2")).warehouses) == 0


async def test_payment_before_deadline_continues(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order = make_order()
        _, handle = await submit(ts_env.client, settings, order)
        await ts_env.sleep(timedelta(minutes=29))
        trade_no = await gateway_trade(settings, order)  # the buyer pays at the gateway; its callback follows
        paid = await handle.execute_update(OrderWorkflow.confirm_payment, ConfirmPayment(trade_no=trade_no))
        assert paid.paid and paid.status in (OrderStatus.FULFILLING, OrderStatus.AWAITING_SCAN)
        await _wait_status(handle, OrderStatus.AWAITING_SCAN)
        await handle.execute_update(OrderWorkflow.cancel, CancelOrder(reason="buyer changed mind"))
        result = await finish(ts_env, handle)
    assert result.status == OrderStatus.CANCELLED and result.refund_no == f"{result.order_id}-cancel"
    refunds = await records(sandbox_url, "refund", f"{result.order_id}-cancel")
    assert len(refunds) == 1 and refunds[0]["body"]["trade_no"] == trade_no
    assert refunds[0]["body"]["refund_amount"] == "39.98"


async def test_out_of_stock_holds_then_cancel(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        decision, handle = await submit(ts_env.client, settings, make_order([("SKU-3", 100)], paid=True))
        assert decision.status == OrderStatus.ON_HOLD
        assert decision.reservation.status == "short"
        assert decision.hold_reason == "out_of_stock: SKU-3 needs 100, 80 available"
        cancelled = await handle.execute_update(OrderWorkflow.cancel, CancelOrder(reason="no stock"))
        assert cancelled.status == OrderStatus.CANCELLED
        result = await finish(ts_env, handle)
    assert result.refund_no is not None  # it was paid
    assert (await stock_of(sqlite_url, "SKU-3")).warehouses[0].reserved == 0


async def test_out_of_stock_reserves_after_restock(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        decision, handle = await submit(ts_env.client, settings, make_order([("SKU-3", 100)]))
        assert decision.status == OrderStatus.ON_HOLD
        await set_stock_level(sqlite_url, "SKU-3", "WH-GZ", 150, None)
        await handle.signal(OrderWorkflow.stock_replenished, StockReplenished(sku="SKU-3"))
        state = await _wait_status(handle, OrderStatus.AWAITING_PAYMENT)
        assert state.reservation.allocations[0].quantity == 100
        await handle.execute_update(OrderWorkflow.cancel, CancelOrder())


async def test_hold_expires_at_limit(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        _, handle = await submit(ts_env.client, settings, make_order([("SKU-3", 100)], paid=True),
                                 policy_of(settings, hold_limit_s=3600, hold_recheck_s=600))
        result = await finish(ts_env, handle)
    assert result.status == OrderStatus.CANCELLED
    assert result.cancel_reason == "out of stock past the hold limit"


async def test_split_shipment_one_waybill_per_warehouse(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order = make_order([("SKU-3", 1), ("SKU-4", 1)], paid=True)  # only WH-GZ has SKU-3, only WH-BJ SKU-4
        decision, handle = await submit(ts_env.client, settings, order)
        assert sorted(a.warehouse for a in decision.reservation.allocations) == ["WH-BJ", "WH-GZ"]
        state = await _wait_status(handle, OrderStatus.AWAITING_SCAN)
        assert len(state.shipments) == 2
        first = state.shipments[0]
        partial = await handle.execute_update(OrderWorkflow.scan_shipment, ScanShipment(waybill_no=first.waybill_no))
        assert partial.status == OrderStatus.AWAITING_SCAN
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(OrderWorkflow.cancel, CancelOrder())  # one parcel already left
        await handle.execute_update(OrderWorkflow.scan_shipment, ScanShipment())
        result = await finish(ts_env, handle)
    assert result.status == OrderStatus.COMPLETED
    for shipment in result.shipments:
        assert len(await records(sandbox_url, "waybill", shipment.shipment_id)) == 1


async def test_permanent_carrier_refusal_holds_with_reason(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        _, handle = await submit(ts_env.client, settings, make_order(paid=True, buyer={"phone": "12345"}))
        state = await _wait_status(handle, OrderStatus.ON_HOLD)
        # The rules see the bad phone first; an operator who lets it through meets the carrier's refusal.
        assert (state.hold_reason, state.exception_tags) == ("exception review: invalid_phone", ["invalid_phone"])
        state = await handle.execute_update(OrderWorkflow.resolve_hold, ResolveHold(action="release"))
        assert state.exception_tags == []
        state = await wait_until(lambda: handle.query(OrderWorkflow.state),
                                 lambda s: s.status == OrderStatus.ON_HOLD and "print_waybill" in (s.hold_reason or ""))
        assert state.hold_reason.startswith("print_waybill failed")
        assert "INVALID_PHONE" in state.hold_reason
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(OrderWorkflow.scan_shipment, ScanShipment())
        result = await handle.execute_update(OrderWorkflow.resolve_hold, ResolveHold(action="cancel", note="bad phone"))
        assert result.status == OrderStatus.CANCELLED
        assert (await finish(ts_env, handle)).cancel_reason == "bad phone"


async def _wait_status(handle, status: OrderStatus, attempts: int = 200):
    return await wait_until(lambda: handle.query(OrderWorkflow.state), lambda s: s.status == status, attempts)


async def test_lost_answers_never_double_waybill_or_refund(ts_env, sqlite_url, sandbox_url):
    """The carrier and gateway apply the effect, then the answer is lost (503): the retry with the
    same key must find the first waybill and the first refund."""
    async with httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        for endpoint in ("carrier.create_waybill", "gateway.refund", "own_store.shipback"):
            await sandbox.put("/_sandbox/faults", json={"endpoint": endpoint, "failure_rate": 1.0,
                                                        "failure_mode": "after"})
        try:
            settings = settings_for(sqlite_url, sandbox_url)
            async with running_worker(ts_env.client, settings):
                order = await paid_order(settings, make_order(paid=True))
                _, handle = await submit(ts_env.client, settings, order)
                # every waybill answer is lost: the order keeps retrying with the same key
                await asyncio.sleep(2.5)
                (waybill,) = await records(sandbox_url, "waybill", f"{handle.id.removeprefix('order-')}-WH-SH")
                assert waybill["received"] >= 2
                await sandbox.delete("/_sandbox/faults")
                await sandbox.put("/_sandbox/faults", json={"endpoint": "gateway.refund", "failure_rate": 1.0,
                                                            "failure_mode": "after"})
                state = await _wait_status(handle, OrderStatus.AWAITING_SCAN, attempts=400)
                assert state.shipments[0].waybill_no == waybill["result"]["waybill_no"]
                await handle.execute_update(OrderWorkflow.cancel, CancelOrder(reason="lost answers"))
                result = await finish(ts_env, handle)
        finally:
            await sandbox.delete("/_sandbox/faults")
    assert result.status == OrderStatus.CANCELLED
    (refund,) = await records(sandbox_url, "refund", result.refund_no)
    assert refund["body"]["refund_amount"] == "39.98" and refund["body"]["trade_no"] == order.trade_no


async def test_channel_payment_and_cancel_reach_the_running_order(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        _, handle = await submit(ts_env.client, settings, make_order([("SKU-1", 1)], channel="taobao"))
        await handle.signal(OrderWorkflow.channel_update, ChannelUpdate(state="PAID", raw_status="WAIT_SELLER_SEND_GOODS",
                                                                        trade_no="TB-PAY-1"))
        state = await _wait_status(handle, OrderStatus.AWAITING_SCAN)
        assert state.paid
        await handle.signal(OrderWorkflow.channel_update, ChannelUpdate(state="CANCELLED", raw_status="TRADE_CLOSED"))
        result = await finish(ts_env, handle)
    assert result.status == OrderStatus.CANCELLED
    assert result.cancel_reason == "cancelled on the channel (TRADE_CLOSED)"
    # the marketplace refunds its buyer itself: no refund through our gateway
    assert result.refund_no is None
    assert await records(sandbox_url, "refund", f"{result.order_id}-cancel") == []
    assert [r for r in await records(sandbox_url, "channel_refund")  # nor asked of the platform that made it
            if r["body"]["external_id"] == result.order_id.split(":")[-1]] == []
    async with session_scope(sqlite_url) as session:  # the ledger: received, and paid back by the platform
        money = await balance(session, result.order_id)
    assert (money.received, money.refunded) == (1999, 1999)
    assert sum(w.reserved for w in (await stock_of(sqlite_url, "SKU-1")).warehouses) == 0


async def test_channel_cancel_after_shipping_does_not_stop_the_order(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        _, handle = await submit(ts_env.client, settings, make_order([("SKU-1", 1)], paid=True))
        await _wait_status(handle, OrderStatus.AWAITING_SCAN)
        await handle.execute_update(OrderWorkflow.scan_shipment, ScanShipment())
        await handle.signal(OrderWorkflow.channel_update, ChannelUpdate(state="REFUNDING", raw_status="2"))
        result = await finish(ts_env, handle)
    assert result.status == OrderStatus.COMPLETED and result.cancel_reason is None


async def test_delivery_overdue_holds_until_the_carrier_confirms(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings), httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        # the carrier's tracking query is down and its callbacks are lost
        await sandbox.put("/_sandbox/faults", json={"endpoint": "carrier.tracking", "failure_rate": 1.0})
        try:
            policy = policy_of(settings, tracking_poll_s=3600, delivery_deadline_s=4 * 3600)
            _, handle = await submit(ts_env.client, settings, make_order(paid=True), policy)
            state = await _wait_status(handle, OrderStatus.AWAITING_SCAN)
            await handle.execute_update(OrderWorkflow.scan_shipment, ScanShipment())
            await ts_env.sleep(timedelta(hours=6))
            held = await _wait_status(handle, OrderStatus.ON_HOLD, attempts=600)
        finally:
            await sandbox.delete("/_sandbox/faults")
        assert held.hold_reason == "delivery not confirmed by the carrier"
        await handle.signal(OrderWorkflow.tracking_event, TrackingEvent(
            event_id="late", waybill_no=state.shipments[0].waybill_no, status="SIGNED"))
        result = await finish(ts_env, handle)
    assert result.status == OrderStatus.COMPLETED
