"""The buyers' after-sales requests at each marketplace: mapped from golden payloads (the platform's list item)
through each platform's type, status and reason tables; pulled from the sandbox marketplaces over HTTP in a
window like orders; and answered there by the platform's own request id, once however often repeated."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from activities.channels import ADAPTERS
from activities.channels.base import MappingError
from channelkit import GOLDEN_DIR, edited, sandbox_market
from models.channel import PlatformAfterSale, PlatformAfterSaleLine, PlatformRequestStatus

MARKETPLACES = ["taobao", "jd", "pinduoduo", "douyin", "shopify"]
S = PlatformRequestStatus


def golden(channel: str) -> dict:
    return json.loads((GOLDEN_DIR / f"{channel}_after_sale.json").read_text(encoding="utf-8"))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


EXPECTED = {
    "taobao": PlatformAfterSale(
        request_id="86736202934591234", channel="taobao", shop="s1", external_id="3567102938475610023",
        type="return_and_refund", reason="no_reason", amount=7900,
        lines=[PlatformAfterSaleLine(sku="SKU-TSHIRT-M", quantity=1)], status=S.PENDING,
        raw_status="WAIT_SELLER_AGREE", modified_at=at("2026-11-20T10:15:02+08:00")),
    "jd": PlatformAfterSale(
        request_id="1928374650", channel="jd", shop="s1", external_id="301245678912", type="refund_only",
        reason="quality", amount=25900, lines=None, status=S.PENDING, raw_status="0",
        modified_at=at("2026-11-20T09:30:00+08:00")),
    "pinduoduo": PlatformAfterSale(
        request_id="4419283746", channel="pinduoduo", shop="s1", external_id="261120-089123456789012",
        type="return_and_refund", reason="damaged", amount=3990,
        lines=[PlatformAfterSaleLine(sku="SKU-MUG-BLUE", quantity=1)], status=S.PENDING, raw_status="3",
        modified_at=at("2026-11-20T20:01:45+08:00")),
    "douyin": PlatformAfterSale(
        request_id="7301234567890123456", channel="douyin", shop="s1", external_id="6920123456789012345",
        type="refund_only", reason="not_received", amount=12900,
        lines=[PlatformAfterSaleLine(sku="SKU-CASE-11", quantity=1)], status=S.PENDING, raw_status="6",
        modified_at=datetime.fromtimestamp(1795651260, UTC)),
    "shopify": PlatformAfterSale(
        request_id="94512345678", channel="shopify", shop="s1", external_id="5512345678901",
        type="return_and_refund", reason="no_reason", amount=None,
        lines=[PlatformAfterSaleLine(sku="SKU-SHOE-42", quantity=2)], status=S.PENDING, raw_status="REQUESTED",
        modified_at=at("2026-11-20T11:05:30+08:00")),
}


@pytest.mark.parametrize("channel", MARKETPLACES)
def test_golden_after_sale_maps_to_the_unified_request(channel):
    assert ADAPTERS[channel].map_after_sale(golden(channel), shop="s1") == EXPECTED[channel]


# (field, platform value, expected status) per platform: the status tables, each row checked.
STATUS_ROWS = {
    "taobao": ("status", [("WAIT_SELLER_AGREE", S.PENDING), ("WAIT_BUYER_RETURN_GOODS", S.AGREED),
                          ("WAIT_SELLER_CONFIRM_GOODS", S.AGREED), ("SELLER_REFUSE_BUYER", S.REFUSED),
                          ("CLOSED", S.CLOSED), ("SUCCESS", S.REFUNDED)]),
    "jd": ("status", [(0, S.PENDING), (1, S.AGREED), (2, S.REFUSED), (3, S.REFUNDED), (10, S.CLOSED)]),
    "pinduoduo": ("after_sales_status", [(2, S.PENDING), (3, S.PENDING), (4, S.AGREED), (6, S.REFUSED),
                                         (7, S.AGREED), (10, S.REFUNDED), (11, S.CLOSED), ("10", S.REFUNDED)]),
    "douyin": ("aftersale_status", [(6, S.PENDING), (7, S.AGREED), (12, S.REFUNDED), (27, S.REFUSED),
                                    (28, S.CLOSED)]),
    "shopify": ("status", [("REQUESTED", S.PENDING), ("OPEN", S.AGREED), ("CLOSED", S.REFUNDED),
                           ("DECLINED", S.REFUSED), ("CANCELED", S.CLOSED)]),
}


@pytest.mark.parametrize("channel", MARKETPLACES)
def test_status_table_and_unknown_status_names_the_field(channel):
    field, rows = STATUS_ROWS[channel]
    for value, expected in rows:
        mapped = ADAPTERS[channel].map_after_sale(edited(golden(channel), field, value), shop="s1")
        assert (mapped.status, mapped.raw_status) == (expected, str(value))
    with pytest.raises(MappingError) as err:
        ADAPTERS[channel].map_after_sale(edited(golden(channel), field, "NO_SUCH_STATUS"), shop="s1")
    assert err.value.field == field


@pytest.mark.parametrize(("channel", "field", "value", "expected"), [
    ("taobao", "has_good_return", False, "refund_only"),
    ("jd", "refundType", 2, "return_and_refund"),
    ("pinduoduo", "after_sales_type", 2, "refund_only"),
    ("douyin", "aftersale_type", 0, "return_and_refund"),
    ("douyin", "aftersale_type", 2, "refund_only"),
    ("shopify", "refund_only", True, "refund_only"),
])
def test_type_codes(channel, field, value, expected):
    assert ADAPTERS[channel].map_after_sale(edited(golden(channel), field, value), shop="s1").type == expected


@pytest.mark.parametrize(("channel", "field", "value"), [
    ("pinduoduo", "after_sales_type", 4),  # an exchange is not a refund
    ("douyin", "aftersale_type", 3),
    ("jd", "refundType", 9),
])
def test_after_sales_that_are_not_refunds_are_refused_naming_the_field(channel, field, value):
    with pytest.raises(MappingError) as err:
        ADAPTERS[channel].map_after_sale(edited(golden(channel), field, value), shop="s1")
    assert err.value.field == field


@pytest.mark.parametrize(("channel", "path"), [
    ("taobao", "refund_id"), ("taobao", "refund_fee"), ("jd", "orderId"), ("pinduoduo", "refund_amount"),
    ("douyin", "aftersale_id"), ("douyin", "sku_list[0].out_sku_id"), ("shopify", "return_line_items[0].quantity"),
])
def test_missing_required_field_is_named_by_its_platform_path(channel, path):
    with pytest.raises(MappingError) as err:
        ADAPTERS[channel].map_after_sale(edited(golden(channel), path), shop="s1")
    assert err.value.field == path


def test_whole_order_requests_and_unknown_reasons():
    taobao = edited(edited(golden("taobao"), "oid", "3567102938475610023"), "reason", "买家说不清")
    mapped = ADAPTERS["taobao"].map_after_sale(taobao, shop="s1")
    assert (mapped.lines, mapped.reason) == (None, "other"), "oid = tid: the whole trade; an unknown reason"
    pdd = ADAPTERS["pinduoduo"].map_after_sale(edited(golden("pinduoduo"), "outer_id", None), shop="s1")
    assert pdd.lines is None
    with pytest.raises(MappingError):
        ADAPTERS["own_store"].map_after_sale({}, shop="s1")


# --- against the sandbox marketplaces over HTTP -------------------------------------------------------

@pytest.fixture
async def market():
    async with sandbox_market(hub_url="http://127.0.0.1:9") as market:
        yield market


async def pulled(market, channel: str) -> list[PlatformAfterSale]:
    now = datetime.now(UTC)
    window = ADAPTERS[channel].max_window or timedelta(hours=1)
    pages = market.transport.pull_after_sales_pages(market.access(channel), now - window + timedelta(seconds=5),
                                                    now + timedelta(seconds=2), page_size=2)
    return [ADAPTERS[channel].map_after_sale(item, shop="default") async for page in pages for item in page]


@pytest.mark.parametrize("channel", MARKETPLACES)
async def test_buyer_requests_are_listed_paged_and_answered_by_their_own_id(market, channel):
    orders = await market.create(channel, count=3, skus=["SKU-1", "SKU-2"])
    opened = {}
    for external_id in orders:  # three requests: more than one page of two
        view = await market.control("POST", f"/{channel}/shops/default/orders/{external_id}/after-sales",
                                    json={"type": "refund_only", "reason": "quality", "amount": 300})
        opened[view["request_id"]] = external_id
    requests = await pulled(market, channel)
    assert sorted(r.request_id for r in requests) == sorted(opened)
    for request in requests:
        assert (request.external_id, request.type, request.reason, request.status) == (
            opened[request.request_id], "refund_only", "quality", S.PENDING)
        assert request.amount == (None if channel == "shopify" else 300)

    agreed, refused = sorted(opened)[:2]
    for _ in range(2):  # a retried activity: one answer each at the platform
        await market.transport.push_refund(market.access(channel), external_id=opened[agreed], refund_id=agreed,
                                           amount=300, status="REFUNDED", reason="agreed", platform_request=True)
        await market.transport.push_refund(market.access(channel), external_id=opened[refused], refund_id=refused,
                                           amount=300, status="REJECTED", reason="no defect", platform_request=True)
    records = {r["body"]["refund_id"]: r for r in await market.records("channel_refund", channel=channel)}
    assert set(records) == {agreed, refused}
    assert records[agreed]["body"]["status"] == "REFUNDED" and records[refused]["body"]["status"] == "REJECTED"
    assert records[agreed]["key"] == f"{channel}/default/{opened[agreed]}/{agreed}"
    shown = {r["request_id"]: r["status"] for o in orders for r in (await market.order(channel, o))["after_sales"]}
    assert shown[agreed] == "agreed" and shown[refused] == "refused"
    after = {r.request_id: r.status for r in await pulled(market, channel)}
    assert after[agreed] in (S.AGREED, S.REFUNDED) and after[refused] == S.REFUSED
    assert sum(1 for s in after.values() if s == S.PENDING) == 1


@pytest.mark.parametrize("channel", MARKETPLACES)
async def test_a_return_names_its_line_and_the_platform_refuses_what_the_order_does_not_have(market, channel):
    [external_id] = await market.create(channel, skus=["SKU-3"])
    base = f"/{channel}/shops/default/orders/{external_id}/after-sales"
    response = await market.client.post(f"/_sandbox/platforms{base}", json={"type": "return_and_refund",
                                                                           "reason": "no_reason"})
    assert response.status_code == 409, "nothing shipped: nothing to return"
    response = await market.client.post(f"/_sandbox/platforms{base}", json={
        "type": "refund_only", "reason": "quality", "lines": [{"sku": "SKU-9", "quantity": 1}]})
    assert response.status_code == 422
    response = await market.client.post(f"/_sandbox/platforms{base}", json={
        "type": "refund_only", "reason": "quality", "amount": 10 ** 9})
    assert response.status_code == 422, "more than was paid"
    view = await market.control("POST", base, json={"type": "refund_only", "reason": "wrong_item",
                                                    "lines": [{"sku": "SKU-3", "quantity": 1}]})
    [request] = await pulled(market, channel)
    assert request.request_id == view["request_id"]
    assert request.lines == [PlatformAfterSaleLine(sku="SKU-3", quantity=1)]
    assert request.reason == "wrong_item"
    assert request.amount == (None if channel == "shopify" else view["amount"])


async def test_own_store_has_no_platform_requests(market):
    [external_id] = await market.create("own_store")
    response = await market.client.post(f"/_sandbox/platforms/own_store/shops/default/orders/{external_id}/after-sales",
                                        json={"type": "refund_only", "reason": "quality"})
    assert response.status_code == 409
    with pytest.raises(ValueError):
        market.transport.pull_after_sales_pages(market.access("own_store"), datetime.now(UTC) - timedelta(minutes=1),
                                                datetime.now(UTC))
