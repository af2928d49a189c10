"""Pure models: money conversion, province -> region, and the unified Order's validation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from models.money import fen_to_yuan, yuan_to_fen
from models.order import (
    MAX_FEN,
    MAX_LINES,
    MAX_ORDER_ID,
    MAX_QUANTITY,
    Order,
    OrderId,
    OrderLine,
    PriorityTag,
    external_id_room,
    order_id_for,
    workflow_id_for,
)
from models.regions import REGIONS, region_of

# --- money ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [
        ("19.90", 1990), ("0.1", 10), ("0.01", 1), ("0", 0), ("100", 10000), ("-0.05", -5),
        ("-19.90", -1990), ("1234567.89", 123456789), (" 19.90 ", 1990), ("1E+2", 10000),
        (3, 300), (19.9, 1990), (0.1 + 0.2, 30), (Decimal("7.07"), 707),
    ],
)
def test_yuan_to_fen(yuan, fen):
    assert yuan_to_fen(yuan) == fen
    assert type(yuan_to_fen(yuan)) is int


@pytest.mark.parametrize(("yuan", "fen"), [("0.005", 1), ("0.004", 0), ("1.005", 101), ("-0.005", -1)])
def test_yuan_to_fen_rounds_half_up_to_the_fen(yuan, fen):
    assert yuan_to_fen(yuan) == fen


@pytest.mark.parametrize(
    ("fen", "yuan"),
    [(5, "0.05"), (0, "0.00"), (1990, "19.90"), (100, "1.00"), (-5, "-0.05"), (-1990, "-19.90"),
     (123456789, "1234567.89")],
)
def test_fen_to_yuan(fen, yuan):
    assert fen_to_yuan(fen) == yuan


def test_money_round_trips():
    for fen in [*range(-20_000, 20_001), 10**12 + 7, -(10**12) - 99]:
        yuan = fen_to_yuan(fen)
        assert yuan_to_fen(yuan) == fen, yuan
        assert Decimal(yuan) * 100 == fen  # the string is the exact amount, two decimals
        assert len(yuan.rsplit(".", 1)[1]) == 2


@pytest.mark.parametrize("bad", ["abc", "", " ", "19,90", "¥19.90", "19.90元", "1.2.3", "NaN", "-Infinity", "inf", "sNaN", None])
def test_yuan_to_fen_refuses_what_is_not_an_amount(bad):
    with pytest.raises(ValueError, match="not a money amount"):
        yuan_to_fen(bad)


def test_yuan_to_fen_refuses_absurd_amounts_with_value_error():
    with pytest.raises(ValueError):
        yuan_to_fen("1e30")


# --- regions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("province", "region"),
    [
        ("上海", "east"), ("上海市", "east"), ("浙江省", "east"), ("Shanghai", "east"),
        ("广东", "south"), ("广东省", "south"), ("广西壮族自治区", "south"), ("香港特别行政区", "south"),
        ("Guangdong", "south"), ("guangdong province", "south"),
        ("北京", "north"), ("北京市", "north"), ("Beijing Shi", "north"), ("内蒙古自治区", "north"),
        ("Inner Mongolia", "north"), ("Shanxi", "north"),
        ("Shaanxi", "northwest"), ("新疆维吾尔自治区", "northwest"), ("宁夏回族自治区", "northwest"),
        ("四川", "southwest"), (" 四川省 ", "southwest"), ("西藏自治区", "southwest"),
        ("黑龙江省", "northeast"), ("湖北", "central"),
    ],
)
def test_region_of(province, region):
    assert region_of(province) == region


@pytest.mark.parametrize("province", ["Atlantis", "", "市", "自治区", "上", "广东广西", "California"])
def test_region_of_unknown_is_none(province):
    assert region_of(province) is None


def test_every_region_is_reachable():
    assert set(REGIONS) == {"east", "south", "north", "central", "southwest", "northwest", "northeast"}


# --- Order ----------------------------------------------------------------------------------------

BUYER = {"name": "张三", "phone": "13800138000", "province": "上海", "city": "上海市", "address": "世纪大道 100 号"}


def order(**overrides) -> Order:
    data = {
        "channel": "jd", "external_id": "T1001", "buyer": BUYER,
        "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": 1999}],
        **overrides,
    }
    return Order.model_validate(data)


def errors(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple, str]]:
    return [(e["loc"], e["msg"]) for e in exc.value.errors()]


def test_valid_order_ids_and_amounts():
    o = order(external_id="  T-1001.a_b ", shipping_fee=800, discount=300,
              lines=[{"sku": "SKU-1", "quantity": 2, "unit_price": 1999},
                     {"sku": "SKU-2", "quantity": 1, "unit_price": 4550}])
    assert o.external_id == "T-1001.a_b"  # surrounding whitespace stripped
    assert o.order_id == "jd:default:T-1001.a_b" == order_id_for("jd", "default", "T-1001.a_b")
    assert workflow_id_for(o.order_id) == "order-jd:default:T-1001.a_b"
    assert o.goods_amount == 2 * 1999 + 4550
    assert o.total_amount == 2 * 1999 + 4550 + 800 - 300
    assert o.shop == "default" and o.paid is False


def test_the_order_id_names_the_shop():
    """Two shops of one channel with the same external id are two orders; shops and external ids may
    both hold '-' and '.', never ':', so the id is unambiguous."""
    assert order(shop="a-b", external_id="c").order_id == "jd:a-b:c" != order(shop="a", external_id="b-c").order_id
    assert order(shop="north", external_id="T1").order_id != order(shop="south", external_id="T1").order_id


@pytest.mark.parametrize(("order_id", "valid"), [
    ("jd:default:T-1001.a_b", True), ("own_store:a.b-c:X_1", True),
    ("jd-T-1001", False), ("jd:default:", False), ("jd::T1", False), ("jd:a:b:c", False), ("JD:a:b", False),
    ("jd:default:" + "x" * 90, False),
])
def test_an_order_id_as_a_caller_names_one(order_id, valid):
    from pydantic import TypeAdapter
    adapter = TypeAdapter(OrderId)
    if valid:
        assert adapter.validate_python(order_id) == order_id == order(channel=order_id.split(":")[0],
                                                                      shop=order_id.split(":")[1],
                                                                      external_id=order_id.split(":")[2]).order_id
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(order_id)


def test_an_order_id_longer_than_its_columns_is_rejected_naming_the_external_id():
    shop = "s" * 64
    room = external_id_room("pinduoduo", shop)
    assert room == MAX_ORDER_ID - len("pinduoduo") - 64 - 2
    assert len(order(channel="pinduoduo", shop=shop, external_id="e" * room).order_id) == MAX_ORDER_ID
    with pytest.raises(ValidationError) as exc:
        order(channel="pinduoduo", shop=shop, external_id="e" * (room + 1))
    [(loc, msg)] = errors(exc)
    assert loc == ("external_id",) and f"at most {MAX_ORDER_ID}" in msg


def test_duplicate_sku_lines_are_rejected_naming_the_sku():
    with pytest.raises(ValidationError) as exc:
        order(lines=[{"sku": "SKU-2", "quantity": 1, "unit_price": 100},
                     {"sku": "SKU-1", "quantity": 1, "unit_price": 100},
                     {"sku": "SKU-2", "quantity": 3, "unit_price": 100}])
    [(loc, msg)] = errors(exc)
    assert loc == ("lines",)
    assert "SKU-2" in msg and "SKU-1" not in msg


@pytest.mark.parametrize("external_id", ["A/B", "../etc", "a b", "-lead", "", "x" * 65, "订单1"])
def test_unsafe_external_id_is_rejected(external_id):
    with pytest.raises(ValidationError) as exc:
        order(external_id=external_id)
    assert [loc for loc, _ in errors(exc)] == [("external_id",)]


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1, 2**63])
def test_line_quantity_out_of_range_is_rejected(quantity):
    with pytest.raises(ValidationError) as exc:
        order(lines=[{"sku": "SKU-1", "quantity": quantity, "unit_price": 100}])
    assert [loc for loc, _ in errors(exc)] == [("lines", 0, "quantity")]
    assert order(lines=[{"sku": "SKU-1", "quantity": MAX_QUANTITY, "unit_price": 100}]).goods_amount == 100 * MAX_QUANTITY


@pytest.mark.parametrize(("overrides", "field"), [
    ({"shipping_fee": 2**63}, ("shipping_fee",)),
    ({"shipping_fee": MAX_FEN + 1}, ("shipping_fee",)),
    ({"discount": 2**63}, ("discount",)),
    ({"lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": MAX_FEN + 1}]}, ("lines", 0, "unit_price")),
    ({"lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": -1}]}, ("lines", 0, "unit_price")),
    # each line within bounds, together beyond what an order may come to
    ({"lines": [{"sku": f"SKU-{i}", "quantity": MAX_QUANTITY, "unit_price": MAX_FEN // MAX_QUANTITY}
                for i in range(2)]}, ("lines",)),
    ({"lines": [{"sku": f"SKU-{i}", "quantity": 1, "unit_price": 1} for i in range(MAX_LINES + 1)]}, ("lines",)),
])
def test_money_and_quantities_beyond_their_bounds_are_rejected_naming_the_field(overrides, field):
    """Amounts land in 32-bit integer columns: an order beyond them would fail its first database step
    for ever (a shipping_fee of 2**63 was accepted, 202)."""
    with pytest.raises(ValidationError) as exc:
        order(**overrides)
    assert [loc for loc, _ in errors(exc)] == [field]


def test_an_order_may_come_to_exactly_its_bound():
    line = {"sku": "SKU-1", "quantity": 1, "unit_price": MAX_FEN - 500}
    assert order(lines=[line], shipping_fee=500).total_amount == MAX_FEN < 2**31
    with pytest.raises(ValidationError) as exc:
        order(lines=[line], shipping_fee=501)
    [(loc, msg)] = errors(exc)
    assert loc == ("shipping_fee",) and f"at most {MAX_FEN} fen" in msg


def test_order_needs_a_line():
    with pytest.raises(ValidationError) as exc:
        order(lines=[])
    assert [loc for loc, _ in errors(exc)] == [("lines",)]


def test_discount_above_the_total_is_rejected():
    # Goods 2 x 19.99 = 3998 fen, shipping 500: 4498 is the most the discount may be.
    assert order(shipping_fee=500, discount=4498).total_amount == 0
    with pytest.raises(ValidationError) as exc:
        order(shipping_fee=500, discount=4499)
    [(loc, msg)] = errors(exc)
    assert "discount exceeds the order amount" in msg
    with pytest.raises(ValidationError):
        order(discount=-1)


def test_unknown_channel_and_sku_with_slash_are_rejected():
    with pytest.raises(ValidationError):
        order(channel="amazon")
    with pytest.raises(ValidationError):
        OrderLine(sku="SKU/1", quantity=1, unit_price=1)


@pytest.mark.parametrize(
    ("tags", "priority"),
    [
        ([], "normal"), (["presale"], "presale"), (["vip"], "vip"), (["urgent"], "urgent"),
        (["vip", "urgent"], "urgent"), (["urgent", "vip"], "urgent"), (["presale", "vip"], "vip"),
        (["presale", "urgent", "vip"], "urgent"),
    ],
)
def test_priority_most_urgent_tag_wins(tags, priority):
    o = order(priority_tags=tags, ship_not_before="2026-11-11T00:00:00+08:00" if "presale" in tags else None)
    assert o.priority == priority
    assert all(isinstance(t, PriorityTag) for t in o.priority_tags)


def test_unknown_priority_tag_is_rejected():
    with pytest.raises(ValidationError) as exc:
        order(priority_tags=["gold"])
    assert [loc for loc, _ in errors(exc)] == [("priority_tags", 0)]


def test_a_presale_order_needs_its_date_with_a_zone():
    with pytest.raises(ValidationError) as exc:
        order(priority_tags=["presale"])
    assert "ship_not_before" in errors(exc)[0][1]
    with pytest.raises(ValidationError) as exc:
        order(priority_tags=["presale"], ship_not_before="2026-11-11T00:00:00")
    assert "time zone" in errors(exc)[0][1]
    assert order(priority_tags=["presale"], ship_not_before="2026-11-11T00:00:00+08:00").priority == "presale"
