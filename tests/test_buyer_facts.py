"""buyer_facts, the fraud rules' counts, read in one statement: on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.exceptions import buyer_facts
from activities.orders import register_in
from models.db import session_scope
from models.exceptions import buyer_key, device_key
from models.order_workflow import RegisterOrderInput
from orderkit import make_order

NOW = datetime(2026, 11, 11, 0, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def _register(db_url: str, order, at: datetime, *, paid: bool = False) -> None:
    order.paid = paid
    async with session_scope(db_url) as session:
        assert await register_in(session, RegisterOrderInput(order=order, workflow_id=f"order-{order.order_id}",
                                                             received_at=at))


async def test_counts_the_buyers_and_devices_other_orders(db_url):
    buyer = {"buyer_id": "buyer-7"}
    # The buyer's history: two unpaid within the hour, one unpaid before it, one paid; and one unpaid after
    # this order (a retried screening sees it): unpaid in the window, but not an earlier order.
    for minutes, paid in ((-10, False), (-50, False), (-90, False), (-20, True)):
        await _register(db_url, make_order(**buyer), NOW + timedelta(minutes=minutes), paid=paid)
    await _register(db_url, make_order(**buyer), NOW + timedelta(minutes=5))
    # Another buyer on the same device, unpaid within the hour; and a stranger.
    await _register(db_url, make_order(buyer_id="buyer-8", device_id="dev-1"), NOW - timedelta(minutes=15))
    await _register(db_url, make_order(buyer_id="buyer-9"), NOW - timedelta(minutes=5))

    order = make_order(device_id="dev-1", **buyer)
    await _register(db_url, order, NOW)
    async with session_scope(db_url) as session:
        facts = await buyer_facts(session, order.order_id, HOUR, buyer=buyer_key(order), device=device_key(order),
                                  created_at=NOW)
    assert (facts.unpaid_by_buyer, facts.unpaid_by_device, facts.earlier_orders) == (3, 1, 4)


async def test_a_first_order_without_a_device_counts_nothing(db_url):
    await _register(db_url, make_order(buyer_id="someone-else"), NOW - timedelta(minutes=1))
    order = make_order(buyer_id="newcomer")
    await _register(db_url, order, NOW)
    async with session_scope(db_url) as session:
        facts = await buyer_facts(session, order.order_id, HOUR, buyer=buyer_key(order), device=None, created_at=NOW)
    assert (facts.unpaid_by_buyer, facts.unpaid_by_device, facts.earlier_orders) == (0, 0, 0)
    async with session_scope(db_url) as session:  # registered already: a repeat says so
        assert not await register_in(session, RegisterOrderInput(order=order, workflow_id="x", received_at=NOW))
