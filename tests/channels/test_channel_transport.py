"""ChannelTransport against the sandbox marketplaces over HTTP (the sandbox app over ASGI): pull paging
across windows and pages, signatures, tokens, rate limits, window limits, ship-back and stock push."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.channels import ADAPTERS, ChannelState, adapter_for
from activities.channels.transport import ChannelCallError, ChannelTransport
from activities.channels.windows import sync_windows
from activities.channels.wire import WireResponse
from channelkit import Market, sandbox_market

CHANNELS = sorted(ADAPTERS)
ROUTER = ["douyin", "jd", "pinduoduo", "taobao"]  # signed router calls
WINDOWED = [c for c in CHANNELS if ADAPTERS[c].max_window is not None]
SIGN_ERRORS = {"taobao": "25", "jd": "14", "pinduoduo": "10016", "douyin": "isv.signature-invalid"}
PARAM_ERRORS = {"taobao": "isv.invalid-parameter", "jd": "66", "pinduoduo": "10000", "douyin": "isv.parameter-invalid"}
AUTH_ERRORS = {"taobao": "invalid-sessionkey", "jd": "19", "pinduoduo": "10019", "douyin": "isv.access-token-expired",
               "shopify": "401", "own_store": "UNAUTHORIZED"}
RATE_ERRORS = {"taobao": "accesscontrol.limited-by-app-access-count", "jd": "67", "pinduoduo": "70031",
               "douyin": "isv.flow-limit", "shopify": "429", "own_store": "RATE_LIMITED"}


@pytest.fixture
async def market():
    async with sandbox_market(hub_url="http://127.0.0.1:9") as market:  # nothing listens: webhooks go nowhere
        yield market


def span_for(channel: str) -> timedelta:
    """Long enough for several windows where the platform limits them."""
    window = ADAPTERS[channel].max_window
    return window * 2.5 if window is not None else timedelta(hours=3)


async def pull(market: Market, channel: str, start: datetime, end: datetime, page_size: int) -> list[list[dict]]:
    return [page async for page in market.transport.pull_pages(market.access(channel), start, end,
                                                              page_size=page_size)]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_windows_and_pages_cover_every_order_once(market, channel):
    span = span_for(channel)
    created = await market.create(channel, 23, spread_s=span.total_seconds())
    now = datetime.now(UTC)
    windows = sync_windows(now - span - timedelta(seconds=5), now, max_window=ADAPTERS[channel].max_window,
                           overlap=timedelta(0))
    if channel in WINDOWED:
        assert len(windows) >= 3

    seen: list[str] = []
    for start, end in windows:
        pages = await pull(market, channel, start, end, page_size=4)
        ids = [p for page in pages for p in page]
        mapped = [adapter_for(channel).map_order(payload, shop="default") for payload in ids]
        window_ids = [m.order.external_id for m in mapped]
        assert len(window_ids) == len(set(window_ids)), "an order twice within one window"
        assert all(len(page) <= 4 for page in pages)
        assert all(m.state is ChannelState.PAID and m.order.paid for m in mapped)
        assert all(start - timedelta(seconds=1) <= m.modified_at <= end for m in mapped)
        if len(pages) > 1 and adapter_for(channel).wire.paging == "offset":  # the last page comes first
            first = [adapter_for(channel).map_order(p, shop="default").modified_at for p in pages[0]]
            last = [adapter_for(channel).map_order(p, shop="default").modified_at for p in pages[-1]]
            assert min(first) >= max(last)
        seen += window_ids
    assert sorted(set(seen)) == sorted(created)


@pytest.mark.parametrize("channel", CHANNELS)
async def test_orders_modified_while_paging_are_not_missed(market, channel):
    created = await market.create(channel, 12, spread_s=600)
    end = datetime.now(UTC)
    start = end - timedelta(seconds=700)
    oldest = sorted(created)  # any few orders; which page they are on does not matter to the assertion
    seen: set[str] = set()
    pages = market.transport.pull_pages(market.access(channel), start, end, page_size=3)
    changed = False
    async for page in pages:
        seen |= {adapter_for(channel).map_order(p, shop="default").order.external_id for p in page}
        if not changed:  # mid-paging: orders change on the platform (their modified time moves past `end`)
            for external_id in oldest[:3] + oldest[-1:]:
                await market.event(channel, external_id, "refund")
            changed = True
    # the next window (the next sync) starts where this one ended
    async for page in market.transport.pull_pages(market.access(channel), end, datetime.now(UTC) + timedelta(seconds=1)):
        seen |= {adapter_for(channel).map_order(p, shop="default").order.external_id for p in page}
    assert seen == set(created)


@pytest.mark.parametrize("channel", ROUTER)
async def test_signature_is_checked(market, channel):
    [external_id] = await market.create(channel)
    now = datetime.now(UTC)
    assert await pull(market, channel, now - timedelta(minutes=5), now, 10)  # signed right: accepted

    forged = market.access(channel, app_secret="not-the-secret")
    with pytest.raises(ChannelCallError) as err:
        await market.transport.ship_back(forged, external_id=external_id, waybill_no="SF1", carrier="SF",
                                         is_split=False, request_id="r1")
    assert (err.value.kind, err.value.code) == ("refused", SIGN_ERRORS[channel])
    assert await market.records("shipback") == []

    with pytest.raises(ChannelCallError) as err:
        await market.transport.push_stock(market.access(channel, app_key="nobody"), sku="SKU-1", quantity=1)
    assert err.value.kind == "refused"


@pytest.mark.parametrize("action", ["expire", "revoke"])
@pytest.mark.parametrize("channel", CHANNELS)
async def test_dead_token_is_auth_and_a_new_token_works(market, channel, action):
    await market.control("POST", f"/{channel}/shops/default/token", json={"action": action})
    now = datetime.now(UTC)
    with pytest.raises(ChannelCallError) as err:
        await pull(market, channel, now - timedelta(minutes=5), now, 10)
    assert (err.value.kind, err.value.code) == ("auth", AUTH_ERRORS[channel])
    assert "sandbox-token" not in str(err.value)

    issued = await market.control("POST", f"/{channel}/shops/default/token", json={"action": "issue"})
    await market.transport.push_stock(market.access(channel, access_token=issued["access_token"]), sku="SKU-2",
                                      quantity=3)
    assert await market.control("GET", f"/{channel}/shops/default/stock") == {"SKU-2": 3}


@pytest.mark.parametrize("channel", CHANNELS)
async def test_rate_limit_is_rate_limited(market, channel):
    await market.control("PUT", f"/{channel}/rate_limit", json={"per_s": 0.01, "burst": 2})
    now = datetime.now(UTC)
    for _ in range(2):
        await pull(market, channel, now - timedelta(minutes=5), now, 10)  # an empty window: one call each
    with pytest.raises(ChannelCallError) as err:
        await pull(market, channel, now - timedelta(minutes=5), now, 10)
    assert (err.value.kind, err.value.code) == ("rate_limited", RATE_ERRORS[channel])


@pytest.mark.parametrize("channel", WINDOWED)
async def test_too_long_window_is_refused_by_both_sides(market, channel):
    adapter = adapter_for(channel)
    end = datetime.now(UTC)
    start = end - adapter.max_window - timedelta(seconds=1)
    with pytest.raises(ValueError, match="windows are at most"):
        market.transport.pull_pages(market.access(channel), start, end)
    with pytest.raises(ValueError, match="page_size"):
        market.transport.pull_pages(market.access(channel), end - timedelta(minutes=1), end, page_size=101)

    # the platform itself refuses it with its parameter error
    request = adapter.wire.pull_request(market.access(channel), start, end, page=1, page_size=10)
    response = await market.client.request(request.method, request.path, params=request.params, data=request.form,
                                           content=request.content, headers=dict(request.headers))
    error = adapter.wire.error_of(WireResponse(response.status_code, response.json(), response.headers,
                                               response.links))
    assert error is not None and adapter.wire.error_code(error) == PARAM_ERRORS[channel]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_ship_back_is_recorded_once_and_the_order_ships(market, channel):
    [external_id] = await market.create(channel)
    access = market.access(channel)
    for _ in range(2):  # a retried activity
        await market.transport.ship_back(access, external_id=external_id, waybill_no="SF100200300", carrier="SF",
                                         is_split=False, request_id=f"{channel}-{external_id}-WH-SH")
    [record] = await market.records("shipback", channel=channel)
    assert record["body"]["external_id"] == external_id
    assert record["body"]["waybill_no"] == "SF100200300"
    assert record["body"]["carrier"] == ADAPTERS[channel].carrier_codes["SF"]
    # Shopify: the transport finds its own fulfillment and does not post again; the others dedupe at the platform
    assert record["received"] == (1 if channel == "shopify" else 2)

    order = await market.order(channel, external_id)
    assert order["shipments"] == [{"waybill_no": "SF100200300", "carrier": ADAPTERS[channel].carrier_codes["SF"]}]
    assert adapter_for(channel).map_order(order["payload"], shop="default").state is ChannelState.SHIPPED

    # the second parcel of a split order
    await market.transport.ship_back(access, external_id=external_id, waybill_no="YT555", carrier="YTO",
                                     is_split=True, request_id=f"{channel}-{external_id}-WH-GZ")
    expected = 1 if channel == "shopify" else 2  # Shopify: the first fulfillment took every item
    assert len(await market.records("shipback", channel=channel)) == expected


@pytest.mark.parametrize("channel", CHANNELS)
async def test_ship_back_refusals(market, channel):
    [external_id] = await market.create(channel, paid=False)
    access = market.access(channel)
    await market.event(channel, external_id, "cancel")

    with pytest.raises(ChannelCallError) as err:
        await market.transport.ship_back(access, external_id=external_id, waybill_no="SF1", carrier="SF",
                                         is_split=False, request_id="r1")
    assert err.value.kind == "refused"
    with pytest.raises(ChannelCallError) as err:
        await market.transport.ship_back(access, external_id=external_id, waybill_no="SF1", carrier="DHL",
                                         is_split=False, request_id="r1")
    assert (err.value.kind, err.value.code) == ("refused", "unknown_carrier")
    if channel != "own_store":  # the own store also accepts orders posted to the hub directly
        with pytest.raises(ChannelCallError) as err:
            await market.transport.ship_back(access, external_id="9999999999999", waybill_no="SF1", carrier="SF",
                                             is_split=False, request_id="r2")
        assert err.value.kind == "refused"
    assert await market.records("shipback") == []


@pytest.mark.parametrize("channel", CHANNELS)
async def test_stock_push_sets_the_shown_quantity(market, channel):
    access = market.access(channel)
    for _ in range(2):
        await market.transport.push_stock(access, sku="SKU-1", quantity=7)
    await market.transport.push_stock(access, sku="SKU-3", quantity=0)
    assert await market.control("GET", f"/{channel}/shops/default/stock") == {"SKU-1": 7, "SKU-3": 0}
    records = await market.records("stock", channel=channel)
    assert [r["body"] for r in records] == [{"channel": channel, "shop": "default", "sku": "SKU-1", "quantity": 7}] * 2 \
        + [{"channel": channel, "shop": "default", "sku": "SKU-3", "quantity": 0}]
    assert len({r["key"] for r in records}) == 3

    with pytest.raises(ChannelCallError) as err:
        await market.transport.push_stock(access, sku="NOT-LISTED", quantity=1)
    assert err.value.kind == "refused"
    with pytest.raises(ValueError):
        await market.transport.push_stock(access, sku="SKU-1", quantity=-1)
    assert len(await market.records("stock", channel=channel)) == 3


@pytest.mark.parametrize("channel", CHANNELS)
async def test_outages_are_unavailable(market, channel):
    await market.client.put("/_sandbox/faults", json={"endpoint": f"{channel}.orders", "failure_rate": 1.0})
    now = datetime.now(UTC)
    with pytest.raises(ChannelCallError) as err:
        await pull(market, channel, now - timedelta(minutes=5), now, 10)
    assert (err.value.kind, err.value.code) == ("unavailable", "503")

    nowhere = ChannelTransport("http://127.0.0.1:9", timeout_s=2)
    try:
        with pytest.raises(ChannelCallError) as err:
            await nowhere.push_stock(market.access(channel), sku="SKU-1", quantity=1)
        assert err.value.kind == "unavailable"
    finally:
        await nowhere.aclose()


async def test_pdd_receiver_is_masked_and_douyin_amounts_are_fen(market):
    [pdd] = await market.create("pinduoduo")
    payload = (await market.order("pinduoduo", pdd))["payload"]
    assert payload["receiver_name"].startswith("~") and "*" in payload["receiver_name_mask"]
    assert "****" in payload["receiver_phone_mask"]
    mapped = adapter_for("pinduoduo").map_order(payload, shop="default")
    assert "****" in mapped.order.buyer.phone

    [douyin] = await market.create("douyin")
    payload = (await market.order("douyin", douyin))["payload"]
    mapped = adapter_for("douyin").map_order(payload, shop="default")
    assert isinstance(payload["pay_amount"], int)
    assert payload["pay_amount"] == sum(line.quantity * line.unit_price for line in mapped.order.lines) \
        + mapped.order.shipping_fee - mapped.order.discount


async def test_jd_answers_under_its_own_spelling(market):
    await market.create("jd", 2)
    access = market.access("jd")
    now = datetime.now(UTC)
    request = ADAPTERS["jd"].wire.pull_request(access, now - timedelta(minutes=5), now, page=1, page_size=10)
    body = (await market.client.post(request.path, data=request.form)).json()
    result = body["jingdong_pop_order_search_responce"]["searchorderinfo_result"]
    assert result["orderTotal"] == 2 and len(result["orderInfoList"]) == 2
