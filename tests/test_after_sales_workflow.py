"""AfterSalesWorkflow in the time-skipping environment with its real activities: SQLite, and the
gateway, channel and notifier of the sandbox over HTTP. A 30-minute SLA or a 7-day return deadline
passes in milliseconds."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from temporalio.client import WorkflowUpdateFailedError

from api.stock import stock_of
from models.after_sales import (
    ApproveTicket,
    InspectionReport,
    RejectTicket,
    ReturnReceived,
    ReturnShipped,
    TicketStatus,
    refund_request_no,
)
from models.after_sales_errors import TicketError
from models.db import session_scope
from models.ledger import balance
from models.order import OrderStatus, workflow_id_for
from models.order_workflow import ResolveHold, ScanShipment
from models.priority import PRIORITY_LEVELS
from models.seed import seed_sandbox_shops
from models.tables import AfterSalesTicketRecord
from orderkit import finish, make_order, running_worker, settings_for, submit, wait_until
from ticketkit import open_and_start, order_at, records, ticket_state
from workflows.after_sales import AfterSalesWorkflow
from workflows.order import OrderWorkflow


@pytest.fixture
def ts_env(own_clock_env):
    """A clock of each test's own: these tests move it by days."""
    return own_clock_env


class _Totals:
    def __init__(self, stock) -> None:
        for field in ("on_hand", "reserved", "awaiting_inspection", "damaged"):
            setattr(self, field, sum(getattr(w, field) for w in stock.warehouses))


def _at(stock) -> _Totals:
    """The sku's units summed over its warehouses."""
    return _Totals(stock)


async def _row(db_url: str, ticket_id: str) -> AfterSalesTicketRecord:
    async with session_scope(db_url) as session:
        row = await session.get(AfterSalesTicketRecord, ticket_id)
        assert row is not None
        return row


async def _refusal(handle, update, arg) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(update, arg)
    return refused.value.cause.type


async def test_small_refund_is_auto_approved_and_refunded_once(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order, _ = await order_at(ts_env, settings, [("SKU-1", 2)], delivered=True)
        opened, handle = await open_and_start(ts_env.client, settings, order_id=order.order_id, type="refund_only",
                                              reason="quality", lines=[{"sku": "SKU-1", "quantity": 1}])
        assert opened.status in (TicketStatus.APPROVED, TicketStatus.REFUNDING, TicketStatus.REFUNDED)
        result = await finish(ts_env, handle)
    assert result.status == TicketStatus.REFUNDED
    assert [(a.role, a.rule) for a in result.approvals] == [("system", "small_refund")]
    (refund,) = await records(sandbox_url, "refund", result.refund.out_request_no)
    assert refund["body"] == {**refund["body"], "refund_amount": "19.99", "trade_no": order.trade_no}
    (told,) = await records(sandbox_url, "channel_refund", f"own_store/default/{order.external_id}/{result.ticket_id}")
    assert told["body"]["amount"] == 1999
    notices = await records(sandbox_url, "notification", f"{result.ticket_id}:outcome:buyer")
    assert len(notices) == 1
    row = await _row(sqlite_url, result.ticket_id)
    assert (row.status, row.claim_amount, row.auto_rule, row.first_response_at) == ("REFUNDED", 1999, "small_refund", None)


async def test_return_above_200_yuan_needs_finance_and_operations_and_restocks_what_passed(ts_env, sqlite_url,
                                                                                          sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order, _ = await order_at(ts_env, settings, [("SKU-2", 12)], delivered=True)  # 12 x 19.99 = 239.88 yuan
        before = _at(await stock_of(sqlite_url, "SKU-2"))
        opened, handle = await open_and_start(ts_env.client, settings, order_id=order.order_id,
                                              type="return_and_refund", reason="quality", goods_intact=True)
        assert (opened.status, opened.tier) == (TicketStatus.AWAITING_APPROVAL, "finance_and_operations")
        # the goods asked back are awaiting inspection, not sellable
        awaiting = _at(await stock_of(sqlite_url, "SKU-2"))
        assert (awaiting.awaiting_inspection, awaiting.on_hand) == (12, before.on_hand)

        assert await _refusal(handle, AfterSalesWorkflow.approve, ApproveTicket(role="support_lead")) == TicketError.ROLE_NOT_ALLOWED
        partly = await handle.execute_update(AfterSalesWorkflow.approve, ApproveTicket(role="finance", approver="f-01"))
        assert partly.status == TicketStatus.AWAITING_APPROVAL
        assert await _refusal(handle, AfterSalesWorkflow.approve, ApproveTicket(role="finance")) == TicketError.ALREADY_APPROVED
        approved = await handle.execute_update(AfterSalesWorkflow.approve, ApproveTicket(role="operations",
                                                                                         approver="o-07"))
        assert approved.status == TicketStatus.APPROVED
        await ticket_state(handle, TicketStatus.AWAITING_RETURN)
        await handle.execute_update(AfterSalesWorkflow.return_shipped, ReturnShipped(waybill_no="RT1001"))
        assert await _refusal(handle, AfterSalesWorkflow.return_received,
                              ReturnReceived(waybill_no="RT9999")) == TicketError.UNKNOWN_WAYBILL
        received = await handle.execute_update(AfterSalesWorkflow.return_received, ReturnReceived(waybill_no="RT1001"))
        assert received.status == TicketStatus.AWAITING_INSPECTION
        assert await _refusal(handle, AfterSalesWorkflow.inspect,
                              InspectionReport(passed=True, accepted_quantity=13)) == TicketError.INVALID_QUANTITY
        await handle.execute_update(AfterSalesWorkflow.inspect, InspectionReport(passed=True, accepted_quantity=10))
        result = await finish(ts_env, handle)

    assert result.status == TicketStatus.REFUNDED
    assert [(a.role, a.approver, a.decision) for a in result.approvals] == [
        ("finance", "f-01", "approve"), ("operations", "o-07", "approve")]
    assert result.refund.amount == 23988 * 10 // 12  # partial acceptance refunds in proportion
    (refund,) = await records(sandbox_url, "refund", result.refund.out_request_no)
    assert refund["body"]["refund_amount"] == "199.90"
    after = _at(await stock_of(sqlite_url, "SKU-2"))
    assert (after.on_hand, after.awaiting_inspection, after.damaged) == (before.on_hand + 10, 0, 2)
    row = await _row(sqlite_url, result.ticket_id)
    assert row.first_response_at is not None and row.claim_amount == 19990 and row.return_waybill == "RT1001"


async def test_rejected_ticket_moves_no_money_and_frees_the_awaited_units(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order, _ = await order_at(ts_env, settings, [("SKU-1", 3)], delivered=True)
        opened, handle = await open_and_start(ts_env.client, settings, order_id=order.order_id,
                                              type="return_and_refund", reason="changed_mind", goods_intact=False)
        assert opened.tier == "support_lead"
        assert _at(await stock_of(sqlite_url, "SKU-1")).awaiting_inspection == 3
        await handle.execute_update(AfterSalesWorkflow.reject, RejectTicket(role="support_lead", comment="used"))
        result = await finish(ts_env, handle)
    assert result.status == TicketStatus.REJECTED
    assert _at(await stock_of(sqlite_url, "SKU-1")).awaiting_inspection == 0
    assert await records(sandbox_url, "refund", result.ticket_id) == []
    (told,) = await records(sandbox_url, "channel_refund", f"own_store/default/{order.external_id}/{result.ticket_id}")
    assert told["body"]["status"] == "REJECTED"
    assert (await _row(sqlite_url, result.ticket_id)).claim_amount == 0


async def test_unanswered_ticket_alerts_and_escalates_each_tier_then_the_deadline_decides(ts_env, sqlite_url,
                                                                                         sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order, _ = await order_at(ts_env, settings, [("SKU-1", 3)], delivered=True)
        opened, handle = await open_and_start(ts_env.client, settings, order_id=order.order_id, type="refund_only",
                                              reason="not_as_described")
        assert (opened.status, opened.tier) == (TicketStatus.AWAITING_APPROVAL, "support_lead")
        ticket_id = opened.ticket_id
        await ts_env.sleep(timedelta(minutes=29))
        assert (await handle.query(AfterSalesWorkflow.state)).tier == "support_lead"
        assert await records(sandbox_url, "notification", f"{ticket_id}:sla_support_lead:support_lead") == []

        await ts_env.sleep(timedelta(minutes=2))  # 31 minutes without a first response
        escalated = await ticket_state(handle, TicketStatus.AWAITING_APPROVAL)
        assert escalated.tier == "finance_and_operations"
        for role in ("support_lead", "finance", "operations"):  # the late tier and the next one are alerted
            assert len(await records(sandbox_url, "notification", f"{ticket_id}:sla_support_lead:{role}")) == 1
        # the support lead's turn has passed
        assert await _refusal(handle, AfterSalesWorkflow.approve, ApproveTicket(role="support_lead")) == TicketError.ROLE_NOT_ALLOWED

        await ts_env.sleep(timedelta(minutes=31))
        assert (await handle.query(AfterSalesWorkflow.state)).tier == "admin"
        result = await finish(ts_env, handle)  # nobody answers: the 48 h deadline approves
    assert result.status == TicketStatus.REFUNDED
    assert result.approvals[-1].rule == "deadline" and result.refund.amount == 5997
    timeline = [e for e in (await _row(sqlite_url, ticket_id)).approvals]
    assert timeline[-1]["decision"] == "approve"


async def test_return_never_sent_closes_at_the_deadline(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order, _ = await order_at(ts_env, settings, [("SKU-1", 1)], delivered=True)
        opened, handle = await open_and_start(ts_env.client, settings, order_id=order.order_id,
                                              type="return_and_refund", reason="no_reason", goods_intact=True)
        assert opened.status == TicketStatus.APPROVED  # 19.99 yuan: a small refund
        await ticket_state(handle, TicketStatus.AWAITING_RETURN)
        assert _at(await stock_of(sqlite_url, "SKU-1")).awaiting_inspection == 1
        result = await finish(ts_env, handle)  # 7 days pass with no parcel
    assert result.status == TicketStatus.CLOSED and result.refund is None
    assert _at(await stock_of(sqlite_url, "SKU-1")).awaiting_inspection == 0
    row = await _row(sqlite_url, result.ticket_id)
    assert (row.claim_amount, row.closed_at is not None) == (0, True)


async def test_failed_inspection_moves_units_to_damaged_and_refunds_nothing(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order, _ = await order_at(ts_env, settings, [("SKU-4", 2)], delivered=True)
        before = _at(await stock_of(sqlite_url, "SKU-4"))
        _, handle = await open_and_start(ts_env.client, settings, order_id=order.order_id,
                                         type="return_and_refund", reason="no_reason", goods_intact=True)
        await ticket_state(handle, TicketStatus.AWAITING_RETURN)
        await handle.execute_update(AfterSalesWorkflow.return_received, ReturnReceived())
        assert await _refusal(handle, AfterSalesWorkflow.inspect,
                              InspectionReport(passed=False, accepted_quantity=1)) == TicketError.INVALID_QUANTITY
        await handle.execute_update(AfterSalesWorkflow.inspect, InspectionReport(passed=False, note="water damage"))
        result = await finish(ts_env, handle)
    assert result.status == TicketStatus.CLOSED and result.refund is None
    after = _at(await stock_of(sqlite_url, "SKU-4"))
    assert (after.on_hand, after.damaged, after.awaiting_inspection) == (before.on_hand, 2, 0)


async def test_refund_before_shipping_stops_the_order_releases_stock_and_refunds_once(ts_env, sqlite_url,
                                                                                     sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order, order_handle = await order_at(ts_env, settings, [("SKU-3", 3)], delivered=False)
        assert _at(await stock_of(sqlite_url, "SKU-3")).reserved == 3
        opened, handle = await open_and_start(ts_env.client, settings, order_id=order.order_id, type="refund_only",
                                              reason="changed_mind")
        assert opened.status == TicketStatus.AWAITING_APPROVAL  # 59.97 yuan: a support lead decides
        await handle.execute_update(AfterSalesWorkflow.approve, ApproveTicket(role="support_lead"))
        result = await finish(ts_env, handle)
        order_result = await finish(ts_env, order_handle)
    assert result.status == TicketStatus.REFUNDED and result.refund.amount == 5997
    assert order_result.status == OrderStatus.CANCELLED and order_result.refund_no is None
    assert _at(await stock_of(sqlite_url, "SKU-3")).reserved == 0
    # one refund: the ticket's; the order's own cancel refund never ran
    assert len(await records(sandbox_url, "refund", result.refund.out_request_no)) == 1
    assert await records(sandbox_url, "refund", f"{order.order_id}-cancel") == []


async def test_refund_before_shipping_comes_too_late_once_the_parcel_left(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order, order_handle = await order_at(ts_env, settings, [("SKU-1", 3)], delivered=False)
        opened, handle = await open_and_start(ts_env.client, settings, order_id=order.order_id, type="refund_only",
                                              reason="changed_mind")
        await order_handle.execute_update(OrderWorkflow.scan_shipment, ScanShipment())  # the parcel leaves first
        await handle.execute_update(AfterSalesWorkflow.approve, ApproveTicket(role="support_lead"))
        result = await finish(ts_env, handle)
        assert (await finish(ts_env, order_handle)).status == OrderStatus.COMPLETED
    assert result.status == TicketStatus.CLOSED and result.refund is None
    assert (await _row(sqlite_url, result.ticket_id)).claim_amount == 0


async def test_a_refund_the_gateway_settles_late_is_confirmed_by_query_and_paid_once(ts_env, sqlite_url):
    """The gateway accepts the refund but reports it PROCESSING for a while: the ticket confirms it
    by the query call instead of asking again."""
    from workers import stack

    async with stack.sandbox_process(delivery_delay_s="0", refund_async_delay_s="2") as slow_gateway:
        settings = settings_for(sqlite_url, slow_gateway)
        async with running_worker(ts_env.client, settings):
            order, _ = await order_at(ts_env, settings, [("SKU-1", 1)], delivered=True)
            _, handle = await open_and_start(ts_env.client, settings, order_id=order.order_id, type="refund_only",
                                             reason="quality")
            result = await ticket_state(handle, TicketStatus.REFUNDED, attempts=400)  # real seconds pass
            await finish(ts_env, handle)
        (refund,) = await records(slow_gateway, "refund", result.refund.out_request_no)
    assert refund["received"] == 1  # asked once; the retries queried it
    assert result.refund.status == "REFUND_SUCCESS" and result.refund.amount == 1999


async def test_an_exchange_ships_the_accepted_units_again_with_the_original_orders_priority(ts_env, sqlite_url,
                                                                                          sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order, _ = await order_at(ts_env, settings, [("SKU-1", 2)], delivered=True, priority_tags=["vip"])
        opened, handle = await open_and_start(ts_env.client, settings, order_id=order.order_id, type="exchange",
                                              reason="wrong_size", goods_intact=True)
        assert opened.status == TicketStatus.AWAITING_APPROVAL
        await handle.execute_update(AfterSalesWorkflow.approve, ApproveTicket(role="support_lead", approver="sl-1"))
        await ticket_state(handle, TicketStatus.AWAITING_RETURN)
        await handle.execute_update(AfterSalesWorkflow.return_shipped, ReturnShipped(waybill_no="RT2001"))
        await handle.execute_update(AfterSalesWorkflow.return_received, ReturnReceived(waybill_no="RT2001"))
        await handle.execute_update(AfterSalesWorkflow.inspect, InspectionReport(passed=True, accepted_quantity=1))
        result = await finish(ts_env, handle)
        assert result.status == TicketStatus.EXCHANGED and result.replacement_order_id
        replacement = ts_env.client.get_workflow_handle(workflow_id_for(result.replacement_order_id))
        started = (await replacement.fetch_history()).events[0].workflow_execution_started_event_attributes
        shipped = await wait_until(lambda: replacement.query(OrderWorkflow.state),
                                   lambda s: s.status == OrderStatus.AWAITING_SCAN)
    # One priority rule for every start: the exchange's parcel goes out as fast as the VIP order did.
    assert started.priority.priority_key == PRIORITY_LEVELS["vip"]
    assert [(line.sku, line.quantity) for sh in shipped.shipments for line in sh.lines] == [("SKU-1", 1)]


async def _taobao_order(sandbox_url: str, sqlite_url: str) -> str:
    """An order paid at Taobao (the sandbox's), its shop registered with the hub."""
    await seed_sandbox_shops(sqlite_url, channels=["taobao"])
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        created = await client.post("/_sandbox/platforms/taobao/shops/default/orders",
                                    json={"count": 1, "skus": ["SKU-1"], "paid": True})
    return created.json()["created"][0]


async def test_a_taobao_refund_is_agreed_at_taobao_once_and_never_paid_by_the_gateway(ts_env, sqlite_url, sandbox_url):
    external_id = await _taobao_order(sandbox_url, sqlite_url)
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order, _ = await order_at(ts_env, settings, [("SKU-1", 1)], delivered=True, channel="taobao",
                                  external_id=external_id, unit_price=400)
        _, handle = await open_and_start(ts_env.client, settings, order_id=order.order_id, type="refund_only",
                                         reason="quality")
        result = await finish(ts_env, handle)
    assert result.status == TicketStatus.REFUNDED
    request_no = refund_request_no(result.ticket_id)
    (made,) = await records(sandbox_url, "channel_refund", f"taobao/default/{external_id}/{request_no}")
    assert (made["body"]["amount"], made["body"]["status"]) == (400, "REFUNDED")
    assert await records(sandbox_url, "refund", request_no) == []  # Taobao pays its buyer; the gateway never
    assert [r for r in await records(sandbox_url, "channel_refund") if r["body"]["external_id"] == external_id] == [made]


async def test_a_cancel_after_a_partial_refund_sends_back_only_what_is_left(ts_env, sqlite_url, sandbox_url):
    """The order held (out of stock), a 30-fen partial refund paid, then the operator cancels it: the
    cancel refunds the 70 fen left of the 100 paid, not 100 again."""
    external_id = await _taobao_order(sandbox_url, sqlite_url)
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        decision, order_handle = await submit(ts_env.client, settings, make_order(
            [("SKU-3", 100)], paid=True, channel="taobao", external_id=external_id, unit_price=1))
        assert decision.status == OrderStatus.ON_HOLD
        _, handle = await open_and_start(ts_env.client, settings, order_id=decision.order_id, type="partial_refund",
                                         reason="late_delivery", amount=30)
        assert (await finish(ts_env, handle)).status == TicketStatus.REFUNDED
        cancelled = await order_handle.execute_update(OrderWorkflow.resolve_hold, ResolveHold(action="cancel"))
        assert cancelled.status == OrderStatus.CANCELLED
        await finish(ts_env, order_handle)
    moved = [r["body"]["amount"] for r in await records(sandbox_url, "channel_refund")
             if r["body"]["external_id"] == external_id]
    assert sorted(moved) == [30, 70]
    async with session_scope(sqlite_url) as session:
        left = await balance(session, decision.order_id)
    assert (left.received, left.refunded, left.refundable) == (100, 100, 0)
