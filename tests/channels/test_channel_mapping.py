"""Golden payloads -> unified orders: every mapped field, money in fen, paid flag, state and times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.channels import (
    ADAPTERS,
    ChannelAdapter,
    ChannelState,
    MappingError,
    adapter_for,
)
from activities.channels.base import ChannelOrder
from channelkit import edited, golden, with_edits
from models.order import CHANNELS


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_registry_covers_every_channel_once():
    assert set(ADAPTERS) == set(CHANNELS)
    for channel, adapter in ADAPTERS.items():
        assert isinstance(adapter, ChannelAdapter)
        assert adapter.channel == channel
        assert adapter_for(channel) is adapter
    with pytest.raises(LookupError, match="no adapter for channel 'ebay'"):
        adapter_for("ebay")


def test_window_limits_and_webhook_flags():
    assert ADAPTERS["taobao"].max_window == timedelta(days=1)
    assert ADAPTERS["pinduoduo"].max_window == timedelta(minutes=30)
    assert ADAPTERS["shopify"].max_window is None
    assert ADAPTERS["own_store"].max_window is None
    assert {c for c, a in ADAPTERS.items() if a.pushes_webhooks} == {"shopify", "own_store"}


def test_an_adapter_for_an_unknown_channel_cannot_be_declared():
    with pytest.raises(TypeError, match="not one of"):
        type("EbayAdapter", (ChannelAdapter,), {"channel": "ebay"})


def test_taobao_golden():
    result = ADAPTERS["taobao"].map_order(golden("taobao"), shop="tb-flagship")
    assert result.state is ChannelState.PAID
    assert result.raw_status == "WAIT_SELLER_SEND_GOODS"
    assert result.modified_at == utc(2024, 5, 1, 12, 16, 41)  # 20:16:41 Beijing time
    assert result.order.model_dump(mode="json") == {
        "presale": None,
        "channel": "taobao", "shop": "tb-flagship", "external_id": "3412567890123456789", "paid": True,
        "trade_no": "2024050122001412345678901234",  # alipay_no
        "buyer": {"name": "张三", "phone": "13800138000", "province": "浙江省", "city": "杭州市",
                  "district": "西湖区", "address": "文三路 90 号 东部软件园 1 号楼", "zip": "310012"},
        "lines": [{"sku": "TEA-GREEN-250", "quantity": 2, "unit_price": 1990, "paid_amount": 3580},
                  {"sku": "CUP-CERAMIC-01", "quantity": 1, "unit_price": 1990, "paid_amount": 1790}],
        "shipping_fee": 800, "discount": 600, "priority_tags": [], "ship_not_before": None,
        "buyer_message": "请周末送货", "placed_at": "2024-05-01T12:15:03Z", "replaces": None, "buyer_id": None, "device_id": None,
    }
    # The mapped money adds up to what the platform says the buyer paid ("payment": "61.70"), and the
    # lines' divide_order_fee to what was paid for the goods: the hub keeps Taobao's own split.
    assert result.order.total_amount == 6170
    assert result.order.line_shares() == [3580, 1790]


def test_taobao_without_divide_order_fee_leaves_the_split_to_the_hub():
    payload = golden("taobao")
    for line in payload["orders"]["order"]:
        del line["divide_order_fee"]
    del payload["alipay_no"]
    order = ADAPTERS["taobao"].map_order(payload, shop="s").order
    assert [line.paid_amount for line in order.lines] == [None, None] and order.trade_no is None
    assert order.line_shares() == [3580, 1790]  # 5370 paid for the goods, split 3980:1990


def test_taobao_shares_that_do_not_add_up_are_kept_but_not_trusted():
    payload = golden("taobao")
    payload["orders"]["order"][0]["divide_order_fee"] = "39.80"  # the line's list total, not its share
    order = ADAPTERS["taobao"].map_order(payload, shop="s").order
    assert [line.paid_amount for line in order.lines] == [3980, 1790]
    assert order.line_shares() == [3580, 1790]  # 5770 != 5370 paid: apportioned instead


def test_taobao_a_bad_divide_order_fee_names_its_field():
    payload = golden("taobao")
    payload["orders"]["order"][1]["divide_order_fee"] = "17.905"
    with pytest.raises(MappingError) as err:
        ADAPTERS["taobao"].map_order(payload, shop="s")
    assert err.value.field == "orders.order[1].divide_order_fee"


def test_a_sku_on_two_lines_adds_their_shares():
    payload = golden("taobao")
    second = payload["orders"]["order"][1]
    second.update(outer_sku_id="TEA-GREEN-250", num=1)
    order = ADAPTERS["taobao"].map_order(payload, shop="s").order
    assert [(line.sku, line.quantity, line.paid_amount) for line in order.lines] == [("TEA-GREEN-250", 3, 5370)]
    del second["divide_order_fee"]  # one part unknown: the whole is unknown
    order = ADAPTERS["taobao"].map_order(payload, shop="s").order
    assert order.lines[0].paid_amount is None


def test_shopify_line_share_without_allocations_is_unknown_and_too_large_is_refused():
    payload = golden("shopify")
    del payload["line_items"][0]["discount_allocations"]
    order = ADAPTERS["shopify"].map_order(payload, shop="s").order
    assert [line.paid_amount for line in order.lines] == [None, 6361]
    assert sum(order.line_shares()) == 19900
    payload = golden("shopify")
    payload["line_items"][1]["discount_allocations"][0]["amount"] = "70.01"
    with pytest.raises(MappingError) as err:
        ADAPTERS["shopify"].map_order(payload, shop="s")
    assert err.value.field == "line_items[1].discount_allocations"


def test_taobao_accepts_a_plain_orders_list_and_falls_back_to_the_landline():
    payload = golden("taobao")
    payload["orders"] = payload["orders"]["order"]
    payload["receiver_mobile"] = ""
    result = ADAPTERS["taobao"].map_order(payload, shop="s")
    assert [line.sku for line in result.order.lines] == ["TEA-GREEN-250", "CUP-CERAMIC-01"]
    assert result.order.buyer.phone == "0571-88886666"


def test_taobao_unpaid_and_closed_orders():
    unpaid = with_edits(golden("taobao"), status="WAIT_BUYER_PAY", pay_time=None)
    result = ADAPTERS["taobao"].map_order(unpaid, shop="s")
    assert (result.state, result.order.paid) == (ChannelState.AWAITING_PAYMENT, False)
    closed_unpaid = with_edits(unpaid, status="TRADE_CLOSED_BY_TAOBAO")
    assert ADAPTERS["taobao"].map_order(closed_unpaid, shop="s").order.paid is False
    closed_after_payment = with_edits(golden("taobao"), status="TRADE_CLOSED")
    result = ADAPTERS["taobao"].map_order(closed_after_payment, shop="s")
    assert (result.state, result.order.paid) == (ChannelState.CANCELLED, True)


def test_taobao_open_refund_on_a_line_shows_in_state_and_raw_status():
    payload = edited(golden("taobao"), "orders.order[1].refund_status", "WAIT_SELLER_AGREE")
    result = ADAPTERS["taobao"].map_order(payload, shop="s")
    assert result.state is ChannelState.REFUNDING
    assert result.raw_status == "WAIT_SELLER_SEND_GOODS refund:WAIT_SELLER_AGREE"
    assert result.order.paid is True


def test_jd_golden():
    result = ADAPTERS["jd"].map_order(golden("jd"), shop="jd-1")
    assert result.state is ChannelState.PAID
    assert result.raw_status == "WAIT_SELLER_STOCK_OUT"
    assert result.modified_at == utc(2024, 5, 2, 1, 30, 15)
    assert result.order.model_dump(mode="json") == {
        "presale": None,
        "channel": "jd", "shop": "jd-1", "external_id": "289765432101", "paid": True, "trade_no": None,
        "buyer": {"name": "李四", "phone": "13912345678", "province": "北京", "city": "北京市",
                  "district": "朝阳区", "address": "北京朝阳区建国路 88 号 SOHO 现代城 A 座 1201", "zip": None},
        "lines": [{"sku": "RICE-5KG", "quantity": 2, "unit_price": 9900, "paid_amount": None},
                  {"sku": "OIL-1L", "quantity": 1, "unit_price": 6000, "paid_amount": None}],
        "shipping_fee": 0, "discount": 1000, "priority_tags": [], "ship_not_before": None,
        "buyer_message": "发票抬头：个人", "placed_at": "2024-05-02T01:29:55Z", "replaces": None, "buyer_id": None, "device_id": None,
    }
    assert result.order.total_amount == 24800  # orderPayment "248.00"
    assert result.order.line_shares() == [19033, 5767]  # no shares from JD: the discount apportioned 19800:6000


def test_jd_cancelled_without_payment_is_not_paid():
    payload = with_edits(golden("jd"), orderState="TRADE_CANCELED", paymentConfirmTime=None)
    result = ADAPTERS["jd"].map_order(payload, shop="s")
    assert (result.state, result.order.paid) == (ChannelState.CANCELLED, False)


def test_pinduoduo_golden_uses_the_masked_receiver_never_the_ciphertext():
    payload = golden("pinduoduo")
    result = ADAPTERS["pinduoduo"].map_order(payload, shop="pdd-1")
    assert result.state is ChannelState.PAID
    assert result.raw_status == "order_status=1 refund_status=1"
    assert result.modified_at == utc(2024, 5, 3, 3, 2, 46)
    assert result.order.model_dump(mode="json") == {
        "presale": None,
        "channel": "pinduoduo", "shop": "pdd-1", "external_id": "240503-123456789012345", "paid": True,
        "trade_no": "XP2405031234567890123456",  # pay_no
        "buyer": {"name": "王*", "phone": "136****5678", "province": "广东省", "city": "深圳市",
                  "district": "南山区", "address": "广东省深圳市南山区科技园南区****", "zip": None},
        "lines": [{"sku": "SOCK-BLK-M", "quantity": 3, "unit_price": 990, "paid_amount": None},
                  {"sku": "SOCK-WHT-M", "quantity": 1, "unit_price": 990, "paid_amount": None}],
        "shipping_fee": 500, "discount": 880, "priority_tags": [], "ship_not_before": None,
        "buyer_message": "不要放快递柜", "placed_at": "2024-05-03T03:02:30Z", "replaces": None, "buyer_id": None, "device_id": None,
    }
    assert result.order.total_amount == 3580  # pay_amount 35.8
    dumped = result.order.model_dump_json()
    assert payload["receiver_phone"] not in dumped and payload["receiver_name"] not in dumped


def test_pinduoduo_refuses_a_payment_above_goods_plus_postage():
    with pytest.raises(MappingError) as err:
        ADAPTERS["pinduoduo"].map_order(with_edits(golden("pinduoduo"), pay_amount=100), shop="s")
    assert err.value.field == "pay_amount"


def test_douyin_golden_fen_amounts_and_object_address_parts():
    result = ADAPTERS["douyin"].map_order(golden("douyin"), shop="dy-1")
    assert result.state is ChannelState.PAID
    assert result.raw_status == "2"
    assert result.modified_at == utc(2024, 5, 4, 5, 21, 15)  # epoch 1714800075
    assert result.order.model_dump(mode="json") == {
        "presale": None,
        "channel": "douyin", "shop": "dy-1", "external_id": "6918349873476743421", "paid": True,
        "trade_no": None,
        "buyer": {"name": "赵**", "phone": "1*********9", "province": "四川省", "city": "成都市",
                  "district": "武侯区", "address": "天府大道北段 1700 号", "zip": None},
        "lines": [{"sku": "HONEY-500G", "quantity": 2, "unit_price": 1990, "paid_amount": 3313},
                  {"sku": "SPOON-WOOD", "quantity": 1, "unit_price": 1990, "paid_amount": 1657}],
        "shipping_fee": 600, "discount": 1000, "priority_tags": [], "ship_not_before": None,
        "buyer_message": "送人的，别放价签", "placed_at": "2024-05-04T05:20:00Z", "replaces": None, "buyer_id": None, "device_id": None,
    }
    assert result.order.total_amount == 5570  # pay_amount, fen


def test_douyin_address_parts_as_plain_strings_and_cleartext_receiver():
    payload = golden("douyin")
    payload["post_addr"] = {"province": "四川省", "city": "成都市", "town": "", "detail": "人民南路 1 号"}
    for key in ("mask_post_receiver", "mask_post_tel"):
        del payload[key]
    payload["post_receiver"], payload["post_tel"] = "赵六", "13600001111"
    buyer = ADAPTERS["douyin"].map_order(payload, shop="s").order.buyer
    assert (buyer.name, buyer.phone, buyer.province, buyer.city, buyer.district, buyer.address) == (
        "赵六", "13600001111", "四川省", "成都市", "", "人民南路 1 号")


def test_douyin_unpaid_order():
    payload = with_edits(golden("douyin"), order_status=1, pay_time=0)
    result = ADAPTERS["douyin"].map_order(payload, shop="s")
    assert (result.state, result.order.paid) == (ChannelState.AWAITING_PAYMENT, False)


def test_shopify_golden_numeric_id_and_decimal_strings():
    result = ADAPTERS["shopify"].map_order(golden("shopify"), shop="intl")
    assert result.state is ChannelState.PAID
    assert result.raw_status == "paid/unfulfilled"
    assert result.modified_at == utc(2024, 5, 4, 2, 25)
    assert result.order.model_dump(mode="json") == {
        "presale": None,
        "channel": "shopify", "shop": "intl", "external_id": "5678901234567", "paid": True, "trade_no": None,
        "buyer": {"name": "Mei Chen", "phone": "+86 137 0000 1111", "province": "Shanghai", "city": "Shanghai",
                  "district": "", "address": "88 Nanjing West Road Apt 1702", "zip": "200041"},
        "lines": [{"sku": "SHIRT-LINEN-M", "quantity": 1, "unit_price": 14900, "paid_amount": 14900 - 1361},
                  {"sku": "TOTE-CANVAS", "quantity": 1, "unit_price": 7000, "paid_amount": 7000 - 639}],
        "shipping_fee": 3000, "discount": 2000, "priority_tags": [], "ship_not_before": None,
        "buyer_message": "Gift wrap please", "placed_at": "2024-05-04T02:20:30Z", "replaces": None, "buyer_id": None, "device_id": None,
    }
    assert result.order.total_amount == 22900  # total_price "229.00"
    assert sum(result.order.line_shares()) == 19900  # discount_allocations add up to total_discounts


def test_shopify_phone_falls_back_to_the_order_phone():
    payload = edited(golden("shopify"), "shipping_address.phone", None)
    payload["phone"] = "+8613900000000"
    assert ADAPTERS["shopify"].map_order(payload, shop="s").order.buyer.phone == "+8613900000000"


def test_shopify_authorized_is_not_paid():
    payload = with_edits(golden("shopify"), financial_status="authorized")
    result = ADAPTERS["shopify"].map_order(payload, shop="s")
    assert (result.state, result.order.paid) == (ChannelState.AWAITING_PAYMENT, False)


def test_own_store_golden_is_the_unified_order():
    payload = golden("own_store")
    result = ADAPTERS["own_store"].map_order(payload, shop="flagship")
    assert result.state is ChannelState.PAID
    assert result.raw_status == "PAID"
    assert result.modified_at == utc(2024, 5, 5, 0, 1, 30)
    assert result.modified_at.tzinfo is UTC
    dumped = result.order.model_dump(mode="json")
    assert dumped["placed_at"] == "2024-05-05T08:00:00+08:00"
    assert {k: v for k, v in dumped.items() if k != "placed_at"} == {
        "channel": "own_store", "shop": "flagship", "external_id": "WS20240505-0007", "paid": True,
        "trade_no": "4200002234202405051234567890",
        "buyer": payload["buyer"], "lines": [{**line, "paid_amount": None} for line in payload["lines"]],
        "shipping_fee": 0, "discount": 500,
        "priority_tags": ["vip"], "ship_not_before": None, "buyer_message": "下午送", "replaces": None, "buyer_id": None, "device_id": None,
        "presale": None,
    }


@pytest.mark.parametrize(("paid", "state"), [(True, ChannelState.PAID), (False, ChannelState.AWAITING_PAYMENT)])
def test_own_store_without_status_follows_paid(paid, state):
    payload = golden("own_store")
    del payload["status"]
    payload["paid"] = paid
    result = ADAPTERS["own_store"].map_order(payload, shop="flagship")
    assert (result.state, result.order.paid, result.raw_status) == (state, paid, f"paid={paid}")


def test_own_store_refuses_a_payload_for_another_shop_or_channel():
    with pytest.raises(MappingError) as err:
        ADAPTERS["own_store"].map_order(golden("own_store"), shop="other")
    assert err.value.field == "shop"
    with pytest.raises(MappingError) as err:
        ADAPTERS["own_store"].map_order(with_edits(golden("own_store"), channel="taobao"), shop="flagship")
    assert err.value.field == "channel"


def test_same_sku_on_two_lines_merges_at_one_price_and_is_refused_at_two():
    payload = edited(golden("taobao"), "orders.order[1].outer_sku_id", "TEA-GREEN-250")
    lines = ADAPTERS["taobao"].map_order(payload, shop="s").order.lines
    assert [(line.sku, line.quantity, line.unit_price) for line in lines] == [("TEA-GREEN-250", 3, 1990)]
    payload = edited(payload, "orders.order[1].price", "17.00")
    with pytest.raises(MappingError) as err:
        ADAPTERS["taobao"].map_order(payload, shop="s")
    assert err.value.field == "orders.order[1].outer_sku_id"
    assert "different unit price" in err.value.reason


def test_channel_order_requires_an_aware_modified_time():
    order = ADAPTERS["jd"].map_order(golden("jd"), shop="s").order
    with pytest.raises(ValueError, match="timezone-aware"):
        ChannelOrder(order=order, state=ChannelState.PAID, modified_at=datetime(2024, 1, 1), raw_status="x")
