"""Malformed payloads: each raises MappingError whose `field` is the platform's own path."""

from __future__ import annotations

import pytest

from activities.channels import ADAPTERS, MappingError
from channelkit import DELETE, edited, golden

# (channel, path to break, new value or DELETE, expected field, expected reason start)
CASES = [
    # missing external id
    ("taobao", "tid", DELETE, "tid", "missing"),
    ("jd", "orderId", "", "orderId", "missing"),
    ("pinduoduo", "order_sn", None, "order_sn", "missing"),
    ("douyin", "order_id", DELETE, "order_id", "missing"),
    ("shopify", "id", DELETE, "id", "missing"),
    ("own_store", "external_id", DELETE, "external_id", "Field required"),
    # an external id outside the safe alphabet
    ("taobao", "tid", "34/12", "tid", "String should match pattern"),
    ("own_store", "external_id", "../x", "external_id", "String should match pattern"),
    # missing sku on the second line
    ("taobao", "orders.order[1].outer_sku_id", DELETE, "orders.order[1].outer_sku_id", "missing"),
    ("jd", "itemInfoList[1].outerSkuId", "", "itemInfoList[1].outerSkuId", "missing"),
    ("pinduoduo", "item_list[1].outer_sku_id", None, "item_list[1].outer_sku_id", "missing"),
    ("douyin", "sku_order_list[1].out_sku_id", DELETE, "sku_order_list[1].out_sku_id", "missing"),
    ("shopify", "line_items[1].sku", None, "line_items[1].sku", "missing"),
    ("own_store", "lines[1].sku", DELETE, "lines[1].sku", "Field required"),
    ("jd", "itemInfoList[0].outerSkuId", "RICE 5KG", "itemInfoList[0].outerSkuId", "String should match pattern"),
    # bad money
    ("taobao", "orders.order[0].price", "19,90", "orders.order[0].price", "not a money amount"),
    ("taobao", "post_fee", "8.001", "post_fee", "fractions of a fen"),
    ("taobao", "discount_fee", "-1.00", "discount_fee", "negative amount"),
    ("jd", "itemInfoList[0].jdPrice", "¥99", "itemInfoList[0].jdPrice", "not a money amount"),
    ("jd", "freightPrice", True, "freightPrice", "not a money amount"),
    ("pinduoduo", "item_list[0].goods_price", "abc", "item_list[0].goods_price", "not a money amount"),
    ("pinduoduo", "pay_amount", "NaN", "pay_amount", "not a money amount"),
    ("douyin", "sku_order_list[0].origin_amount", 39.8, "sku_order_list[0].origin_amount", "not an amount in fen"),
    ("douyin", "sku_order_list[0].origin_amount", 3981, "sku_order_list[0].origin_amount", "3981 fen does not divide"),
    ("douyin", "pay_amount", "55.70", "pay_amount", "not an amount in fen"),
    ("shopify", "line_items[0].price", "14,900.00", "line_items[0].price", "not a money amount"),
    ("shopify", "shipping_lines[0].price", "free", "shipping_lines[0].price", "not a money amount"),
    ("own_store", "lines[0].unit_price", "19.90", "lines[0].unit_price", "Input should be a valid integer"),
    # a discount larger than the order
    ("taobao", "discount_fee", "100.00", "order", "Value error, discount exceeds the order amount"),
    # quantities
    ("taobao", "orders.order[0].num", 0, "orders.order[0].num", "quantity must be positive"),
    ("jd", "itemInfoList[0].itemTotal", "two", "itemInfoList[0].itemTotal", "not a whole quantity"),
    ("shopify", "line_items[0].quantity", 1.5, "line_items[0].quantity", "not a whole quantity"),
    # lines container
    ("taobao", "orders.order", [], "orders.order", "empty"),
    ("taobao", "orders", DELETE, "orders", "missing"),
    ("jd", "itemInfoList", {"skuId": "1"}, "itemInfoList", "expected a list"),
    ("douyin", "sku_order_list[0]", "HONEY-500G", "sku_order_list[0]", "expected an object"),
    # receiver
    ("taobao", "receiver_mobile", DELETE, None, None),  # falls back to receiver_phone: no error
    ("jd", "consigneeInfo", DELETE, "consigneeInfo", "missing"),
    ("jd", "consigneeInfo.fullAddress", "  ", "consigneeInfo.fullAddress", "missing"),
    ("pinduoduo", "receiver_phone_mask", DELETE, "receiver_phone_mask", "missing"),
    ("douyin", "post_addr.city", {"id": "510100"}, "post_addr.city.name", "missing"),
    ("douyin", "post_addr.province", DELETE, "post_addr.province", "missing"),
    ("shopify", "shipping_address", None, "shipping_address", "missing"),
    ("shopify", "shipping_address.phone", DELETE, "shipping_address.phone", "missing (also looked for phone)"),
    ("shopify", "shipping_address.name", "x" * 65, "shipping_address.name", "String should have at most 64"),
    ("own_store", "buyer.phone", "1", "buyer.phone", "String should have at least 5"),
    # times
    ("taobao", "modified", DELETE, "modified", "missing"),
    ("jd", "modified", "yesterday", "modified", "not a time"),
    ("douyin", "update_time", [], "update_time", "not a time"),
    ("shopify", "updated_at", "2024-05-04T10:25:00", "updated_at", "time without a timezone"),
    ("own_store", "updated_at", DELETE, None, None),  # placed_at stands in
]


@pytest.mark.parametrize(("channel", "path", "value", "field", "reason"), CASES,
                         ids=[f"{c[0]}:{c[1]}={c[2] if c[2] is not DELETE else 'DELETE'}"[:60] for c in CASES])
def test_bad_payload_names_the_field(channel, path, value, field, reason):
    payload = edited(golden(channel), path, value)
    if field is None:
        ADAPTERS[channel].map_order(payload, shop="flagship")  # tolerated on purpose
        return
    with pytest.raises(MappingError) as err:
        ADAPTERS[channel].map_order(payload, shop="flagship")
    assert err.value.field == field
    assert err.value.reason.startswith(reason), err.value.reason
    assert str(err.value) == f"{field}: {err.value.reason}"
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("channel", sorted(ADAPTERS))
def test_payload_that_is_not_an_object(channel):
    with pytest.raises(MappingError) as err:
        ADAPTERS[channel].map_order(["not", "an", "order"], shop="flagship")  # type: ignore[arg-type]
    assert err.value.field == "payload"


def test_bad_shop_name_is_refused_as_shop():
    with pytest.raises(MappingError) as err:
        ADAPTERS["jd"].map_order(golden("jd"), shop="no spaces please")
    assert err.value.field == "shop"


def test_own_store_needs_a_modified_time():
    payload = edited(edited(golden("own_store"), "updated_at"), "placed_at")
    with pytest.raises(MappingError, match="^updated_at: missing"):
        ADAPTERS["own_store"].map_order(payload, shop="flagship")


def test_mapping_error_pickles_with_its_field():
    import pickle

    err = pickle.loads(pickle.dumps(MappingError("orders[0].num", "missing")))
    assert (err.field, err.reason, str(err)) == ("orders[0].num", "missing", "orders[0].num: missing")
