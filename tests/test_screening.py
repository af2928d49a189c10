"""The rule engine on the shipped rules: each detector fires when it should and only then."""

from __future__ import annotations

from typing import Any

import pytest

from activities.screening import screen_address, screen_message, screen_order
from models.exceptions import BuyerFacts, ExceptionHit, Severity
from models.order import Buyer, Order
from models.rules import DEFAULT_RULES_FILE, load_rules, parse_rules

RULES = load_rules(DEFAULT_RULES_FILE)
BUYER = {"name": "李四", "phone": "13812345678", "province": "北京", "city": "北京市", "district": "朝阳区",
         "address": "建国路88号"}
RETURNING = BuyerFacts(earlier_orders=5)


def make_order(*, amount: int = 9900, **buyer: Any) -> Order:
    extra = buyer.pop("order", {})
    return Order.model_validate({
        "channel": "own_store", "external_id": "T1", "buyer": {**BUYER, **buyer},
        "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": amount}], "buyer_id": "b1", "device_id": "d1",
        **extra,
    })


def tags(hits: list[ExceptionHit]) -> list[str]:
    return [h.tag for h in hits]


def test_clean_order_has_no_hits():
    assert screen_order(make_order(), RETURNING, RULES) == []


@pytest.mark.parametrize("address, district", [
    ("小区门口菜鸟驿站代收", "朝阳区"), ("幸福里3号楼下", "朝阳区"), ("Nearby the Station", "Chaoyang"),
    ("Pick-Up Point 12", "Chaoyang"), ("建国路88号", "丰巢快递柜"),
])
def test_address_keywords_hit(address, district):
    [hit] = screen_address(Buyer(**{**BUYER, "address": address, "district": district}), RULES)
    assert (hit.tag, hit.severity, hit.team) == ("fuzzy_address", Severity.HOLD, "address_desk")


@pytest.mark.parametrize("address", ["朝阳区建国路88号", "12 Linear Road", "望京SOHO塔3 1201室"])
def test_address_keywords_clean(address):
    assert screen_address(Buyer(**{**BUYER, "address": address}), RULES) == []


def test_address_reason_names_the_keywords_in_configured_order():
    [hit] = screen_address(Buyer(**{**BUYER, "address": "小区门口菜鸟驿站代收"}), RULES)
    assert hit.reason == "address has vague-location words: 门口, 代收, 驿站, 菜鸟驿站"


@pytest.mark.parametrize("phone", ["13812345678", "138 1234 5678", "+8613812345678", "+86 138-1234-5678",
                                   "010-12345678", "0755-1234567", "+14155550123", "+44 20 7946 0958"])
def test_phone_valid(phone):
    assert screen_address(Buyer(**{**BUYER, "phone": phone}), RULES) == []


@pytest.mark.parametrize("phone, reason", [
    ("12345", "matches none"), ("1381234567", "matches none"), ("23812345678", "matches none"),
    ("+8612345", "matches none"), ("abcdefgh", "matches none"),
    ("19999999999", "8 or more of the same digit"), ("13333333333", "8 or more of the same digit"),
])
def test_phone_invalid(phone, reason):
    [hit] = screen_address(Buyer(**{**BUYER, "phone": phone}), RULES)
    assert (hit.tag, hit.severity, hit.team) == ("invalid_phone", Severity.HOLD, "address_desk")
    assert reason in hit.reason


def test_seven_repeated_digits_are_fine():
    assert screen_address(Buyer(**{**BUYER, "phone": "13877777770"}), RULES) == []


def test_blank_district_is_a_required_field_hit():
    [hit] = screen_address(Buyer(**{**BUYER, "district": "  "}), RULES, "jd")
    assert (hit.tag, hit.reason) == ("fuzzy_address", "buyer.district is blank")


@pytest.mark.parametrize("facts, hit", [
    (BuyerFacts(unpaid_by_buyer=3, earlier_orders=5), "buyer has 3 other unpaid orders within 1 h"),
    (BuyerFacts(unpaid_by_device=4, earlier_orders=5), "device has 4 other unpaid orders within 1 h"),
    (BuyerFacts(unpaid_by_buyer=2, unpaid_by_device=2, earlier_orders=5), None),
])
def test_unpaid_burst(facts, hit):
    hits = screen_order(make_order(), facts, RULES)
    if hit is None:
        assert hits == []
    else:
        assert [(h.tag, h.reason) for h in hits] == [("suspected_fraud", hit)]


def test_unpaid_burst_by_buyer_and_device_is_one_hit():
    [hit] = screen_order(make_order(), BuyerFacts(unpaid_by_buyer=3, unpaid_by_device=3, earlier_orders=1), RULES)
    assert hit.tag == "suspected_fraud" and "buyer has 3" in hit.reason and "device has 3" in hit.reason


PICKUP = {"address": "幸福里菜鸟驿站"}


@pytest.mark.parametrize("amount, facts, buyer, fraud", [
    (100_000, BuyerFacts(), PICKUP, True),  # new buyer, exactly the threshold, pick-up point
    (100_000, BuyerFacts(earlier_orders=1), PICKUP, False),  # returning buyer
    (99_999, BuyerFacts(), PICKUP, False),  # below the amount
    (100_000, BuyerFacts(), {}, False),  # a street address
])
def test_new_buyer_pickup(amount, facts, buyer, fraud):
    hits = screen_order(make_order(amount=amount, **buyer), facts, RULES)
    assert ("suspected_fraud" in tags(hits)) is fraud
    if fraud:
        hit = next(h for h in hits if h.tag == "suspected_fraud")
        assert hit.reason == "first order of a new buyer, 1000.00 yuan or more, to a pick-up point"


@pytest.mark.parametrize("message", ["再不发货我就投诉", "这是假货吧，打12315", "This is FAKE", "I will file a Complaint",
                                     "scammers!"])
def test_dispute_words_hit(message):
    [hit] = screen_message(message, RULES)
    assert (hit.tag, hit.severity, hit.team) == ("dispute_words", Severity.FLAG, "customer_care")


@pytest.mark.parametrize("message", [None, "", "请尽快发货，谢谢", "Please leave it at the door", "tel 0212315999"])
def test_dispute_words_clean(message):
    assert screen_message(message, RULES) == []


def test_several_tags_on_one_order_sorted_and_without_personal_data():
    order = make_order(amount=200_000, name="王小明", phone="19999999999", district="",
                       address="幸福小区3号楼下菜鸟驿站", order={"buyer_message": "假货就投诉"})
    hits = screen_order(order, BuyerFacts(unpaid_by_device=3), RULES)
    assert tags(hits) == ["dispute_words", "fuzzy_address", "invalid_phone", "suspected_fraud"]
    fuzzy = hits[1]
    assert "楼下" in fuzzy.reason and "buyer.district is blank" in fuzzy.reason
    for hit in hits:
        for private in ("王小明", "19999999999", "幸福小区", order.buyer.address, "b1", "d1"):
            assert private not in hit.reason
    assert screen_order(order, BuyerFacts(unpaid_by_device=3), RULES) == hits  # deterministic


def test_a_disabled_detector_raises_nothing():
    text = DEFAULT_RULES_FILE.read_text(encoding="utf-8").replace(
        "    tag: dispute_words\n", "    tag: dispute_words\n    enabled: false\n", 1)
    assert screen_message("假货", parse_rules(text)) == []


def test_marketplace_masked_phones_and_shopify_addresses_without_a_district_are_clean():
    rules = load_rules(DEFAULT_RULES_FILE)
    masked = Buyer(**{**_BUYER_FOR_CHANNELS, "phone": "138****1234"})
    assert screen_address(masked, rules, "pinduoduo") == []
    no_district = Buyer(**{**_BUYER_FOR_CHANNELS, "district": ""})
    assert screen_address(no_district, rules, "shopify") == []
    assert [h.tag for h in screen_address(no_district, rules, "taobao")] == ["fuzzy_address"]


_BUYER_FOR_CHANNELS = {"name": "张三", "phone": "13812345678", "province": "上海", "city": "上海市",
                       "district": "浦东新区", "address": "世纪大道 100 号"}
