"""workers.scenarios: a paid own-store order the scenarios post names the trade its buyer paid at the
sandbox gateway (which refunds only trades it saw), once per order however often the post is sent."""

from __future__ import annotations

import json

import httpx

from workers.scenarios import Hub, new_order


async def test_a_paid_own_store_order_is_paid_at_the_gateway_once_and_posted_with_its_trade(sandbox_url):
    posted: list[dict] = []

    def api(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        return httpx.Response(201, json={"order_id": "x"})

    async with httpx.AsyncClient(base_url="http://api", transport=httpx.MockTransport(api)) as http, \
            httpx.AsyncClient(base_url=sandbox_url) as sandbox:
        hub = Hub(http, {"channel": "t"}, sandbox_url)
        body = new_order([("SKU-1", 3)], paid=True)
        await hub.post_order(body)
        await hub.post_order(body)  # a retried post: the same trade, no second payment
        await hub.post_order(new_order([("SKU-1", 1)], paid=False))
        await Hub(http, {"channel": "t"}).post_order(new_order([("SKU-1", 1)], paid=True))  # no sandbox: as given
        payments = (await sandbox.get("/_sandbox/records", params={"kind": "payment"})).json()["items"]

    first, again, unpaid, as_given = posted
    [payment] = [p for p in payments if p["body"]["out_trade_no"] == f"default-{body['external_id']}"]
    assert first["trade_no"] == again["trade_no"] == payment["key"]
    assert payment["body"]["total_amount"] == "59.97" and payment["received"] == 2
    assert "trade_no" not in unpaid and "trade_no" not in as_given
