"""Order scenarios driven through the HTTP API, as a channel, a payment callback and a warehouse
scanner would. `orderhub histories record` records their workflow histories; the integration
tests run them against a real stack and assert on the outcome."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

BUYER = {"name": "李四", "phone": "13912345678", "province": "上海", "city": "上海市", "district": "徐汇区",
         "address": "漕溪北路 88 号"}


@dataclass
class Hub:
    """A small API client holding one token per role."""

    http: httpx.AsyncClient
    tokens: dict[str, str]

    def _auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def post_order(self, order: dict[str, Any]) -> httpx.Response:
        return await self.http.post("/v1/orders", json=order, headers=self._auth("channel"))

    async def act(self, order_id: str, action: str, body: dict[str, Any] | None = None,
                  role: str = "admin") -> httpx.Response:
        return await self.http.post(f"/v1/orders/{order_id}/{action}", json=body, headers=self._auth(role))

    async def order(self, order_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/v1/orders/{order_id}", headers=self._auth("operator"))
        response.raise_for_status()
        return response.json()

    async def wait_status(self, order_id: str, *statuses: str, timeout_s: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            order = await self.order(order_id)
            if order["status"] in statuses:
                return order
            if time.monotonic() > deadline:
                raise TimeoutError(f"order {order_id} is {order['status']}, expected {statuses}")
            await asyncio.sleep(0.1)


def new_order(lines: list[tuple[str, int]], *, paid: bool, external_id: str | None = None) -> dict[str, Any]:
    return {
        "channel": "own_store", "shop": "default", "external_id": external_id or f"S{uuid.uuid4().hex[:10]}",
        "paid": paid, "buyer": BUYER,
        "lines": [{"sku": sku, "quantity": qty, "unit_price": 1999} for sku, qty in lines],
    }


async def _created(hub: Hub, order: dict[str, Any]) -> dict[str, Any]:
    response = await hub.post_order(order)
    if response.status_code != 201:
        raise AssertionError(f"POST /v1/orders answered {response.status_code}: {response.text}")
    return response.json()


async def paid_happy_path(hub: Hub) -> dict[str, Any]:
    accepted = await _created(hub, new_order([("SKU-1", 2)], paid=True))
    await hub.wait_status(accepted["order_id"], "AWAITING_SCAN")
    (await hub.act(accepted["order_id"], "shipment")).raise_for_status()
    return await hub.wait_status(accepted["order_id"], "COMPLETED")


async def unpaid_timeout(hub: Hub) -> dict[str, Any]:
    accepted = await _created(hub, new_order([("SKU-2", 1)], paid=False))
    return await hub.wait_status(accepted["order_id"], "CANCELLED")


async def out_of_stock_then_cancel(hub: Hub) -> dict[str, Any]:
    accepted = await _created(hub, new_order([("SKU-3", 10_000)], paid=False))
    assert accepted["status"] == "ON_HOLD", accepted
    (await hub.act(accepted["order_id"], "cancel", {"reason": "no stock coming"})).raise_for_status()
    return await hub.wait_status(accepted["order_id"], "CANCELLED")


async def cancel_after_payment(hub: Hub) -> dict[str, Any]:
    accepted = await _created(hub, new_order([("SKU-1", 1)], paid=False))
    (await hub.act(accepted["order_id"], "payment", {"trade_no": f"PAY{uuid.uuid4().hex[:8]}"},
                   role="channel")).raise_for_status()
    await hub.wait_status(accepted["order_id"], "AWAITING_SCAN")
    (await hub.act(accepted["order_id"], "cancel", {"reason": "buyer asked"})).raise_for_status()
    return await hub.wait_status(accepted["order_id"], "CANCELLED")


async def split_shipment(hub: Hub) -> dict[str, Any]:
    accepted = await _created(hub, new_order([("SKU-3", 1), ("SKU-4", 1)], paid=True))
    order = await hub.wait_status(accepted["order_id"], "AWAITING_SCAN")
    for shipment in order["shipments"]:
        (await hub.act(accepted["order_id"], "shipment", {"waybill_no": shipment["waybill_no"]})).raise_for_status()
    return await hub.wait_status(accepted["order_id"], "COMPLETED")


SCENARIOS: dict[str, Callable[[Hub], Awaitable[dict[str, Any]]]] = {
    "paid_happy_path": paid_happy_path,
    "unpaid_timeout": unpaid_timeout,
    "out_of_stock_then_cancel": out_of_stock_then_cancel,
    "cancel_after_payment": cancel_after_payment,
    "split_shipment": split_shipment,
}
