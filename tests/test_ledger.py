"""The money ledger (models/ledger.py) on SQLite and PostgreSQL: receipts are written with the order,
every refund is claimed against what is left of them under the order's lock, and no mix of tickets
and cancels ever claims more than came in, also when they race."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from activities.after_sales import TicketRefused, open_ticket
from activities.orders import record_transition, register_order
from models.after_sales import AfterSalesRequest, auto_approval_rule, first_tier, ticket_policy
from models.config import Settings
from models.db import session_scope
from models.ledger import (
    RefundExceedsReceived,
    balance,
    claim_refund,
    entries,
    lock_order,
    record_receipt,
    settle_refund,
)
from models.order import OrderStatus, workflow_id_for
from models.order_workflow import OrderEventName, RecordTransitionInput, RegisterOrderInput, TimelineEntry
from orderkit import make_order

NOW = datetime(2026, 12, 3, 10, tzinfo=UTC)


async def registered(db_url: str, *, paid: bool, lines: list[tuple[str, int]] | None = None, **extra) -> str:
    order = make_order(lines or [("SKU-1", 2)], paid=paid, **extra)
    await register_order(db_url, RegisterOrderInput(order=order, workflow_id=workflow_id_for(order.order_id),
                                                    received_at=NOW))
    return order.order_id


async def claim(db_url: str, order_id: str, request_no: str, amount: int | None, source="ticket") -> int:
    async with session_scope(db_url) as session:
        order = await lock_order(session, order_id)
        assert order is not None
        return (await claim_refund(session, order, request_no=request_no, amount=amount, source=source, at=NOW)).amount


async def balance_of(db_url: str, order_id: str):
    async with session_scope(db_url) as session:
        return await balance(session, order_id)


async def test_a_paid_order_is_received_once_with_its_trade_number(db_url):
    order_id = await registered(db_url, paid=True, trade_no="PAY-L1")
    # The payment confirmed again (a retried transition) does not receive it twice.
    await record_transition(db_url, RecordTransitionInput(order_id=order_id, paid=True, entry=TimelineEntry(
        seq=1, at=NOW, status=OrderStatus.FULFILLING, event=OrderEventName.PAYMENT_CONFIRMED)))
    async with session_scope(db_url) as session:
        (entry,) = await entries(session, order_id)
    assert (entry.direction, entry.route, entry.reference, entry.amount, entry.status, entry.source) == \
        ("in", "gateway", "PAY-L1", 3998, "done", "payment")


async def test_an_unpaid_order_is_received_when_its_payment_is_recorded(db_url):
    order_id = await registered(db_url, paid=False, channel="taobao", external_id="3000111")
    assert (await balance_of(db_url, order_id)).received == 0
    await record_transition(db_url, RecordTransitionInput(order_id=order_id, paid=True, entry=TimelineEntry(
        seq=1, at=NOW, status=OrderStatus.FULFILLING, event=OrderEventName.PAYMENT_CONFIRMED)))
    async with session_scope(db_url) as session:
        (entry,) = await entries(session, order_id)
    assert (entry.route, entry.amount) == ("channel", 3998)  # a marketplace took the money: its API refunds it


async def test_claims_never_exceed_what_was_received_and_a_release_frees_the_claim(db_url):
    order_id = await registered(db_url, paid=True)  # 3998 received
    assert await claim(db_url, order_id, "t1", 3000) == 3000
    with pytest.raises(RefundExceedsReceived) as refused:
        await claim(db_url, order_id, "t2", 999)
    assert refused.value.balance.refundable == 998
    assert await claim(db_url, order_id, "t1", 3000) == 3000  # the same claim again: no second claim
    async with session_scope(db_url) as session:
        await settle_refund(session, order_id, "t1", moved=False, at=NOW)
    assert await claim(db_url, order_id, "cancel", None, source="cancel") == 3998  # everything left
    async with session_scope(db_url) as session:
        await settle_refund(session, order_id, "cancel", moved=True, at=NOW)
    left = await balance_of(db_url, order_id)
    assert (left.received, left.refunded, left.claimed, left.refundable) == (3998, 3998, 0, 0)
    assert await claim(db_url, order_id, "late", None, source="cancel") == 0  # nothing left to claim


async def test_a_payment_the_read_model_missed_is_received_before_the_refund_is_claimed(db_url):
    order_id = await registered(db_url, paid=False)
    async with session_scope(db_url) as session:
        order = await lock_order(session, order_id)
        assert order is not None
        await record_receipt(session, order, key="payment", reference="PAY-RACE", amount=3998, source="payment", at=NOW)
        await record_receipt(session, order, key="payment", reference="PAY-RACE", amount=3998, source="payment", at=NOW)
    assert await claim(db_url, order_id, "cancel", None, source="cancel") == 3998


async def test_racing_claims_on_postgresql_claim_exactly_what_was_received(pg_url):
    order_id = await registered(pg_url, paid=True)  # 3998 received
    outcomes = await asyncio.gather(*(claim(pg_url, order_id, f"t{n}", 1000) for n in range(8)),
                                    return_exceptions=True)
    assert sum(1 for o in outcomes if o == 1000) == 3
    assert all(isinstance(o, RefundExceedsReceived) for o in outcomes if o != 1000)
    assert (await balance_of(pg_url, order_id)).claimed == 3000


async def test_split_small_tickets_are_judged_by_the_orders_total_and_stop_at_the_payment(db_url):
    """Seven 50-yuan partial refunds on a 300-yuan order: the auto rule approves while the order's
    total stays small, then a person must, and the seventh is refused: 300 yuan at most, ever."""
    policy = ticket_policy(Settings(after_sales_auto_approve_max_fen=10000))
    order_id = await registered(db_url, paid=True, lines=[("SKU-1", 15)])  # 15 x 19.99 = 299.85 yuan
    rules, tiers = [], []
    for n in range(7):
        request = AfterSalesRequest(order_id=order_id, type="partial_refund", reason="quality", amount=5000,
                                    lines=[{"sku": "SKU-1", "quantity": 1}], request_id=f"split-{n}")
        try:
            facts, _ = await open_ticket(db_url, request, now=NOW)
        except TicketRefused as refused:
            rules.append(refused.error)
            continue
        rules.append(auto_approval_rule(facts, policy))
        tiers.append(first_tier(facts, policy))
    assert rules == ["small_refund", "small_refund", None, None, None, "refund_exceeds_paid", "refund_exceeds_paid"]
    assert tiers == [0, 0, 0, 0, 1]  # 250 yuan in total is above the support lead's 200
    assert (await balance_of(db_url, order_id)).claimed == 25000
