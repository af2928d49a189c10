"""The sandbox marketplaces serve amounts as the platforms compute them, and the adapters keep them:
per line the share of what was paid (Taobao `divide_order_fee`, Douyin sku `pay_amount`, Shopify price
less `discount_allocations`) adding up to what was paid for the goods, and the payment's trade number
(Taobao `alipay_no`, Pinduoduo `pay_no`). Platforms without shares (JD, Pinduoduo, the own store)
leave the split to the hub, whose apportioned shares add up the same way."""

from __future__ import annotations

import pytest

from activities.channels import ADAPTERS
from activities.channels.taobao import TRADE_FIELDS
from sandbox.gateway import GatewayState
from sandbox.platforms import PLATFORMS
from sandbox.platforms.base import field_names
from sandbox.platforms.state import Marketplaces, default_shop
from sandbox.platforms.taobao import Taobao
from sandbox.records import RecordStore

GIVES_SHARES = {"taobao", "douyin", "shopify"}
GIVES_TRADE_NO = {"taobao", "pinduoduo", "own_store"}


@pytest.mark.parametrize("channel", sorted(PLATFORMS))
def test_served_orders_map_with_shares_that_add_up_to_what_was_paid(channel):
    records = RecordStore()  # own-store orders are paid through the gateway, which names the trade
    market = Marketplaces(records, rate_per_s=100, burst=100, seed=16, gateway=GatewayState(0, records))
    platform = PLATFORMS[channel]
    orders = market.create_orders(channel, default_shop(channel), 40, ["SKU-1", "SKU-2", "SKU-3", "SKU-4"],
                                  paid=True, spread_s=0, new_id=platform.new_id)
    assert any(o.discount for o in orders) and any(len(o.lines) > 1 for o in orders)  # the cases that matter
    for served in orders:
        payload = platform.payload(served)
        if channel == "taobao":  # only the fields the adapter asks for come back
            payload = Taobao.fields_of(payload, field_names(TRADE_FIELDS))
        order = ADAPTERS[channel].map_order(payload, shop="default").order
        goods_paid = served.goods - served.discount
        assert order.total_amount == served.paid_amount
        shares = [line.paid_amount for line in order.lines]
        if channel in GIVES_SHARES:
            assert shares == served.line_shares() and sum(s or 0 for s in shares) == goods_paid
        else:
            assert shares == [None] * len(order.lines)
        assert sum(order.line_shares()) == goods_paid and all(s >= 0 for s in order.line_shares())
        assert (order.trade_no is not None) == (channel in GIVES_TRADE_NO), order.trade_no


def test_an_unpaid_taobao_trade_has_no_alipay_no():
    market = Marketplaces(RecordStore(), rate_per_s=100, burst=100, seed=1)
    [served] = market.create_orders("taobao", default_shop("taobao"), 1, ["SKU-1"], paid=False, spread_s=0,
                                    new_id=PLATFORMS["taobao"].new_id)
    payload = PLATFORMS["taobao"].payload(served)
    assert payload["alipay_no"] is None
    market.apply_event(served, "pay")
    again = PLATFORMS["taobao"].payload(served)
    assert again["alipay_no"] and again["alipay_no"] == PLATFORMS["taobao"].payload(served)["alipay_no"]  # stable
