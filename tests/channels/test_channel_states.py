"""Status tables: every platform value -> ChannelState; unknown values are refused by name."""

from __future__ import annotations

import pytest

from activities.channels import (
    ADAPTERS,
    ChannelState,
    MappingError,
    douyin,
    jd,
    pinduoduo,
    shopify,
    taobao,
)
from channelkit import edited, golden, with_edits

S = ChannelState

TAOBAO = [
    ("WAIT_BUYER_PAY", S.AWAITING_PAYMENT), ("TRADE_NO_CREATE_PAY", S.AWAITING_PAYMENT),
    ("PAY_PENDING", S.AWAITING_PAYMENT), ("WAIT_SELLER_SEND_GOODS", S.PAID),
    ("SELLER_CONSIGNED_PART", S.PARTLY_SHIPPED), ("WAIT_BUYER_CONFIRM_GOODS", S.SHIPPED),
    ("TRADE_BUYER_SIGNED", S.DELIVERED), ("TRADE_FINISHED", S.COMPLETED), ("TRADE_CLOSED", S.CANCELLED),
    ("TRADE_CLOSED_BY_TAOBAO", S.CANCELLED),
]
JD = [
    ("WAIT_SELLER_STOCK_OUT", S.PAID), ("WAIT_SELLER_DELIVERY", S.PAID),
    ("WAIT_GOODS_RECEIVE_CONFIRM", S.SHIPPED), ("FINISHED_L", S.COMPLETED), ("TRADE_CANCELED", S.CANCELLED),
    ("LOCKED", S.REFUNDING), ("PAUSE", S.REFUNDING),
]
PINDUODUO = [  # (order_status, refund_status) -> state
    ((1, 1), S.PAID), ((2, 1), S.SHIPPED), ((3, 1), S.DELIVERED),
    ((1, 2), S.REFUNDING), ((1, 3), S.REFUNDING), ((2, 3), S.REFUNDING), ((3, 2), S.REFUNDING),
    ((1, 4), S.REFUNDED), ((2, 4), S.REFUNDED), ((3, 4), S.REFUNDED),
    (("2", "1"), S.SHIPPED),  # numeric codes sent as strings
]
DOUYIN = [
    (1, S.AWAITING_PAYMENT), (105, S.PAID), (2, S.PAID), (101, S.PARTLY_SHIPPED), (3, S.SHIPPED),
    (4, S.CANCELLED), (5, S.COMPLETED), ("105", S.PAID),
]
SHOPIFY = [  # (financial_status, fulfillment_status, cancelled_at) -> state
    (("pending", None, None), S.AWAITING_PAYMENT),
    (("authorized", None, None), S.AWAITING_PAYMENT),
    (("partially_paid", None, None), S.AWAITING_PAYMENT),
    (("paid", None, None), S.PAID),
    (("paid", "partial", None), S.PARTLY_SHIPPED),
    (("paid", "fulfilled", None), S.SHIPPED),
    (("paid", "restocked", None), S.REFUNDING),
    (("partially_refunded", "fulfilled", None), S.REFUNDING),
    (("refunded", None, None), S.REFUNDED),
    (("voided", None, None), S.CANCELLED),
    (("paid", None, "2024-05-04T12:00:00+08:00"), S.CANCELLED),
    (("refunded", "restocked", "2024-05-04T12:00:00+08:00"), S.CANCELLED),
    (("pending", "fulfilled", None), S.AWAITING_PAYMENT),  # unpaid wins over fulfilment
]
OWN_STORE = [(state.value, state) for state in ChannelState]


def test_the_tables_list_every_published_value():
    assert set(taobao.STATUS) == {value for value, _ in TAOBAO}
    assert set(jd.ORDER_STATE) == {value for value, _ in JD}
    assert set(pinduoduo.ORDER_STATUS) == {1, 2, 3} and set(pinduoduo.REFUND_STATUS) == {1, 2, 3, 4}
    assert set(douyin.ORDER_STATUS) == {1, 105, 2, 101, 3, 4, 5}
    assert set(shopify.FINANCIAL_STATUS) == {"pending", "authorized", "partially_paid", "paid",
                                             "partially_refunded", "refunded", "voided"}
    assert set(shopify.FULFILLMENT_STATUS) == {None, "partial", "fulfilled", "restocked"}


@pytest.mark.parametrize(("value", "state"), TAOBAO)
def test_taobao_status(value, state):
    assert ADAPTERS["taobao"].map_state(with_edits(golden("taobao"), status=value)) is state


TAOBAO_REFUNDS = [  # (trade status, line refund statuses) -> state
    (("WAIT_SELLER_SEND_GOODS", ["WAIT_SELLER_AGREE", "NO_REFUND"]), S.REFUNDING),
    (("WAIT_BUYER_CONFIRM_GOODS", ["WAIT_BUYER_RETURN_GOODS", "NO_REFUND"]), S.REFUNDING),
    (("TRADE_FINISHED", ["WAIT_SELLER_CONFIRM_GOODS", "NO_REFUND"]), S.REFUNDING),
    (("WAIT_SELLER_SEND_GOODS", ["SUCCESS", "NO_REFUND"]), S.REFUNDING),  # partial refund
    (("WAIT_SELLER_SEND_GOODS", ["SUCCESS", "SUCCESS"]), S.REFUNDED),
    (("WAIT_SELLER_SEND_GOODS", ["CLOSED", "NO_REFUND"]), S.PAID),  # buyer withdrew the refund
    (("WAIT_SELLER_SEND_GOODS", ["SELLER_REFUSE_BUYER", "NO_REFUND"]), S.PAID),
    (("TRADE_CLOSED", ["WAIT_SELLER_AGREE", "SUCCESS"]), S.CANCELLED),  # a closed trade stays closed
    (("TRADE_CLOSED", ["SUCCESS", "SUCCESS"]), S.CANCELLED),
]


@pytest.mark.parametrize(("given", "state"), TAOBAO_REFUNDS)
def test_taobao_line_refunds_overlay_the_trade_status(given, state):
    status, refunds = given
    payload = with_edits(golden("taobao"), status=status)
    for i, refund in enumerate(refunds):
        payload = edited(payload, f"orders.order[{i}].refund_status", refund)
    assert ADAPTERS["taobao"].map_state(payload) is state


@pytest.mark.parametrize(("value", "state"), JD)
def test_jd_order_state(value, state):
    assert ADAPTERS["jd"].map_state(with_edits(golden("jd"), orderState=value)) is state


@pytest.mark.parametrize(("value", "state"), PINDUODUO)
def test_pinduoduo_order_and_refund_status(value, state):
    order_status, refund_status = value
    payload = with_edits(golden("pinduoduo"), order_status=order_status, refund_status=refund_status)
    assert ADAPTERS["pinduoduo"].map_state(payload) is state


@pytest.mark.parametrize(("value", "state"), DOUYIN)
def test_douyin_order_status(value, state):
    assert ADAPTERS["douyin"].map_state(with_edits(golden("douyin"), order_status=value)) is state


@pytest.mark.parametrize(
    ("refunds", "state"),
    [([1, 0], S.REFUNDING), ([2, 0], S.REFUNDING), ([3, 0], S.REFUNDING), ([3, 3], S.REFUNDED), ([4, 0], S.PAID)],
)
def test_douyin_after_sale_refunds_overlay_the_order_status(refunds, state):
    payload = golden("douyin")
    for i, refund in enumerate(refunds):
        payload = edited(payload, f"sku_order_list[{i}].after_sale_info.refund_status", refund)
    assert ADAPTERS["douyin"].map_state(payload) is state
    assert ADAPTERS["douyin"].map_state(with_edits(payload, order_status=4)) is S.CANCELLED


@pytest.mark.parametrize(("value", "state"), SHOPIFY)
def test_shopify_financial_fulfillment_and_cancel(value, state):
    financial, fulfillment, cancelled_at = value
    payload = with_edits(golden("shopify"), financial_status=financial, fulfillment_status=fulfillment,
                         cancelled_at=cancelled_at)
    assert ADAPTERS["shopify"].map_state(payload) is state


@pytest.mark.parametrize(("value", "state"), OWN_STORE)
def test_own_store_status(value, state):
    payload = with_edits(golden("own_store"), status=value)
    del payload["paid"]
    assert ADAPTERS["own_store"].map_state(payload) is state


@pytest.mark.parametrize(("status", "paid"), [("PAID", False), ("SHIPPED", False), ("AWAITING_PAYMENT", True)])
def test_own_store_refuses_paid_contradicting_status(status, paid):
    with pytest.raises(MappingError) as err:
        ADAPTERS["own_store"].map_state(with_edits(golden("own_store"), status=status, paid=paid))
    assert err.value.field == "paid"


UNKNOWN = [
    ("taobao", {"status": "TRADE_LOST"}, "status", "TRADE_LOST"),
    ("jd", {"orderState": "WAIT_SOMETHING"}, "orderState", "WAIT_SOMETHING"),
    ("pinduoduo", {"order_status": 9}, "order_status", "9"),
    ("pinduoduo", {"refund_status": 0}, "refund_status", "0"),
    ("douyin", {"order_status": 42}, "order_status", "42"),
    ("douyin", {"order_status": True}, "order_status", "True"),
    ("shopify", {"financial_status": "expired"}, "financial_status", "expired"),
    ("shopify", {"fulfillment_status": "shipped"}, "fulfillment_status", "shipped"),
    ("own_store", {"status": "LOST"}, "status", "LOST"),
]


@pytest.mark.parametrize(("channel", "edits", "field", "value"), UNKNOWN)
def test_unknown_status_values_raise_mapping_error(channel, edits, field, value):
    payload = with_edits(golden(channel), **edits)
    with pytest.raises(MappingError) as err:
        ADAPTERS[channel].map_state(payload)
    assert err.value.field == field
    assert str(err.value) == f"{field}: unknown value {value}"
    with pytest.raises(MappingError):  # and the whole mapping refuses it too
        ADAPTERS[channel].map_order(payload, shop="s")


def test_unknown_line_refund_status_names_the_line():
    payload = edited(golden("taobao"), "orders.order[1].refund_status", "REFUND_MAYBE")
    with pytest.raises(MappingError) as err:
        ADAPTERS["taobao"].map_state(payload)
    assert err.value.field == "orders.order[1].refund_status"
    payload = edited(golden("douyin"), "sku_order_list[0].after_sale_info.refund_status", 99)
    with pytest.raises(MappingError) as err:
        ADAPTERS["douyin"].map_state(payload)
    assert err.value.field == "sku_order_list[0].after_sale_info.refund_status"


@pytest.mark.parametrize(
    ("channel", "key"),
    [("taobao", "status"), ("jd", "orderState"), ("pinduoduo", "order_status"), ("douyin", "order_status"),
     ("shopify", "financial_status")],
)
def test_missing_status_raises_missing(channel, key):
    payload = golden(channel)
    del payload[key]
    with pytest.raises(MappingError, match=f"^{key}: missing$"):
        ADAPTERS[channel].map_state(payload)
