"""Payout deadlines per ticket type (seed 002: refund before shipping 24 h; after shipping 48 h from
the return received; compensation 72 h): the deadline each ticket gets, and in the time-skipping
environment that finance is alerted and the timeline records payout_overdue once the deadline has
passed without the money moving, and not a moment before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from models.after_sales import (
    ApproveTicket,
    InspectionReport,
    RejectTicket,
    ReturnReceived,
    TicketEventName,
    TicketFacts,
    TicketStatus,
    TicketType,
    ticket_policy,
)
from models.config import Settings
from models.db import session_scope
from models.tables import AfterSalesEvent
from orderkit import finish, running_worker, settings_for
from ticketkit import open_and_start, order_at, records, ticket_state
from workflows.after_sales import AfterSalesWorkflow
from workflows.ticket_payout import payout_deadline

START = datetime(2026, 11, 11, 8, tzinfo=UTC)


@pytest.fixture
def ts_env(own_clock_env):
    """A clock of each test's own: these tests move it by days."""
    return own_clock_env


def facts(type: TicketType, *, before_shipping: bool = False) -> TicketFacts:
    return TicketFacts(ticket_id="as-x", order_id="own_store:default:X", order_workflow_id="order-x",
                       channel="own_store", shop="default", external_id="X", trade_no="P", type=type,
                       reason="quality", lines=[], amount=100, opened_at=START, before_shipping=before_shipping)


def test_each_ticket_type_has_its_payout_deadline():
    policy = ticket_policy(Settings())
    received = START + timedelta(days=3)
    deadline = lambda ticket, at=None: payout_deadline(ticket, policy, started_at=START, received_at=at)  # noqa: E731
    assert deadline(facts(TicketType.REFUND_ONLY, before_shipping=True)) == START + timedelta(hours=24)
    assert deadline(facts(TicketType.RETURN_AND_REFUND)) is None  # counted from the return, not yet received
    assert deadline(facts(TicketType.RETURN_AND_REFUND), received) == received + timedelta(hours=48)
    assert deadline(facts(TicketType.REFUND_ONLY)) == START + timedelta(hours=48)  # nothing comes back
    assert deadline(facts(TicketType.PARTIAL_REFUND)) == START + timedelta(hours=72)
    assert deadline(facts(TicketType.PARTIAL_REFUND, before_shipping=True)) == START + timedelta(hours=72)
    assert deadline(facts(TicketType.EXCHANGE), received) is None  # no money owed


def test_the_deadlines_are_settings():
    policy = ticket_policy(Settings(after_sales_payout_before_shipping_s=3600, after_sales_payout_after_return_s=7200,
                                    after_sales_payout_compensation_s=10800))
    assert (policy.payout_before_shipping_s, policy.payout_after_return_s, policy.payout_compensation_s) == (
        3600, 7200, 10800)


async def overdue_events(db_url: str, ticket_id: str) -> list[AfterSalesEvent]:
    async with session_scope(db_url) as session:
        return list((await session.exec(select(AfterSalesEvent).where(
            col(AfterSalesEvent.ticket_id) == ticket_id,
            col(AfterSalesEvent.event) == TicketEventName.PAYOUT_OVERDUE))).all())


def held_for_a_person(settings: Settings):
    """Nothing approves by itself and nobody is chased meanwhile: the money stays put until a person acts."""
    return ticket_policy(settings).model_copy(update={
        "auto_approve_max_fen": 0, "first_response_s": 30 * 86400, "approval_deadline_s": 60 * 86400})


async def test_an_unpaid_refund_before_shipping_alerts_finance_after_24_hours(ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order, _ = await order_at(ts_env, settings, [("SKU-1", 1)], delivered=False)
        opened, handle = await open_and_start(ts_env.client, settings, held_for_a_person(settings),
                                              order_id=order.order_id, type="refund_only", reason="changed_mind")
        assert opened.status == TicketStatus.AWAITING_APPROVAL
        key = f"{opened.ticket_id}:payout_overdue:finance"
        await ts_env.sleep(timedelta(hours=23, minutes=59))
        await handle.query(AfterSalesWorkflow.state)  # the workflow has caught up with the clock
        assert await records(sandbox_url, "notification", key) == []
        assert await overdue_events(sqlite_url, opened.ticket_id) == []

        await ts_env.sleep(timedelta(minutes=2))
        await ticket_state(handle, TicketStatus.AWAITING_APPROVAL)
        for _ in range(100):
            if await overdue_events(sqlite_url, opened.ticket_id):
                break
            await ts_env.sleep(timedelta(seconds=1))
        (event,) = await overdue_events(sqlite_url, opened.ticket_id)
        assert event.status == TicketStatus.AWAITING_APPROVAL.value  # the alert leaves the ticket where it is
        assert (event.detail["hours"], event.detail["amount"]) == (24, 1999)
        (notice,) = await records(sandbox_url, "notification", key)
        assert notice["body"]["audience"] == "finance"

        await handle.execute_update(AfterSalesWorkflow.reject, RejectTicket(role="support_lead", comment="kept"))
        result = await finish(ts_env, handle)
    assert result.status == TicketStatus.REJECTED
    assert len(await overdue_events(sqlite_url, opened.ticket_id)) == 1  # once


async def test_a_return_is_due_48_hours_after_it_is_received_and_a_timely_refund_alerts_nobody(
        ts_env, sqlite_url, sandbox_url):
    settings = settings_for(sqlite_url, sandbox_url)
    async with running_worker(ts_env.client, settings):
        order, _ = await order_at(ts_env, settings, [("SKU-2", 1)], delivered=True)
        opened, handle = await open_and_start(ts_env.client, settings, held_for_a_person(settings),
                                              order_id=order.order_id, type="return_and_refund", reason="quality",
                                              goods_intact=True)
        await handle.execute_update(AfterSalesWorkflow.approve, ApproveTicket(role="support_lead"))
        await ticket_state(handle, TicketStatus.AWAITING_RETURN)
        await ts_env.sleep(timedelta(days=5))  # the buyer takes their time: no deadline runs yet
        await handle.query(AfterSalesWorkflow.state)
        assert await overdue_events(sqlite_url, opened.ticket_id) == []
        await handle.execute_update(AfterSalesWorkflow.return_received, ReturnReceived())

        await ts_env.sleep(timedelta(hours=47, minutes=59))  # received, not inspected: the money waits
        await handle.query(AfterSalesWorkflow.state)
        assert await overdue_events(sqlite_url, opened.ticket_id) == []
        await ts_env.sleep(timedelta(minutes=2))
        for _ in range(100):
            if await overdue_events(sqlite_url, opened.ticket_id):
                break
            await ts_env.sleep(timedelta(seconds=1))
        (event,) = await overdue_events(sqlite_url, opened.ticket_id)
        assert (event.status, event.detail["hours"]) == (TicketStatus.AWAITING_INSPECTION.value, 48)
        assert len(await records(sandbox_url, "notification", f"{opened.ticket_id}:payout_overdue:finance")) == 1
        await handle.execute_update(AfterSalesWorkflow.inspect, InspectionReport(passed=True))
        assert (await finish(ts_env, handle)).status == TicketStatus.REFUNDED  # late, but paid
        assert len(await overdue_events(sqlite_url, opened.ticket_id)) == 1

        # a second ticket on another order, refunded at once: its deadline passes with nobody alerted
        other, _ = await order_at(ts_env, settings, [("SKU-3", 1)], delivered=True)
        quick, quick_handle = await open_and_start(ts_env.client, settings, order_id=other.order_id,
                                                   type="partial_refund", reason="late", amount=500)
        assert (await finish(ts_env, quick_handle)).status == TicketStatus.REFUNDED
        await ts_env.sleep(timedelta(hours=73))
    assert await overdue_events(sqlite_url, quick.ticket_id) == []
    assert await records(sandbox_url, "notification", f"{quick.ticket_id}:payout_overdue:finance") == []
