"""After-sales refunds at the sandbox marketplaces, over HTTP as the platforms take them: the own store's
refund endpoint and Shopify's transactions and refunds (the signed router platforms are covered through the
hub's transport in tests/channels/test_channel_refund.py)."""

from typing import Any

TOKEN = {"Authorization": "Bearer sandbox-token-own_store"}
SHOPIFY = {"X-Shopify-Access-Token": "sandbox-token-shopify"}
REFUND = {"refund_id": "AS-7", "amount": 450, "status": "REFUNDED", "reason": "wrong size"}  # paid >= 490


async def create(sandbox, channel: str, **body: Any) -> str:
    response = await sandbox.client.post(f"/_sandbox/platforms/{channel}/shops/default/orders",
                                         json={"count": 1, **body})
    assert response.status_code == 200, response.text
    return response.json()["created"][0]


async def test_own_store_refund_is_one_per_refund_id(sandbox):
    external_id = await create(sandbox, "own_store")
    url = f"/own_store/default/orders/{external_id}/refunds"
    first = await sandbox.client.post(url, json=REFUND, headers=TOKEN)
    second = await sandbox.client.post(url, json=REFUND, headers=TOKEN)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["refund_id"] == "AS-7" and first.json()["amount"] == 450
    [record] = await sandbox.records(kind="channel_refund")
    assert record["key"] == f"own_store/default/{external_id}/AS-7"
    assert record["received"] == 2
    assert record["body"] == {"channel": "own_store", "shop": "default", "external_id": external_id,
                              "refund_id": "AS-7", "amount": 450, "status": "REFUNDED", "reason": "wrong size"}
    order = (await sandbox.client.get(f"/_sandbox/platforms/own_store/shops/default/orders/{external_id}")).json()
    assert order["refunds"] == [{"refund_id": "AS-7", "status": "REFUNDED", "amount": 450}]
    assert order["status"] == "PAID"


async def test_own_store_refund_refusals(sandbox):
    external_id = await create(sandbox, "own_store")
    url = f"/own_store/default/orders/{external_id}/refunds"
    bad = await sandbox.client.post(url, json={**REFUND, "amount": -1, "status": "MAYBE"}, headers=TOKEN)
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"amount", "status"}
    assert (await sandbox.client.post(url, json=REFUND)).status_code == 401
    too_much = await sandbox.client.post(url, json={**REFUND, "amount": 10_000_000}, headers=TOKEN)
    assert too_much.status_code == 400 and too_much.json()["error_code"] == "INVALID_REQUEST"
    await sandbox.client.post(f"/_sandbox/platforms/own_store/shops/default/orders/{external_id}/events",
                              json={"event": "refund"})  # refunded in full on the platform: closed
    closed = await sandbox.client.post(url, json=REFUND, headers=TOKEN)
    assert closed.status_code == 409 and closed.json()["error_code"] == "ORDER_CLOSED"
    assert await sandbox.records(kind="channel_refund") == []


async def test_shopify_refund_against_the_sale(sandbox):
    external_id = await create(sandbox, "shopify")
    api = f"/shopify/default/admin/api/2024-10/orders/{external_id}"
    [sale] = (await sandbox.client.get(f"{api}/transactions.json", headers=SHOPIFY)).json()["transactions"]
    assert (sale["kind"], sale["status"]) == ("sale", "success")
    body = {"refund": {"note": "[AS-8] damaged", "notify": False,
                       "transactions": [{"parent_id": sale["id"], "amount": "4.50", "kind": "refund"}]}}
    first = await sandbox.client.post(f"{api}/refunds.json", json=body, headers=SHOPIFY)
    again = await sandbox.client.post(f"{api}/refunds.json", json=body, headers=SHOPIFY)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert first.json()["refund"]["transactions"][0]["amount"] == "4.50"
    [refund] = (await sandbox.client.get(f"{api}/refunds.json", headers=SHOPIFY)).json()["refunds"]
    assert refund["note"] == "[AS-8] damaged"
    [record] = await sandbox.records(kind="channel_refund")
    assert (record["key"], record["body"]["amount"], record["body"]["reason"]) == (
        f"shopify/default/{external_id}/AS-8", 450, "damaged")
    transactions = (await sandbox.client.get(f"{api}/transactions.json", headers=SHOPIFY)).json()["transactions"]
    assert [t["kind"] for t in transactions] == ["sale", "refund"]

    wrong_parent = {"refund": {"note": "[AS-9]", "transactions": [{"parent_id": 1, "amount": "1.00",
                                                                    "kind": "refund"}]}}
    assert (await sandbox.client.post(f"{api}/refunds.json", json=wrong_parent, headers=SHOPIFY)).status_code == 422
    too_much = {"refund": {"note": "[AS-9]", "transactions": [{"parent_id": sale["id"], "amount": "99999.00",
                                                               "kind": "refund"}]}}
    assert (await sandbox.client.post(f"{api}/refunds.json", json=too_much, headers=SHOPIFY)).status_code == 422
    assert (await sandbox.client.post(f"{api}/refunds.json", json=body)).status_code == 401
    missing = "/shopify/default/admin/api/2024-10/orders/1/refunds.json"
    assert (await sandbox.client.post(missing, json=body, headers=SHOPIFY)).status_code == 404
    assert len(await sandbox.records(kind="channel_refund")) == 1
