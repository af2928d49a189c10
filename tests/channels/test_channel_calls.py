"""Outbound call parameters (ship-back, stock) and error recognition (expired token, rate limit)."""

from __future__ import annotations

import pytest

from activities.channels import ADAPTERS


def test_taobao_shipback_uses_top_field_names():
    params = ADAPTERS["taobao"].shipback_params("3412567890123456789", "SF1234567890", "SF", is_split=False)
    assert params == {"method": "taobao.logistics.offline.send", "tid": "3412567890123456789",
                      "out_sid": "SF1234567890", "company_code": "SF", "is_split": "0"}
    split = ADAPTERS["taobao"].shipback_params("3412567890123456789", "SF1", "SF", is_split=True)
    assert split["is_split"] == "1"
    assert all(isinstance(v, str) for v in split.values())  # TOP form values: signable as-is
    ADAPTERS["taobao"].sign(split, "secret")


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("jd", {"method": "jingdong.pop.order.shipment", "orderId": "O1", "logiCoprId": "C", "logiNo": "W1"}),
        ("pinduoduo", {"type": "pdd.logistics.online.send", "order_sn": "O1", "logistics_id": "C",
                       "tracking_number": "W1"}),
        ("douyin", {"method": "order.logisticsAdd", "order_id": "O1", "company_code": "C", "logistics_code": "W1"}),
        ("shopify", {"order_id": "O1", "fulfillment": {"tracking_info": {"number": "W1", "company": "C"},
                                                       "notify_customer": True}}),
        ("own_store", {"order_id": "O1", "waybill_no": "W1", "carrier": "C"}),
    ],
)
def test_shipback_params(channel, expected):
    assert ADAPTERS[channel].shipback_params("O1", "W1", "C", is_split=False) == expected


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("taobao", {"method": "taobao.item.quantity.update", "outer_id": "SKU-1", "quantity": "7", "type": "1"}),
        ("jd", {"method": "jingdong.stock.write.updateSkuStock", "outerId": "SKU-1", "stockNum": 7}),
        ("pinduoduo", {"type": "pdd.goods.sku.stock.update", "outer_id": "SKU-1", "quantity": "7",
                       "update_type": "1"}),
        ("douyin", {"method": "sku.syncStock", "out_sku_id": "SKU-1", "stock_num": 7, "incremental": False}),
        ("shopify", {"sku": "SKU-1", "available": 7}),
        ("own_store", {"sku": "SKU-1", "quantity": 7}),
    ],
)
def test_stock_params(channel, expected):
    assert ADAPTERS[channel].stock_params("SKU-1", 7) == expected


@pytest.mark.parametrize("channel", sorted(ADAPTERS))
@pytest.mark.parametrize("quantity", [-1, 1.5, True, "7"])
def test_stock_quantity_must_be_a_whole_number(channel, quantity):
    with pytest.raises(ValueError, match="stock quantity"):
        ADAPTERS[channel].stock_params("SKU-1", quantity)


def test_zero_stock_is_pushed():
    assert ADAPTERS["douyin"].stock_params("SKU-1", 0)["stock_num"] == 0


# (channel, error payload, is auth error, is rate limited)
ERRORS = [
    ("taobao", {"error_response": {"code": 27, "msg": "Invalid session", "sub_code": "invalid-sessionkey"}}, True, False),
    ("taobao", {"code": "27", "msg": "Invalid session"}, True, False),  # unwrapped, code as text
    ("taobao", {"error_response": {"code": 50, "sub_code": "isv.invalid-sessionkey"}}, True, False),
    ("taobao", {"error_response": {"code": 7, "msg": "App Call Limited",
                                   "sub_code": "accesscontrol.limited-by-app-access-count"}}, False, True),
    ("taobao", {"error_response": {"code": 15, "sub_code": "accesscontrol.limited-by-api-access-count"}}, False, True),
    ("taobao", {"error_response": {"code": 15, "msg": "Remote service error", "sub_code": "isv.trade-not-exist"}},
     False, False),
    ("jd", {"error_response": {"code": "19", "zh_desc": "token已过期或者不存在", "en_desc": "Invalid access_token"}},
     True, False),
    ("jd", {"error_response": {"code": "67", "en_desc": "call limit exceeded"}}, False, True),
    ("jd", {"error_response": {"code": "10100", "en_desc": "order not found"}}, False, False),
    ("pinduoduo", {"error_response": {"error_code": 10019, "error_msg": "access_token已过期"}}, True, False),
    ("pinduoduo", {"error_response": {"error_code": 70031, "error_msg": "调用过于频繁"}}, False, True),
    ("pinduoduo", {"error_response": {"error_code": 10000, "error_msg": "参数错误"}}, False, False),
    ("douyin", {"code": 30001, "msg": "Token相关错误", "sub_code": "isv.access-token-expired"}, True, False),
    ("douyin", {"code": 40004, "sub_code": "isv.access-token-no-existed"}, True, False),
    ("douyin", {"code": 90000, "msg": "流量超限", "sub_code": "isv.flow-limit"}, False, True),
    ("douyin", {"code": 10000, "msg": "success"}, False, False),
    ("shopify", {"status": 401, "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
     True, False),
    ("shopify", {"status": 429, "errors": "Exceeded 2 calls per second for api client. Reduce request rates."},
     False, True),
    ("shopify", {"status": 404, "errors": "Not Found"}, False, False),
    ("own_store", {"status": 401, "error_code": "unauthorized"}, True, False),
    ("own_store", {"status": "429"}, False, True),
    ("own_store", {"status": 422, "error_code": "invalid"}, False, False),
]


@pytest.mark.parametrize(("channel", "error", "auth", "limited"), ERRORS)
def test_error_recognition(channel, error, auth, limited):
    adapter = ADAPTERS[channel]
    assert adapter.is_auth_error(error) is auth
    assert adapter.is_rate_limited(error) is limited


@pytest.mark.parametrize("channel", sorted(ADAPTERS))
@pytest.mark.parametrize("error", [{}, {"error_response": None}, {"code": True, "status": True}])
def test_empty_or_odd_errors_are_neither(channel, error):
    assert ADAPTERS[channel].is_auth_error(error) is False
    assert ADAPTERS[channel].is_rate_limited(error) is False
