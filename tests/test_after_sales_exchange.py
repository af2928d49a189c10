"""Exchange for another SKU (size or colour) and the no-reason-within-7-days rule, in the
time-skipping environment with the real activities: SQLite, and the sandbox over HTTP.

An exchange with `exchange_sku` ends EXCHANGED with a replacement order of the new SKU at the
original order's priority; the returned SKU comes back on sale through inspection while the new SKU
is reserved and committed by the replacement; the replacement's parcel reaches the platform under
the original order's external id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from activities.after_sales import open_ticket
from activities.clients.after_sales import TicketClient
from api.stock import stock_of
from models.after_sales import (
    AfterSalesRequest,
    ApproveTicket,
    InspectionReport,
    RejectTicket,
    ReturnLine,
    ReturnReceived,
    ReturnShipped,
    TicketFacts,
    TicketLine,
    TicketSnapshot,
    TicketStatus,
    TicketType,
    accepted_lines,
    auto_approval_rule,
    ticket_id_for,
    ticket_policy,
)
from models.config import Settings
from models.order import OrderStatus, workflow_id_for
from models.order_workflow import ScanShipment
from models.priority import PRIORITY_LEVELS
from orderkit import finish, running_worker, settings_for, wait_until
from ticketkit import order_at, records, ticket_state
from workflows.after_sales import AfterSalesWorkflow
from workflows.order import OrderWorkflow


@pytest.fixture
def ts_env(own_clock_env):
    """A clock of each test's own: these tests move it by days."""
    return own_clock_env


def _units(stock) -> dict[str, int]:
    return {field: sum(getattr(w, field) for w in stock.warehouses)
            for field in ("on_hand", "reserved", "awaiting_inspection", "damaged")}


async def _open(client: Client, settings: Settings, now: datetime, **request: Any
                ) -> tuple[TicketSnapshot, WorkflowHandle]:
    """As POST /v1/after-sales opens a ticket, at the time-skipping clock's `now` (days after delivery)."""
    facts, _ = await open_ticket(settings.db_url, AfterSalesRequest.model_validate(request), now=now)
    tickets = TicketClient(client, settings.task_queue)
    start = tickets.with_opened(facts, ticket_policy(settings))
    return await tickets.opened(start), await start.workflow_handle()


async def test_an_exchange_for_another_sku_ships_it_with_the_original_priority_and_moves_both_stocks(
        ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order, _ = await order_at(ts_env, settings, [("SKU-1", 2)], delivered=True, priority_tags=["vip"])
        returned_before, new_before = [_units(await stock_of(sqlite_url, sku)) for sku in ("SKU-1", "SKU-2")]
        opened, handle = await _open(ts_env.client, settings, await ts_env.get_current_time(),
                                     order_id=order.order_id, type="exchange", reason="wrong_size", goods_intact=True,
                                     lines=[{"sku": "SKU-1", "quantity": 2, "exchange_sku": "SKU-2"}])
        assert opened.status == TicketStatus.AWAITING_APPROVAL
        await handle.execute_update(AfterSalesWorkflow.approve, ApproveTicket(role="support_lead", approver="sl-1"))
        await ticket_state(handle, TicketStatus.AWAITING_RETURN)
        assert _units(await stock_of(sqlite_url, "SKU-1"))["awaiting_inspection"] == 2
        await handle.execute_update(AfterSalesWorkflow.return_shipped, ReturnShipped(waybill_no="RT3001"))
        await handle.execute_update(AfterSalesWorkflow.return_received, ReturnReceived(waybill_no="RT3001"))
        await handle.execute_update(AfterSalesWorkflow.inspect, InspectionReport(passed=True))
        result = await finish(ts_env, handle)
        assert result.status == TicketStatus.EXCHANGED and result.replacement_order_id

        replacement = ts_env.client.get_workflow_handle_for(OrderWorkflow.run, workflow_id_for(result.replacement_order_id))
        started = (await replacement.fetch_history()).events[0].workflow_execution_started_event_attributes
        printed = await wait_until(lambda: replacement.query(OrderWorkflow.state),
                                   lambda s: s.status == OrderStatus.AWAITING_SCAN)
        # The new SKU is reserved for the replacement while it waits for its scan.
        assert _units(await stock_of(sqlite_url, "SKU-2"))["reserved"] == new_before["reserved"] + 2
        await replacement.execute_update(OrderWorkflow.scan_shipment, ScanShipment())
        done = await finish(ts_env, replacement)

    # One priority rule for every start: the exchange's parcel goes out as fast as the VIP order did.
    assert started.priority.priority_key == PRIORITY_LEVELS["vip"]
    assert [(line.sku, line.quantity) for sh in printed.shipments for line in sh.lines] == [("SKU-2", 2)]
    assert done.status == OrderStatus.COMPLETED
    # Stock moved for both SKUs: the returned ones back on sale after inspection, the new ones shipped.
    returned_after, new_after = [_units(await stock_of(sqlite_url, sku)) for sku in ("SKU-1", "SKU-2")]
    assert (returned_after["on_hand"], returned_after["awaiting_inspection"], returned_after["damaged"]) == (
        returned_before["on_hand"] + 2, 0, returned_before["damaged"])
    assert (new_after["on_hand"], new_after["reserved"]) == (new_before["on_hand"] - 2, new_before["reserved"])
    # The platform is told: the replacement's parcel, as one more parcel of the original order.
    waybill = done.shipments[0].waybill_no
    (pushed,) = [r for r in await records(sandbox_url, "shipback") if r["body"]["waybill_no"] == waybill]
    assert pushed["body"]["external_id"] == order.external_id


def test_accepted_units_ship_as_their_exchange_sku_else_the_same_sku():
    facts = _facts(TicketType.EXCHANGE, "wrong_size", 0, delivered_days_ago=2, lines=[
        ReturnLine(sku="SKU-1", quantity=2, unit_price=1999, exchange_sku="SKU-2"),
        ReturnLine(sku="SKU-2", quantity=1, unit_price=1999),
        ReturnLine(sku="SKU-3", quantity=2, unit_price=1999)])
    # Inspection accepted 4 of 5: taken line by line; two lines exchanged for one SKU ship as one line.
    assert [(l.sku, l.quantity) for l in accepted_lines(facts, 4)] == [("SKU-2", 3), ("SKU-3", 1)]


def test_the_exchange_sku_is_part_of_the_ticket_id():
    same = ticket_id_for("o-1", TicketType.EXCHANGE, [TicketLine(sku="SKU-1", quantity=1)], None)
    other = ticket_id_for("o-1", TicketType.EXCHANGE, [TicketLine(sku="SKU-1", quantity=1, exchange_sku="SKU-2")], None)
    assert same != other


# --- the no-reason-within-7-days rule -------------------------------------------------------------


def _facts(type: TicketType, reason: str, amount: int, *, delivered_days_ago: float,
           lines: list[ReturnLine] | None = None, goods_intact: bool = True) -> TicketFacts:
    opened = datetime(2026, 6, 18, 12, tzinfo=UTC)
    return TicketFacts(ticket_id="as-1", order_id="o-1", order_workflow_id="order-o-1", channel="own_store",
                       shop="default", external_id="E1", trade_no="PAY-1", type=type, reason=reason,
                       lines=lines or [ReturnLine(sku="SKU-2", quantity=3, unit_price=1999)], amount=amount,
                       goods_intact=goods_intact, delivered_at=opened - timedelta(days=delivered_days_ago),
                       opened_at=opened)


@pytest.mark.parametrize("days, goods_intact, reason, rule", [
    (3, True, "no_reason", "no_reason_return"),
    (7, True, "no_reason", "no_reason_return"),  # the 7th day still counts
    (8, True, "no_reason", None),
    (3, False, "no_reason", None),  # goods not intact: a person looks
    (3, True, "quality", None),
])
def test_the_no_reason_rule_decides_above_the_small_refund_limit(days, goods_intact, reason, rule):
    policy = ticket_policy(Settings())
    amount = policy.auto_approve_max_fen + 997  # too much for the small-refund rule
    facts = _facts(TicketType.RETURN_AND_REFUND, reason, amount, delivered_days_ago=days, goods_intact=goods_intact)
    assert auto_approval_rule(facts, policy) == rule


async def test_a_no_reason_return_within_7_days_is_approved_by_that_rule_and_not_after(ts_env, sqlite_url,
                                                                                      sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    assert 3 * 1999 > settings.after_sales_auto_approve_max_fen  # the small-refund rule cannot decide
    async with running_worker(ts_env.client, settings):
        within, _ = await order_at(ts_env, settings, [("SKU-2", 3)], delivered=True)
        late, _ = await order_at(ts_env, settings, [("SKU-2", 3)], delivered=True)

        opened, handle = await _open(ts_env.client, settings, await ts_env.get_current_time(),
                                     order_id=within.order_id, type="return_and_refund", reason="no_reason",
                                     goods_intact=True)
        assert opened.status == TicketStatus.APPROVED
        assert [(a.role, a.rule) for a in opened.approvals] == [("system", "no_reason_return")]
        await ticket_state(handle, TicketStatus.AWAITING_RETURN)
        await handle.execute_update(AfterSalesWorkflow.return_received, ReturnReceived())
        await handle.execute_update(AfterSalesWorkflow.inspect, InspectionReport(passed=True))
        refunded = await finish(ts_env, handle)

        await ts_env.sleep(timedelta(days=8))  # the same request for the other order, 8 days after delivery
        opened_late, handle_late = await _open(ts_env.client, settings, await ts_env.get_current_time(),
                                               order_id=late.order_id, type="return_and_refund", reason="no_reason",
                                               goods_intact=True)
        assert (opened_late.status, opened_late.tier) == (TicketStatus.AWAITING_APPROVAL, "support_lead")
        assert opened_late.approvals == []
        await handle_late.execute_update(AfterSalesWorkflow.reject, RejectTicket(role="support_lead",
                                                                                 comment="past 7 days"))
        rejected = await finish(ts_env, handle_late)
    assert refunded.status == TicketStatus.REFUNDED and refunded.refund.amount == 5997
    assert rejected.status == TicketStatus.REJECTED
