"""The sandbox marketplaces against the platform reference (`../shared/reference/platform-apis.md`): field
names, money formats, status values, paging and parameter checks, read off hand-signed calls (handsigned.py).
The reference's lists are copied here as written there, so the sandbox cannot drift from them unnoticed."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import handsigned
import pytest

# --- the reference, as written ------------------------------------------------------------------------------

TAOBAO_TRADE = ("tid, status, created, modified, pay_time, consign_time, payment, total_fee, post_fee, discount_fee, "
                "buyer_nick, buyer_message, seller_flag, receiver_name, receiver_state, receiver_city, "
                "receiver_district, receiver_address, receiver_zip, receiver_mobile, receiver_phone")
TAOBAO_LINE = "oid, status, refund_status, num_iid, outer_sku_id, num, price, invoice_no"
TAOBAO_STATUS = ("WAIT_BUYER_PAY, WAIT_SELLER_SEND_GOODS, SELLER_CONSIGNED_PART, WAIT_BUYER_CONFIRM_GOODS, "
                 "TRADE_BUYER_SIGNED, TRADE_FINISHED, TRADE_CLOSED, TRADE_CLOSED_BY_TAOBAO, TRADE_NO_CREATE_PAY, "
                 "PAY_PENDING")
JD_ORDER = ("orderId, venderId, orderState, orderTotalPrice, orderPayment, freightPrice, sellerDiscount, "
            "paymentConfirmTime, orderStartTime, modified, waybill, logisticsId, orderRemark, venderRemark")
JD_CONSIGNEE = "fullname, mobile, province, city, county, fullAddress"
JD_ITEM = "skuId, outerSkuId, itemTotal, jdPrice"
JD_STATE = "WAIT_SELLER_STOCK_OUT, WAIT_SELLER_DELIVERY, WAIT_GOODS_RECEIVE_CONFIRM, FINISHED_L, TRADE_CANCELED, LOCKED, PAUSE"
PDD_ORDER = ("order_sn, order_status, refund_status, confirm_time, created_time, updated_at, buyer_memo, remark, "
             "tracking_number, risk_control_status, stock_out_handle_status, pre_sale_time, pay_amount")
PDD_ITEM = "goods_id, sku_id, outer_sku_id, goods_count, goods_price"
PDD_RECEIVER = "receiver_name, receiver_phone, receiver_address"
DOUYIN_ORDER = ("order_id, order_status, pay_amount, create_time, update_time, buyer_words, post_receiver, post_tel, "
                "post_addr, sku_order_list")
DOUYIN_ADDR = "province, city, town, detail"
DOUYIN_SKU = "order_id, product_id, out_sku_id, item_num, origin_amount, after_sale_info"
DOUYIN_STATUS = {1, 105, 2, 101, 3, 4, 5}
SHOPIFY_ORDER = ("id, name, created_at, updated_at, cancelled_at, financial_status, fulfillment_status, line_items, "
                 "shipping_address, note")
SHOPIFY_LINE = "sku, quantity, price, fulfillable_quantity"
SHOPIFY_ADDRESS = "name, phone, address1, city, province, country, zip"
SHOPIFY_FINANCIAL = "pending, authorized, partially_paid, paid, partially_refunded, refunded, voided"
SHOPIFY_FULFILLMENT = {None, "partial", "fulfilled", "restocked"}


def names(listed: str) -> set[str]:
    return {name.strip() for name in listed.split(",")}


YUAN_TEXT = re.compile(r"\d+\.\d{2}")
ROUTERS = ["taobao", "jd", "pinduoduo", "douyin"]
CARRIER = {"taobao": "SF", "jd": "467", "pinduoduo": "44", "douyin": "shunfeng"}  # the sandbox's SF codes


# --- helpers ------------------------------------------------------------------------------------------------

async def create(sandbox, channel: str, count: int = 1, **body: Any) -> list[str]:
    response = await sandbox.client.post(f"/_sandbox/platforms/{channel}/shops/default/orders",
                                         json={"count": count, **body})
    assert response.status_code == 200, response.text
    return response.json()["created"]


async def event(sandbox, channel: str, external_id: str, name: str) -> None:
    response = await sandbox.client.post(f"/_sandbox/platforms/{channel}/shops/default/orders/{external_id}/events",
                                         json={"event": name})
    assert response.status_code == 200, response.text


async def ship(sandbox, channel: str, external_id: str, waybill: str = "SF100200300") -> dict[str, Any]:
    call = {
        "taobao": lambda: handsigned.taobao("taobao.logistics.offline.send", {
            "tid": external_id, "out_sid": waybill, "company_code": CARRIER["taobao"]}),
        "jd": lambda: handsigned.jd("jingdong.pop.order.shipment", {
            "orderId": external_id, "logiCoprId": CARRIER["jd"], "logiNo": waybill}),
        "pinduoduo": lambda: handsigned.pinduoduo("pdd.logistics.online.send", {
            "order_sn": external_id, "logistics_id": CARRIER["pinduoduo"], "tracking_number": waybill}),
        "douyin": lambda: handsigned.douyin("order.logisticsAdd", {
            "order_id": external_id, "company_code": CARRIER["douyin"], "logistics_code": waybill}),
    }[channel]()
    return await call.send(sandbox.client)


def window(minutes: int = 10) -> tuple[datetime, datetime]:
    end = datetime.now(UTC) + timedelta(seconds=1)
    return end - timedelta(minutes=minutes), end


def items(channel: str, answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The orders of a pull answer, below each platform's response root (reference)."""
    if channel == "taobao":
        body = answer["trades_sold_increment_get_response"]
        return body.get("trades", {}).get("trade", [])
    if channel == "jd":
        return answer["jingdong_pop_order_search_responce"]["searchorderinfo_result"]["orderInfoList"]
    if channel == "pinduoduo":
        return answer["order_sn_increment_get_response"]["order_sn_list"]
    assert answer["code"] == 10000, answer
    return answer["data"]["shop_order_list"]


async def pulled(sandbox, channel: str, **business: Any) -> list[dict[str, Any]]:
    return items(channel, await handsigned.pull(channel, *window(), **business).send(sandbox.client))


def id_of(channel: str, order: dict[str, Any]) -> str:
    return str(order[{"taobao": "tid", "jd": "orderId", "pinduoduo": "order_sn", "douyin": "order_id"}[channel]])


def error_of(channel: str, answer: dict[str, Any]) -> Any:
    """The code a refusal names: TOP/JD `code`, Pinduoduo `error_code`, Douyin `sub_code`."""
    if channel == "douyin":
        return answer.get("sub_code")
    body = answer.get("error_response")
    assert isinstance(body, dict), answer
    return body.get("error_code" if channel == "pinduoduo" else "code")


PARAM_ERROR = {"taobao": 41, "jd": "66", "pinduoduo": 10000, "douyin": "isv.parameter-invalid"}


# --- field names and money ------------------------------------------------------------------------------------

async def test_taobao_trades_carry_the_reference_fields(sandbox):
    [tid] = await create(sandbox, "taobao")
    [trade] = await pulled(sandbox, "taobao")
    assert trade["tid"] == tid
    assert names(TAOBAO_TRADE) <= set(trade)
    lines = trade["orders"]["order"]
    assert lines and all(names(TAOBAO_LINE) <= set(line) for line in lines)
    money = [trade[k] for k in ("payment", "total_fee", "post_fee", "discount_fee")] + [li["price"] for li in lines]
    assert all(isinstance(m, str) and YUAN_TEXT.fullmatch(m) for m in money), money


async def test_jd_orders_carry_the_reference_fields(sandbox):
    [order_id] = await create(sandbox, "jd")
    [order] = await pulled(sandbox, "jd")
    assert order["orderId"] == order_id
    assert names(JD_ORDER) <= set(order)
    assert names(JD_CONSIGNEE) <= set(order["consigneeInfo"])
    assert order["itemInfoList"] and all(names(JD_ITEM) <= set(item) for item in order["itemInfoList"])
    money = [order[k] for k in ("orderTotalPrice", "orderPayment", "freightPrice", "sellerDiscount")]
    money += [item["jdPrice"] for item in order["itemInfoList"]]
    assert all(isinstance(m, str) and YUAN_TEXT.fullmatch(m) for m in money), money


async def test_pinduoduo_orders_carry_the_reference_fields_and_an_encrypted_receiver(sandbox):
    [order_sn] = await create(sandbox, "pinduoduo")
    [order] = await pulled(sandbox, "pinduoduo")
    assert order["order_sn"] == order_sn
    assert names(PDD_ORDER) <= set(order)
    assert order["item_list"] and all(names(PDD_ITEM) <= set(item) for item in order["item_list"])
    for name in names(PDD_RECEIVER):  # encrypted, with a masked copy
        assert order[name] and order[f"{name}_mask"] and order[name] != order[f"{name}_mask"]
    assert re.fullmatch(r"\d{3}\*{4}\d{4}", order["receiver_phone_mask"])
    assert not re.search(r"1\d{10}", order["receiver_phone"])
    money = [order["pay_amount"]] + [item["goods_price"] for item in order["item_list"]]
    assert all(isinstance(m, (int, float)) and not isinstance(m, bool) for m in money), money  # yuan numbers


async def test_douyin_orders_carry_the_reference_fields_in_fen(sandbox):
    [order_id] = await create(sandbox, "douyin")
    [order] = await pulled(sandbox, "douyin", order_by="update_time")
    assert order["order_id"] == order_id
    assert names(DOUYIN_ORDER) <= set(order)
    assert names(DOUYIN_ADDR) <= set(order["post_addr"])
    assert order["sku_order_list"] and all(names(DOUYIN_SKU) <= set(s) for s in order["sku_order_list"])
    money = [order["pay_amount"]] + [s["origin_amount"] for s in order["sku_order_list"]]
    assert all(type(m) is int for m in money), money  # integer fen
    assert not re.search(r"1\d{10}", order["post_tel"])  # encrypted


async def test_shopify_orders_carry_the_reference_fields(sandbox):
    await create(sandbox, "shopify")
    response = await sandbox.client.get("/shopify/default/admin/api/2024-10/orders.json", params={"status": "any"},
                                        headers={"X-Shopify-Access-Token": handsigned.token("shopify")})
    assert response.status_code == 200, response.text
    [order] = response.json()["orders"]
    assert names(SHOPIFY_ORDER) <= set(order)
    assert order["line_items"] and all(names(SHOPIFY_LINE) <= set(line) for line in order["line_items"])
    assert names(SHOPIFY_ADDRESS) <= set(order["shipping_address"])
    assert order["financial_status"] in names(SHOPIFY_FINANCIAL)
    assert order["fulfillment_status"] in SHOPIFY_FULFILLMENT
    assert all(isinstance(line["price"], str) and YUAN_TEXT.fullmatch(line["price"]) for line in order["line_items"])


# --- status values ---------------------------------------------------------------------------------------------

async def lifecycle(sandbox, channel: str) -> dict[str, str]:
    """One order in each phase the sandbox plays: paid, shipped, cancelled, refunded (and unpaid)."""
    paid, shipped, cancelled, refunded = await create(sandbox, channel, 4)
    [unpaid] = await create(sandbox, channel, paid=False)
    answer = await ship(sandbox, channel, shipped)
    assert "error_response" not in answer and answer.get("code", 10000) == 10000, answer
    await event(sandbox, channel, cancelled, "cancel")
    await event(sandbox, channel, refunded, "refund")
    return {"paid": paid, "shipped": shipped, "cancelled": cancelled, "refunded": refunded, "unpaid": unpaid}


async def test_taobao_statuses_are_the_reference_ones(sandbox):
    ids = await lifecycle(sandbox, "taobao")
    by_id = {o["tid"]: o for o in await pulled(sandbox, "taobao")}
    assert {o["status"] for o in by_id.values()} <= names(TAOBAO_STATUS)
    assert all(line["status"] in names(TAOBAO_STATUS) for o in by_id.values() for line in o["orders"]["order"])
    assert by_id[ids["unpaid"]]["status"] == "WAIT_BUYER_PAY"
    assert by_id[ids["paid"]]["status"] == "WAIT_SELLER_SEND_GOODS"
    assert by_id[ids["shipped"]]["status"] == "WAIT_BUYER_CONFIRM_GOODS"
    assert by_id[ids["cancelled"]]["status"] == "TRADE_CLOSED"


async def test_jd_states_are_the_reference_ones(sandbox):
    ids = await lifecycle(sandbox, "jd")
    by_id = {o["orderId"]: o for o in await pulled(sandbox, "jd")}
    assert ids["unpaid"] not in by_id  # the search lists paid orders only
    assert {o["orderState"] for o in by_id.values()} <= names(JD_STATE)
    assert by_id[ids["paid"]]["orderState"] == "WAIT_SELLER_STOCK_OUT"
    assert by_id[ids["shipped"]]["orderState"] == "WAIT_GOODS_RECEIVE_CONFIRM"
    assert by_id[ids["cancelled"]]["orderState"] == "TRADE_CANCELED"


async def test_pinduoduo_statuses_are_the_reference_codes(sandbox):
    ids = await lifecycle(sandbox, "pinduoduo")
    by_id = {o["order_sn"]: o for o in await pulled(sandbox, "pinduoduo")}
    assert ids["unpaid"] not in by_id
    assert {o["order_status"] for o in by_id.values()} <= {1, 2, 3}
    assert {o["refund_status"] for o in by_id.values()} <= {1, 2, 3, 4}
    assert (by_id[ids["paid"]]["order_status"], by_id[ids["paid"]]["refund_status"]) == (1, 1)
    assert by_id[ids["shipped"]]["order_status"] == 2
    assert by_id[ids["refunded"]]["refund_status"] == 4


async def test_douyin_statuses_are_the_reference_codes(sandbox):
    ids = await lifecycle(sandbox, "douyin")
    by_id = {o["order_id"]: o for o in await pulled(sandbox, "douyin", size=100)}
    assert {o["order_status"] for o in by_id.values()} <= DOUYIN_STATUS
    expected = {"unpaid": 1, "paid": 2, "shipped": 3, "cancelled": 4}
    assert {phase: by_id[ids[phase]]["order_status"] for phase in expected} == expected


async def test_shopify_statuses_are_the_reference_ones(sandbox):
    paid, cancelled = await create(sandbox, "shopify", 2)
    await create(sandbox, "shopify", paid=False)
    await event(sandbox, "shopify", cancelled, "cancel")
    response = await sandbox.client.get("/shopify/default/admin/api/2024-10/orders.json", params={"status": "any"},
                                        headers={"X-Shopify-Access-Token": handsigned.token("shopify")})
    orders = response.json()["orders"]
    assert len(orders) == 3
    assert {o["financial_status"] for o in orders} <= names(SHOPIFY_FINANCIAL)
    assert {o["fulfillment_status"] for o in orders} <= SHOPIFY_FULFILLMENT
    assert {str(o["id"]): o["cancelled_at"] is not None for o in orders if str(o["id"]) in (paid, cancelled)} == {
        paid: False, cancelled: True}


# --- paging ---------------------------------------------------------------------------------------------------

# (page parameter, first page, size parameter, total in the answer)
PAGING = {
    "taobao": ("page_no", 1, "page_size", lambda a: a["trades_sold_increment_get_response"].get("total_results")),
    "jd": ("page", 1, "page_size",
           lambda a: a["jingdong_pop_order_search_responce"]["searchorderinfo_result"]["orderTotal"]),
    "pinduoduo": ("page", 1, "page_size", lambda a: a["order_sn_increment_get_response"].get("total_count")),
    "douyin": ("page", 0, "size", lambda a: a["data"]["total"]),
}


@pytest.mark.parametrize("channel", ROUTERS)
async def test_pages_cover_every_order_once(sandbox, channel):
    created = await create(sandbox, channel, 5, spread_s=60)
    page_param, first, size_param, total = PAGING[channel]
    extra = {"order_by": "update_time"} if channel == "douyin" else {}
    seen: list[str] = []
    for page in range(first, first + 4):
        answer = await handsigned.pull(channel, *window(), **{page_param: page, size_param: 2}, **extra
                                       ).send(sandbox.client)
        assert total(answer) == 5  # use_has_next not sent: the total comes back
        page_items = items(channel, answer)
        assert len(page_items) == [2, 2, 1, 0][page - first]
        seen += [id_of(channel, o) for o in page_items]
    assert sorted(seen) == sorted(created) and len(set(seen)) == 5


@pytest.mark.parametrize("channel", ["taobao", "pinduoduo"])
async def test_use_has_next_answers_has_next_instead_of_the_total(sandbox, channel):
    await create(sandbox, channel, 3)
    root = "trades_sold_increment_get_response" if channel == "taobao" else "order_sn_increment_get_response"
    total_key = "total_results" if channel == "taobao" else "total_count"
    size = "page_size"
    page = "page_no" if channel == "taobao" else "page"
    first = (await handsigned.pull(channel, *window(), use_has_next="true", **{size: 2, page: 1})
             .send(sandbox.client))[root]
    last = (await handsigned.pull(channel, *window(), use_has_next="true", **{size: 2, page: 2})
            .send(sandbox.client))[root]
    assert total_key not in first and total_key not in last
    assert (first["has_next"], last["has_next"]) == (True, False)


@pytest.mark.parametrize("channel", ROUTERS)
async def test_a_page_size_over_100_is_refused(sandbox, channel):
    _, _, size_param, _ = PAGING[channel]
    answer = await handsigned.pull(channel, *window(), **{size_param: 101}).send(sandbox.client)
    assert error_of(channel, answer) == PARAM_ERROR[channel]
    answer = await handsigned.pull(channel, *window(), **{size_param: 100}).send(sandbox.client)
    assert items(channel, answer) == []


@pytest.mark.parametrize("channel", ROUTERS)
async def test_a_page_before_the_first_is_refused(sandbox, channel):
    page_param, first, _, _ = PAGING[channel]
    answer = await handsigned.pull(channel, *window(), **{page_param: first - 1}).send(sandbox.client)
    assert error_of(channel, answer) == PARAM_ERROR[channel]


@pytest.mark.parametrize("channel, limit", [("taobao", timedelta(days=1)), ("pinduoduo", timedelta(minutes=30))])
async def test_the_reference_window_limits(sandbox, channel, limit):
    end = datetime.now(UTC)
    assert items(channel, await handsigned.pull(channel, end - limit, end).send(sandbox.client)) == []
    answer = await handsigned.pull(channel, end - limit - timedelta(seconds=1), end).send(sandbox.client)
    assert error_of(channel, answer) == PARAM_ERROR[channel]


async def test_douyin_orders_by_update_or_create_time_either_way(sandbox):
    older, newer = await create(sandbox, "douyin", 2, spread_s=30)  # older created (and modified) first
    await asyncio.sleep(1.1)  # times are whole seconds: the change below comes a second after `newer`
    await event(sandbox, "douyin", older, "cancel")  # now modified last
    by = {}
    for order_by in ("create_time", "update_time"):
        for asc in (True, False):
            answer = await handsigned.pull("douyin", *window(), order_by=order_by, order_asc=asc).send(sandbox.client)
            by[order_by, asc] = [id_of("douyin", o) for o in items("douyin", answer)]
    assert by["create_time", True] == [older, newer] == by["create_time", False][::-1]
    assert by["update_time", True] == [newer, older] == by["update_time", False][::-1]
    answer = await handsigned.pull("douyin", *window(), order_by="pay_time").send(sandbox.client)
    assert error_of("douyin", answer) == PARAM_ERROR["douyin"]


# --- fields asked for and filters -------------------------------------------------------------------------------

async def test_taobao_answers_only_the_fields_asked_for(sandbox):
    await create(sandbox, "taobao")
    [trade] = await pulled(sandbox, "taobao", fields="tid,status")
    assert set(trade) == {"tid", "status"}
    [trade] = await pulled(sandbox, "taobao", fields="tid,orders.oid,orders.num")
    assert set(trade) == {"tid", "orders"}
    assert all(set(line) == {"oid", "num"} for line in trade["orders"]["order"])
    call = handsigned.taobao("taobao.trades.sold.increment.get", {
        "start_modified": handsigned.beijing(window()[0]), "end_modified": handsigned.beijing(window()[1])})
    answer = await call.send(sandbox.client)
    assert error_of("taobao", answer) == 41 and "fields" in answer["error_response"]["sub_msg"]


async def test_jd_answers_only_the_optional_fields_asked_for(sandbox):
    await create(sandbox, "jd")
    [order] = await pulled(sandbox, "jd", optional_fields="orderId,orderState")
    assert set(order) == {"orderId", "orderState"}
    call = handsigned.jd("jingdong.pop.order.search", {
        "start_date": handsigned.beijing(window()[0]), "end_date": handsigned.beijing(window()[1])})
    assert error_of("jd", await call.send(sandbox.client)) == "66"


@pytest.mark.parametrize("channel, business", [
    ("taobao", {"status": "WAIT_SELLER_PAY"}),
    ("jd", {"order_state": "WAIT_SELLER_STOCK_OUT,WAIT_PAY"}),
    ("pinduoduo", {"order_status": 4}),
    ("pinduoduo", {"refund_status": 6}),
])
async def test_status_filters_take_only_the_reference_values(sandbox, channel, business):
    answer = await handsigned.pull(channel, *window(), **business).send(sandbox.client)
    assert error_of(channel, answer) == PARAM_ERROR[channel]


@pytest.mark.parametrize("channel, business, field", [
    ("taobao", {"status": "WAIT_SELLER_SEND_GOODS"}, "status"),
    ("jd", {"order_state": "WAIT_GOODS_RECEIVE_CONFIRM,TRADE_CANCELED"}, "orderState"),
    ("pinduoduo", {"order_status": 2}, "order_status"),
])
async def test_status_filters_select(sandbox, channel, business, field):
    paid, shipped = await create(sandbox, channel, 2)
    await ship(sandbox, channel, shipped)
    listed = {id_of(channel, o): o[field] for o in await pulled(sandbox, channel, **business)}
    expected = {"taobao": {paid: "WAIT_SELLER_SEND_GOODS"}, "jd": {shipped: "WAIT_GOODS_RECEIVE_CONFIRM"},
                "pinduoduo": {shipped: 2}}[channel]
    assert listed == expected


async def test_taobao_split_consignment_names_lines_of_the_trade(sandbox):
    [tid] = await create(sandbox, "taobao", skus=["SKU-1", "SKU-2"])
    order = (await sandbox.client.get(f"/_sandbox/platforms/taobao/shops/default/orders/{tid}")).json()
    oids = [line["oid"] for line in order["payload"]["orders"]["order"]]
    bad = handsigned.taobao("taobao.logistics.offline.send", {
        "tid": tid, "out_sid": "SF1", "company_code": "SF", "is_split": "1", "sub_tid": "123"})
    answer = await bad.send(sandbox.client)
    assert error_of("taobao", answer) == 41 and "sub_tid" in answer["error_response"]["sub_msg"]
    good = handsigned.taobao("taobao.logistics.offline.send", {
        "tid": tid, "out_sid": "SF2", "company_code": "SF", "is_split": "1", "sub_tid": oids[0]})
    assert (await good.send(sandbox.client))["logistics_offline_send_response"]["shipping"]["is_success"] is True
    [record] = await sandbox.records("shipback")
    assert record["body"]["sub_tid"] == [oids[0]] and record["body"]["is_split"] is True


# --- errors ---------------------------------------------------------------------------------------------------

async def test_taobao_errors_are_the_reference_codes(sandbox):
    await sandbox.client.post("/_sandbox/platforms/taobao/shops/default/token", json={"action": "expire"})
    answer = await handsigned.pull("taobao", *window()).send(sandbox.client)
    body = answer["error_response"]
    assert set(body) >= {"code", "msg", "sub_code", "sub_msg"}
    assert (body["code"], body["sub_code"]) == (27, "invalid-sessionkey")

    await sandbox.client.put("/_sandbox/platforms/taobao/rate_limit", json={"per_s": 0.01, "burst": 1})
    await handsigned.pull("taobao", *window()).send(sandbox.client)  # the one call in the bucket
    body = (await handsigned.pull("taobao", *window()).send(sandbox.client))["error_response"]
    assert (body["code"], body["sub_code"]) == (7, "accesscontrol.limited-by-app-access-count")
