"""Parcel merging in the time-skipping environment: the same buyer's paid orders to the same address
ship in one parcel (one ParcelWorkflow per merge key and warehouse), a flagged one never rides along;
plus the claim that decides whether an order joins a parcel at all."""

from __future__ import annotations

from datetime import timedelta

import pytest

from activities.parcel import claim_parcel
from models.inventory import StockRequest
from models.order import OrderStatus
from models.order_workflow import JoinParcelInput, ScanShipment
from orderkit import finish, make_order, policy_of, running_worker, settings_for, submit, wait_until
from ticketkit import records
from workflows.order import OrderWorkflow

SAME_BUYER = {"phone": "13700001111", "address": "世纪大道 100 号 5 栋 501"}


@pytest.fixture
def ts_env(own_clock_env):
    return own_clock_env


async def awaiting_scan(handle):
    return await wait_until(lambda: handle.query(OrderWorkflow.state), lambda s: s.status == OrderStatus.AWAITING_SCAN)


async def test_the_same_buyers_orders_to_one_address_ship_in_one_parcel(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        # Presale orders for the same date wake together: both are about to print at once.
        ship_from = await ts_env.get_current_time() + timedelta(hours=2)
        orders = [make_order([(sku, 1)], paid=True, buyer=SAME_BUYER, buyer_id="jd-pin-9", ship_not_before=ship_from,
                             priority_tags=["presale"], **extra)
                  for sku, extra in (("SKU-1", {}), ("SKU-2", {}), ("SKU-1", {"buyer_message": "再发假货就投诉"}))]
        handles = [(await submit(ts_env.client, settings, order, policy_of(settings, merge_window_s=600)))[1]
                   for order in orders]
        await ts_env.sleep(timedelta(hours=2, minutes=1))
        first, second, flagged = [await awaiting_scan(h) for h in handles]

        # One parcel, one waybill, both orders' goods on it; the flagged order ships on its own.
        assert first.shipments[0].waybill_no == second.shipments[0].waybill_no
        assert flagged.shipments[0].waybill_no not in (None, first.shipments[0].waybill_no)
        shared = first.shipments[0].waybill_no
        printed = [r for r in await records(sandbox_url, "waybill") if r["result"].get("waybill_no") == shared]
        assert len(printed) == 1
        assert sorted((i["sku"], i["quantity"]) for i in printed[0]["body"]["parcels"]) == [("SKU-1", 1), ("SKU-2", 1)]

        # Scanning the parcel once ships both orders; each tells its own channel order the waybill.
        leader = next(h for h, s in zip(handles, (first, second), strict=False) if s.shipments[0].shipment_id in printed[0]["key"])
        await leader.execute_update(OrderWorkflow.scan_shipment, ScanShipment(waybill_no=shared))
        await handles[2].execute_update(OrderWorkflow.scan_shipment, ScanShipment())
        assert [(await finish(ts_env, h)).status for h in handles] == [OrderStatus.COMPLETED] * 3
        for order in orders[:2]:
            [shipback] = [r for r in await records(sandbox_url, "shipback") if order.order_id in r["key"]]
            assert shipback["body"]["waybill_no"] == shared


async def test_the_claim_joins_only_when_a_partner_is_about_to_print_and_answers_a_retry_the_same(
        sqlite_url, ts_env, sandbox_url):
    """The database side alone: an order joins a parcel only when another of the buyer's orders is
    about to print too (or has just joined); a retried claim keeps its answer; once everyone has a
    claim, a newcomer joins the parcel its partners opened within the window, else prints alone."""
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        ship_from = await ts_env.get_current_time() + timedelta(hours=1)
        a, b, c = (make_order([("SKU-1", 1)], paid=True, buyer=SAME_BUYER, buyer_id="tb-1", ship_not_before=ship_from,
                              priority_tags=["presale"]) for _ in range(3))
        handles = [(await submit(ts_env.client, settings, order))[1] for order in (a, b, c)]  # merging off here
        at = ship_from + timedelta(minutes=1)
        lines = [StockRequest(sku="SKU-1", quantity=1)]

        def claim(order, when=at):
            return claim_parcel(sqlite_url, JoinParcelInput(order_id=order.order_id, shipment_id=f"{order.order_id}-1",
                                                            warehouse="WH-SH", carrier="SF", lines=lines, window_s=600,
                                                            at=when))
        (joined, partners) = await claim(a)
        assert (joined.role, partners) == ("joined", sorted([b.order_id, c.order_id]))
        assert joined.parcel_workflow_id and "WH-SH" in joined.parcel_workflow_id
        assert (await claim(a))[0] == joined  # a retried claim
        second, partners = await claim(b)
        assert (second.role, second.parcel_workflow_id, partners) == ("joined", joined.parcel_workflow_id, [c.order_id])
        # Past the window nobody waits for c's partners any more: it prints alone.
        late, partners = await claim(c, at + timedelta(minutes=11))
        assert (late.role, late.parcel_workflow_id, partners) == ("alone", None, [])

        await ts_env.sleep(timedelta(hours=1, minutes=2))
        for handle in handles:  # every scan before any finish(): its time skipping moves every clock
            await awaiting_scan(handle)
            await handle.execute_update(OrderWorkflow.scan_shipment, ScanShipment())
        for handle in handles:
            assert (await finish(ts_env, handle)).status == OrderStatus.COMPLETED
