"""Amounts as the platforms compute them: what was paid is split across lines (discount apportioned by
list price, largest remainders) so the shares add up exactly; a line refund pays back its units' share,
the units completing a line taking what its earlier tickets left; the shipping fee comes back once,
when the rules file's reason says so. Refunding every line, in any tickets in any order, refunds
exactly what was paid (less the shipping fee when no reason refunds it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import col, select

from activities.after_sales import TicketRefused, open_ticket
from activities.orders import register_in
from models.after_sales import AfterSalesRequest, TicketStatus, refund_request_no
from models.db import session_scope
from models.ledger import settle_refund
from models.money import apportion, split_paid, unit_share
from models.order import Order, OrderStatus, workflow_id_for
from models.order_workflow import RegisterOrderInput
from models.rules import AfterSalesRules
from models.tables import AfterSalesTicketRecord, OrderLineRecord, OrderRecord
from orderkit import BUYER

QUICK = settings(max_examples=300, deadline=None, database=None)
RULES = AfterSalesRules(shipping_refund_reasons=["quality", "wrong_item"])


# --- the pure functions ----------------------------------------------------------------------------

@QUICK
@given(total=st.integers(0, 2_000_000_000), weights=st.lists(st.integers(0, 10**9), min_size=1, max_size=30))
def test_shares_add_up_to_the_total_and_are_never_negative(total, weights):
    shares = apportion(total, weights)
    assert sum(shares) == total
    assert len(shares) == len(weights) and all(s >= 0 for s in shares)
    whole = sum(weights)
    if whole:  # each share is its exact proportion rounded down or up, never further
        for share, weight in zip(shares, weights, strict=True):
            assert total * weight // whole <= share <= -(-total * weight // whole)


def test_largest_remainders_take_the_odd_fen():
    assert apportion(100, [1, 1, 1]) == [34, 33, 33]  # ties: the earlier line
    assert apportion(1000, [3990, 1990, 0]) == [667, 333, 0]  # 666.8 and 333.2: the larger remainder rounds up
    assert apportion(5, [0, 0]) == [3, 2]
    assert apportion(0, [5, 7]) == [0, 0]
    with pytest.raises(ValueError):
        apportion(-1, [1])


def test_the_discount_comes_off_the_goods_before_shipping():
    assert split_paid(10_000, 800, 500) == (9_500, 800)
    assert split_paid(300, 800, 500) == (0, 600)  # a coupon larger than the goods eats into shipping


@QUICK
@given(share=st.integers(0, 10**7), quantity=st.integers(1, 12), data=st.data())
def test_a_line_refunded_unit_by_unit_in_any_tickets_refunds_its_share(share, quantity, data):
    """Tickets take random numbers of units; some are rejected (their units and fen freed) and taken
    again by later tickets. Once every unit is held by a live ticket, they hold exactly the share."""
    live: list[tuple[int, int]] = []  # (units, fen) per live ticket
    for _ in range(40):
        held = sum(u for u, _ in live)
        if held == quantity:
            break
        if live and data.draw(st.booleans(), label="reject one"):
            live.pop(data.draw(st.integers(0, len(live) - 1), label="which"))
            continue
        units = data.draw(st.integers(1, quantity - held), label="units")
        fen = unit_share(share, quantity, units, last=held + units >= quantity, taken=sum(f for _, f in live))
        assert fen >= 0
        live.append((units, fen))
    else:  # never completed within the steps drawn: complete it now
        held = sum(u for u, _ in live)
        if held < quantity:
            live.append((quantity - held, unit_share(share, quantity, quantity - held, last=True,
                                                    taken=sum(f for _, f in live))))
    assert sum(u for u, _ in live) == quantity
    assert sum(f for _, f in live) == share


def test_an_order_without_channel_shares_apportions_by_list_price():
    order = make([("SKU-1", 2, 3990), ("SKU-2", 1, 1990)], discount=1000, shipping_fee=800)
    assert order.line_shares() == [7180, 1790]  # 8970 paid for the goods: 7980/9970 and 1990/9970 of it
    assert sum(order.line_shares()) == order.total_amount - order.shipping_fee


def test_channel_shares_are_kept_when_they_add_up():
    lines = [("SKU-1", 2, 3990), ("SKU-2", 1, 1990)]
    given_shares = make(lines, discount=1000, shares=[7200, 1770])
    assert given_shares.line_shares() == [7200, 1770]
    wrong = make(lines, discount=1000, shares=[7000, 2000])  # do not add up to what was paid: apportioned
    assert wrong.line_shares() == [7180, 1790]


# --- open_ticket against the order's registered lines ----------------------------------------------

def make(lines, *, discount=0, shipping_fee=0, shares=None, external_id="A1") -> Order:
    return Order.model_validate({
        "channel": "own_store", "external_id": external_id, "paid": True, "trade_no": "PAY-1", "buyer": BUYER,
        "lines": [{"sku": sku, "quantity": q, "unit_price": p, **({"paid_amount": shares[i]} if shares else {})}
                  for i, (sku, q, p) in enumerate(lines)],
        "discount": discount, "shipping_fee": shipping_fee,
    })


async def registered(db_url: str, order: Order, status: OrderStatus = OrderStatus.COMPLETED) -> Order:
    async with session_scope(db_url) as session:
        await register_in(session, RegisterOrderInput(order=order, workflow_id=workflow_id_for(order.order_id),
                                                      received_at=datetime.now(UTC)))
        await session.exec(update(OrderRecord).where(col(OrderRecord.order_id) == order.order_id)
                           .values(status=status.value))
    return order


async def ticket(db_url: str, order: Order, lines: list[tuple[str, int]] | None, reason: str = "no_reason",
                 type: str = "return_and_refund", request_id: str | None = None) -> int:
    request = AfterSalesRequest.model_validate({
        "order_id": order.order_id, "type": type, "reason": reason, "request_id": request_id,
        **({"lines": [{"sku": s, "quantity": q} for s, q in lines]} if lines else {})})
    facts, created = await open_ticket(db_url, request, after_sales_rules=RULES)
    assert created
    return facts.amount


async def set_status(db_url: str, order: Order, status: TicketStatus) -> None:
    """The last ticket opened ends unpaid: its units and money are free again (as the workflow records it)."""
    async with session_scope(db_url) as session:
        rows = (await session.exec(select(AfterSalesTicketRecord).where(
            col(AfterSalesTicketRecord.order_id) == order.order_id)
            .order_by(col(AfterSalesTicketRecord.created_at).desc()))).all()
        await end_unpaid(session, rows[0], status)


async def end_unpaid(session, row: AfterSalesTicketRecord, status: TicketStatus) -> None:
    """What record_ticket_transition does at an unpaid end: the row, and the ledger's claim released."""
    row.status, row.claim_amount = status.value, 0
    await settle_refund(session, row.order_id, refund_request_no(row.ticket_id), moved=False, at=datetime.now(UTC))


async def test_registration_keeps_each_lines_paid_share(sqlite_url):
    order = await registered(sqlite_url, make([("SKU-1", 2, 3990), ("SKU-2", 1, 1990)], discount=1000,
                                              shipping_fee=800))
    async with session_scope(sqlite_url) as session:
        rows = (await session.exec(select(OrderLineRecord).where(col(OrderLineRecord.order_id) == order.order_id)
                                   .order_by(col(OrderLineRecord.line_no)))).all()
    assert [r.paid_amount for r in rows] == [7180, 1790]


async def test_refunding_every_line_in_several_tickets_refunds_exactly_what_was_paid(sqlite_url):
    order = await registered(sqlite_url, make([("SKU-1", 3, 3333), ("SKU-2", 2, 1990), ("SKU-3", 1, 990)],
                                              discount=1701, shipping_fee=800))
    amounts = [
        await ticket(sqlite_url, order, [("SKU-1", 1)]),  # no reason: no shipping
        await ticket(sqlite_url, order, [("SKU-2", 1), ("SKU-1", 1)], reason="quality"),  # carries the shipping
        await ticket(sqlite_url, order, [("SKU-3", 1)], reason="wrong_item"),  # shipping already carried
        await ticket(sqlite_url, order, [("SKU-1", 1), ("SKU-2", 1)], request_id="d"),
    ]
    assert sum(amounts) == order.total_amount
    shares = dict(zip(("SKU-1", "SKU-2", "SKU-3"), order.line_shares(), strict=True))
    assert amounts[0] == shares["SKU-1"] // 3
    assert amounts[1] == shares["SKU-2"] // 2 + shares["SKU-1"] // 3 + 800
    assert amounts[2] == shares["SKU-3"]
    with pytest.raises(TicketRefused):  # nothing left to claim
        await ticket(sqlite_url, order, [("SKU-3", 1)], reason="quality", request_id="again")


async def test_without_a_qualifying_reason_the_shipping_fee_stays(sqlite_url):
    order = await registered(sqlite_url, make([("SKU-1", 2, 2500), ("SKU-2", 1, 1000)], discount=600,
                                              shipping_fee=1200))
    amounts = [await ticket(sqlite_url, order, [("SKU-2", 1)]), await ticket(sqlite_url, order, [("SKU-1", 2)])]
    assert sum(amounts) == order.total_amount - 1200 == 5400
    assert amounts == [1000 - 100, 5000 - 500]  # the 600 discount apportioned 5000:1000


async def test_a_whole_order_return_for_quality_refunds_everything_paid(sqlite_url):
    order = await registered(sqlite_url, make([("SKU-1", 2, 2500), ("SKU-2", 1, 1000)], discount=600,
                                              shipping_fee=1200))
    assert await ticket(sqlite_url, order, None, reason="quality") == order.total_amount


async def test_a_refund_before_shipping_refunds_the_shipping_fee_whatever_the_reason(sqlite_url):
    order = await registered(sqlite_url, make([("SKU-1", 1, 2500)], discount=300, shipping_fee=800),
                             status=OrderStatus.FULFILLING)
    assert await ticket(sqlite_url, order, None, type="refund_only") == order.total_amount == 3000


async def test_a_rejected_ticket_frees_its_units_and_the_line_still_adds_up(sqlite_url):
    order = await registered(sqlite_url, make([("SKU-1", 3, 1000)], discount=1))  # 2999 over 3 units
    first = await ticket(sqlite_url, order, [("SKU-1", 1)])
    second = await ticket(sqlite_url, order, [("SKU-1", 1)], request_id="b")
    third = await ticket(sqlite_url, order, [("SKU-1", 1)], request_id="c")
    assert (first, second, third) == (999, 999, 1001)
    await set_status(sqlite_url, order, TicketStatus.REJECTED)  # the third: the line's last unit is free again
    assert await ticket(sqlite_url, order, [("SKU-1", 1)], request_id="d") == 1001
    await set_status(sqlite_url, order, TicketStatus.CLOSED)
    async with session_scope(sqlite_url) as session:  # the first rejected too: two units free
        first_row = (await session.exec(select(AfterSalesTicketRecord).where(
            col(AfterSalesTicketRecord.order_id) == order.order_id)
            .order_by(col(AfterSalesTicketRecord.created_at)))).first()
        assert first_row is not None
        await end_unpaid(session, first_row, TicketStatus.REJECTED)
    assert await ticket(sqlite_url, order, [("SKU-1", 2)], request_id="e") == 2999 - 999


async def test_channel_shares_decide_the_line_refund(sqlite_url):
    order = await registered(sqlite_url, make([("SKU-1", 2, 3990), ("SKU-2", 1, 1990)], discount=1000,
                                              shares=[7200, 1770]))
    assert await ticket(sqlite_url, order, [("SKU-2", 1)]) == 1770
    assert await ticket(sqlite_url, order, [("SKU-1", 1)], request_id="b") == 3600


async def test_an_exchange_holds_its_units_share_so_the_last_refund_does_not_take_it(sqlite_url):
    order = await registered(sqlite_url, make([("SKU-1", 3, 1000)], discount=1))
    assert await ticket(sqlite_url, order, [("SKU-1", 1)], type="exchange", reason="size") == 0
    assert await ticket(sqlite_url, order, [("SKU-1", 2)], request_id="b") == 2999 - 999
