"""The daily reconciliation's comparison: for seeded days with planted differences of every kind, compare finds
exactly the planted ones and nothing on the clean orders; a clean day has none. Plus the bill readers against
the sandbox's bill shapes, and the day window."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from activities.channels.bills import READERS, read_statement
from models.reconciliation import (
    BILL_CHANNELS,
    GATEWAY_CHANNEL,
    BillLine,
    DifferenceKind,
    GatewayLine,
    GatewayMovement,
    HubOrder,
    HubSide,
    PlatformSide,
    compare,
    counts_by_kind,
    day_window,
    previous_day,
    summarize,
)
from models.reconciliation_plan import PLANTABLE, ReconciliationPlan, plan_day
from sandbox import settlement

K = DifferenceKind


def commission(channel: str, paid: int, refunded: int) -> int:
    return (max(paid - refunded, 0) * settlement.COMMISSION_BP[channel] + 5000) // 10000


def sides(plan: ReconciliationPlan) -> tuple[HubSide, PlatformSide]:
    """Both sides as a correct hub and a platform with the planted changes would report them."""
    hub, platform = HubSide(), PlatformSide(shops=[f"{c}/default" for c in BILL_CHANNELS], gateway_fetched=True)
    for o in plan.orders:
        order_id = f"{o.channel}:{o.shop}:{o.external_id}"
        if o.in_hub:
            hub.orders.append(HubOrder(order_id=order_id, channel=o.channel, shop=o.shop, external_id=o.external_id,
                                       status="COMPLETED", received=o.amount, refunded=o.refunded))
        if o.channel == GATEWAY_CHANNEL:
            assert o.trade_no
            if o.in_hub:
                hub.receipts.append(GatewayMovement(order_id=order_id, channel=o.channel, shop=o.shop,
                                                    external_id=o.external_id, trade_no=o.trade_no, amount=o.amount))
            if o.kind is not K.PAYMENT_MISSING:
                amount = o.amount + (o.delta if o.kind is K.AMOUNT_MISMATCH else 0)
                platform.gateway.append(GatewayLine(kind="trade", trade_no=o.trade_no, out_trade_no=o.external_id,
                                                    amount=amount))
            if o.kind is K.REFUND_MISMATCH:
                platform.gateway.append(GatewayLine(kind="refund", trade_no=o.trade_no, out_request_no="R1",
                                                    amount=o.delta))
            continue
        if o.kind is K.MISSING_ON_PLATFORM:
            continue
        paid = o.amount + (o.delta if o.kind is K.AMOUNT_MISMATCH else 0)
        refunded = o.refunded + (o.delta if o.kind is K.REFUND_MISMATCH else 0)
        fee = commission(o.channel, paid, refunded)
        settled = paid - refunded - fee + o.subsidy - (o.delta if o.kind is K.SETTLEMENT_MISMATCH else 0)
        platform.bills.append(BillLine(channel=o.channel, shop=o.shop, external_id=o.external_id,
                                       closed=o.kind is K.STATUS_MISMATCH, paid=paid, refunded=refunded,
                                       commission=fee, subsidy=o.subsidy, settled=settled))
    return hub, platform


@pytest.mark.parametrize("seed", [1, 2, 3, 7, 42, 1234, 99991])
def test_compare_finds_every_planted_difference_and_nothing_else(seed):
    plan = plan_day(date(2026, 11, 30), seed)
    assert {p.kind for p in plan.planted} == set(DifferenceKind)  # every kind is planted
    hub, platform = sides(plan)
    found = compare(hub, platform)
    assert sorted((d.kind, d.channel, d.external_id) for d in found) == \
        sorted((p.kind, p.channel, p.external_id) for p in plan.planted)
    assert sum(counts_by_kind(found).values()) == len(plan.planted)


@pytest.mark.parametrize("seed", [5, 6, 8])
def test_a_clean_day_has_no_differences(seed):
    plan = plan_day(date(2026, 11, 30), seed)
    clean = ReconciliationPlan(day=plan.day, orders=[o for o in plan.orders if o.kind is None])
    hub, platform = sides(clean)
    assert compare(hub, platform) == []
    summary = summarize(hub, platform)
    assert sum(s.orders for s in summary.values()) == len(clean.orders)
    assert sum(s.paid_fen for s in summary.values()) == sum(o.amount for o in clean.orders)


def test_each_kind_alone_is_found_alone():
    plan = plan_day(date(2026, 11, 30), 11)
    clean = [o for o in plan.orders if o.kind is None]
    for planted in [o for o in plan.orders if o.kind]:
        hub, platform = sides(ReconciliationPlan(day=plan.day, orders=[*clean, planted]))
        found = compare(hub, platform)
        assert [(d.kind, d.external_id) for d in found] == [(planted.kind, planted.external_id)], planted.kind
    assert set(PLANTABLE) == set(DifferenceKind)


def test_differences_carry_what_the_hub_expected_and_the_platform_said():
    hub = HubSide(orders=[HubOrder(order_id="jd:default:9", channel="jd", shop="default", external_id="9",
                                   status="SHIPPED", received=1000)])
    platform = PlatformSide(shops=["jd/default"], bills=[BillLine(
        channel="jd", shop="default", external_id="9", closed=False, paid=1200, commission=60, settled=1140)])
    [d] = compare(hub, platform)
    assert (d.kind, d.order_id, d.expected_fen, d.actual_fen) == (K.AMOUNT_MISMATCH, "jd:default:9", 1000, 1200)


def test_a_shop_whose_bill_was_not_fetched_is_not_reported_missing():
    hub = HubSide(orders=[HubOrder(order_id="jd:b:9", channel="jd", shop="b", external_id="9", status="SHIPPED",
                                   received=1000)])
    assert compare(hub, PlatformSide(shops=["jd/default"])) == []
    assert [d.kind for d in compare(hub, PlatformSide(shops=["jd/b"]))] == [K.MISSING_ON_PLATFORM]


def test_a_gateway_trade_known_from_another_day_is_not_unmatched():
    statement = [GatewayLine(kind="trade", trade_no="T1", amount=500)]
    assert compare(HubSide(known_trades=["T1"]), PlatformSide(gateway=statement, gateway_fetched=True)) == []
    [d] = compare(HubSide(), PlatformSide(gateway=statement, gateway_fetched=True))
    assert d.kind is K.PAYMENT_UNMATCHED and d.actual_fen == 500


@pytest.mark.parametrize("channel", BILL_CHANNELS)
def test_each_platforms_bill_shape_reads_back_to_the_sandboxs_lines(channel):
    paid_at = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
    lines = [settlement.Line(channel=channel, shop="s", external_id="100", paid_at=paid_at, paid=19900, refunded=990,
                             subsidy=300, settled_delta=-500),
             settlement.Line(channel=channel, shop="s", external_id="101", paid_at=paid_at, paid=990, closed=True)]
    body = settlement.SHAPES[channel](lines, date(2026, 11, 30))
    read = {b.external_id: b for b in READERS[channel](channel, "s", body)}
    for line in lines:
        b = read[line.external_id]
        assert (b.paid, b.refunded, b.commission, b.subsidy, b.settled, b.closed, b.settle_date) == (
            line.paid, line.refunded, line.commission, line.subsidy, line.settled, line.closed, line.settle_date)


def test_the_gateway_statement_reads_back():
    body = {"items": [{"trade_no": "T1", "out_trade_no": "O1", "business_type": "交易", "amount": "19.90",
                       "service_fee": "0.00"},
                      {"trade_no": "T1", "out_request_no": "R1", "business_type": "退款", "amount": "5.00"}]}
    assert [(g.kind, g.trade_no, g.amount) for g in read_statement(body)] == [("trade", "T1", 1990),
                                                                              ("refund", "T1", 500)]


def test_the_day_is_midnight_to_midnight_in_shanghai():
    window = day_window(date(2026, 11, 30), "Asia/Shanghai")
    assert window.start == datetime(2026, 11, 29, 16, tzinfo=UTC) and window.end == datetime(2026, 11, 30, 16, tzinfo=UTC)
    # 03:00 in Shanghai on Dec 1 is Nov 30, 19:00 UTC: the day before is Nov 30.
    assert previous_day(datetime(2026, 11, 30, 19, tzinfo=UTC), "Asia/Shanghai") == date(2026, 11, 30)
