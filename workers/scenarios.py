"""Order scenarios driven through the HTTP API, as a channel, a payment callback and a warehouse
scanner would. `orderhub histories record` records their workflow histories; the integration
tests run them against a real stack and assert on the outcome.

Own-store buyers pay at the payment gateway (the sandbox's keeps a ledger and refunds only trades it saw,
up to what was paid): a paid own-store order is posted with the gateway's trade_no (`Hub.post_order`), and a
payment callback names a trade paid there first (`Hub.pay_at_gateway`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from models.money import fen_to_yuan

BUYER = {"name": "李四", "phone": "13912345678", "province": "上海", "city": "上海市", "district": "徐汇区",
         "address": "漕溪北路 88 号"}


@dataclass
class Hub:
    """A small API client holding one token per role, and where the own store's buyers pay."""

    http: httpx.AsyncClient
    tokens: dict[str, str]
    # The sandbox whose payment gateway the own store's buyers pay at; None: orders are posted as given.
    sandbox_url: str | None = None

    def _auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def pay_at_gateway(self, out_trade_no: str, amount: int) -> str:
        """The buyer pays `amount` fen at the gateway for `out_trade_no`; the trade's number. One trade per
        out_trade_no: paying again (a retried post) answers the same trade."""
        if self.sandbox_url is None:
            raise RuntimeError("no sandbox to pay at: Hub(..., sandbox_url=...)")
        return await pay_at_gateway(self.sandbox_url, out_trade_no, amount)

    async def paid(self, order: dict[str, Any]) -> dict[str, Any]:
        """The order with the trade its buyer paid at the gateway for what it comes to."""
        trade_no = await self.pay_at_gateway(out_trade_no_of(order), order_total(order))
        return {**order, "trade_no": trade_no}

    async def post_order(self, order: dict[str, Any]) -> httpx.Response:
        # A paid own-store order without a trade: its buyer pays at the gateway first, as on the real store,
        # so a refund later finds the trade and the amount.
        if (self.sandbox_url and order.get("paid") and not order.get("trade_no")
                and order.get("channel") == "own_store" and order_total(order) > 0):
            order = await self.paid(order)
        return await self.http.post("/v1/orders", json=order, headers=self._auth("channel"))

    async def act(self, order_id: str, action: str, body: dict[str, Any] | None = None,
                  role: str = "admin") -> httpx.Response:
        return await self.http.post(f"/v1/orders/{order_id}/{action}", json=body, headers=self._auth(role))

    async def order(self, order_id: str) -> dict[str, Any]:
        # A read, so safe to repeat: a keep-alive connection the server closed just as it was reused
        # (hundreds of pollers after a burst) is a transport error, not an answer.
        for attempt in range(3):
            try:
                response = await self.http.get(f"/v1/orders/{order_id}", headers=self._auth("operator"))
                break
            except httpx.TransportError:
                if attempt == 2:
                    raise
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


def order_total(order: dict[str, Any]) -> int:
    """What the order comes to, in fen: goods and shipping less the discount."""
    goods = sum(line["quantity"] * line["unit_price"] for line in order["lines"])
    return goods + order.get("shipping_fee", 0) - order.get("discount", 0)


def out_trade_no_of(order: dict[str, Any]) -> str:
    """The store's order number at the gateway (as the sandbox own store spells it)."""
    return f"{order.get('shop', 'default')}-{order['external_id']}"


async def pay_at_gateway(sandbox_url: str, out_trade_no: str, amount: int) -> str:
    """`POST /gateway/trade/pay` on the sandbox: the trade_no of `amount` fen paid for `out_trade_no`."""
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as gateway:
        response = await gateway.post("/gateway/trade/pay", json={
            "out_trade_no": out_trade_no, "total_amount": fen_to_yuan(amount)})
    response.raise_for_status()
    answer = response.json()
    if answer.get("code") != "10000":
        raise RuntimeError(f"the gateway refused the payment: {answer}")
    return str(answer["trade_no"])


def a_phone() -> str:
    """A mainland mobile number of a buyer of one's own."""
    return f"139{uuid.uuid4().int % 10**8:08d}"


def new_order(lines: list[tuple[str, int]], *, paid: bool, external_id: str | None = None) -> dict[str, Any]:
    return {
        "channel": "own_store", "shop": "default", "external_id": external_id or f"S{uuid.uuid4().hex[:10]}",
        "paid": paid, "buyer": {**BUYER, "phone": a_phone()},  # a buyer of its own: no fraud rule counts them together
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
    body = new_order([("SKU-1", 1)], paid=False)
    accepted = await _created(hub, body)
    trade_no = await hub.pay_at_gateway(out_trade_no_of(body), order_total(body))
    (await hub.act(accepted["order_id"], "payment", {"trade_no": trade_no, "amount": order_total(body)},
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


async def _ship(hub: Hub, order_id: str) -> dict[str, Any]:
    await hub.wait_status(order_id, "AWAITING_SCAN")
    (await hub.act(order_id, "shipment")).raise_for_status()
    return await hub.wait_status(order_id, "COMPLETED")


async def exception_review_address_corrected(hub: Hub) -> dict[str, Any]:
    """A vague address holds the order in the address desk's queue; the operator's corrected address
    clears the tag and the order ships."""
    body = new_order([("SKU-1", 1)], paid=True)
    body["buyer"]["address"] = "小区门口菜鸟驿站代收"
    accepted = await _created(hub, body)
    await hub.wait_status(accepted["order_id"], "ON_HOLD")
    corrected = {**body["buyer"], "address": "漕溪北路 88 号 2 栋 1203 室"}
    resolved = await hub.act(accepted["order_id"], "resolve", {"action": "update_address", "address": corrected},
                             role="operator")
    resolved.raise_for_status()
    return await _ship(hub, accepted["order_id"])


async def payment_callback_mismatch_released(hub: Hub) -> dict[str, Any]:
    """A payment callback with the wrong amount (the gateway took one fen) holds the order for payments,
    who accept it."""
    body = new_order([("SKU-2", 1)], paid=False)
    accepted = await _created(hub, body)
    trade_no = await hub.pay_at_gateway(out_trade_no_of(body), 1)
    (await hub.act(accepted["order_id"], "payment", {"trade_no": trade_no, "amount": 1}, role="channel")
     ).raise_for_status()
    await hub.wait_status(accepted["order_id"], "ON_HOLD")
    (await hub.act(accepted["order_id"], "resolve", {"action": "release", "note": "captured in full"},
                   role="operator")).raise_for_status()
    return await _ship(hub, accepted["order_id"])


async def presale_waits_for_its_date(hub: Hub) -> dict[str, Any]:
    """A presale order prints only from its ship-not-before date (a few seconds ahead here)."""
    body = new_order([("SKU-1", 1)], paid=True)
    body |= {"priority_tags": ["presale"],
             "ship_not_before": (datetime.now(UTC) + timedelta(seconds=4)).isoformat()}
    accepted = await _created(hub, body)
    return await _ship(hub, accepted["order_id"])


async def presale_deposit_then_balance(hub: Hub) -> dict[str, Any]:
    """A presale order paid in two parts (定金 + 尾款): the deposit, then the balance well before its
    deadline; the order ships after the balance."""
    body = new_order([("SKU-1", 1)], paid=False)
    body["presale"] = {"deposit": 500, "balance": 1499,
                       "balance_due_by": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    accepted = await _created(hub, body)
    for part, trade_no in (("deposit", "DEP"), ("balance", "BAL")):
        (await hub.act(accepted["order_id"], "payment", {"part": part, "trade_no": f"{trade_no}{uuid.uuid4().hex[:8]}"},
                       role="channel")).raise_for_status()
    return await _ship(hub, accepted["order_id"])


async def merged_parcel(hub: Hub) -> dict[str, Any]:
    """Two presale orders of one buyer to one address wake on the same date and share one parcel (one
    waybill, one ParcelWorkflow); scanning it once ships both. Answers the first order, with the
    parcel's and the other order's workflow ids under `also_recorded` (by their history name's suffix)."""
    ship_from = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
    buyer = {**BUYER, "phone": a_phone()}
    bodies = [new_order([(sku, 1)], paid=True) | {"buyer": buyer, "priority_tags": ["presale"],
                                                  "ship_not_before": ship_from} for sku in ("SKU-1", "SKU-2")]
    first, second = [(await _created(hub, body))["order_id"] for body in bodies]
    printed = [await hub.wait_status(order_id, "AWAITING_SCAN") for order_id in (first, second)]
    waybills = {order["shipments"][0]["waybill_no"] for order in printed}
    if len(waybills) != 1:
        raise AssertionError(f"the two orders printed {sorted(waybills)}, not one shared waybill")
    merged = next(e for e in printed[0]["timeline"] if e["event"] == "parcel_merged")
    (await hub.act(first, "shipment")).raise_for_status()
    done = [await hub.wait_status(order_id, "COMPLETED") for order_id in (first, second)]
    return done[0] | {"also_recorded": {"": merged["detail"]["parcel"], "_second_order": done[1]["workflow_id"]}}


SCENARIOS: dict[str, Callable[[Hub], Awaitable[dict[str, Any]]]] = {
    "paid_happy_path": paid_happy_path,
    "unpaid_timeout": unpaid_timeout,
    "out_of_stock_then_cancel": out_of_stock_then_cancel,
    "cancel_after_payment": cancel_after_payment,
    "split_shipment": split_shipment,
    "exception_review_address_corrected": exception_review_address_corrected,
    "payment_callback_mismatch_released": payment_callback_mismatch_released,
    "presale_waits_for_its_date": presale_waits_for_its_date,
    "merged_parcel": merged_parcel,
    "presale_deposit_then_balance": presale_deposit_then_balance,
}


# --- channel scenarios: a shop's sync, driven through the API and the sandbox platform --------------


async def _until(probe: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while not done(result := await probe()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not reached; last: {result}")
        await asyncio.sleep(0.2)
    return result


async def channel_sync_pause_resume(hub: Hub, sandbox_url: str) -> list[str]:
    """A Taobao shop is registered and pulls its orders; its token expires and the sync pauses; a new
    token through PUT resumes it and the order sold meanwhile arrives. Returns the workflow ids to
    record: the shop's ChannelSync and the sku's StockSync."""
    channel, shop = "taobao", f"rec{uuid.uuid4().hex[:6]}"
    admin = hub._auth("admin")
    creds = {"app_key": f"key-{shop}", "app_secret": f"secret-{shop}", "access_token": f"token-{shop}"}
    base = f"/_sandbox/platforms/{channel}/shops/{shop}"

    async def pulled() -> int:
        listing = await hub.http.get("/v1/orders", params={"channel": channel}, headers=admin)
        return sum(1 for o in listing.json()["items"] if o["shop"] == shop)

    async def status() -> str:
        return {s["shop"]: s["status"] for s in (await hub.http.get("/v1/shops", headers=admin)).json()}[shop]

    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as platform:
        (await platform.put(base, json=creds)).raise_for_status()
        (await hub.http.post("/v1/shops", headers=admin, json={
            "channel": channel, "shop": shop, "credentials": creds, "sync_interval_s": 10})).raise_for_status()
        (await platform.post(f"{base}/orders", json={"count": 2, "skus": ["SKU-1"]})).raise_for_status()
        (await hub.http.post(f"/v1/shops/{channel}/{shop}/sync", headers=admin)).raise_for_status()
        await _until(pulled, lambda n: n == 2)

        (await platform.post(f"{base}/token", json={"action": "expire"})).raise_for_status()
        (await platform.post(f"{base}/orders", json={"count": 1, "skus": ["SKU-1"]})).raise_for_status()
        (await hub.http.post(f"/v1/shops/{channel}/{shop}/sync", headers=admin)).raise_for_status()
        await _until(status, lambda s: s == "PAUSED")

        token = (await platform.post(f"{base}/token", json={"action": "issue"})).json()["access_token"]
        (await hub.http.put(f"/v1/shops/{channel}/{shop}", headers=admin, json={"access_token": token})
         ).raise_for_status()
        await _until(pulled, lambda n: n == 3)
        await _until(status, lambda s: s == "ACTIVE")
    return [f"channel-sync-{channel}-{shop}", "stock-sync-SKU-1"]


async def channel_sync_after_sale_pulled(hub: Hub, sandbox_url: str) -> list[str]:
    """A JD shop's order is pulled; its buyer then asks JD for a refund, and the next sync pulls the request
    and opens a ticket for it. Returns the workflow ids to record: the shop's ChannelSync and the sku's
    StockSync (the order took its stock)."""
    channel, shop = "jd", f"rec{uuid.uuid4().hex[:6]}"
    admin = hub._auth("admin")
    creds = {"app_key": f"key-{shop}", "app_secret": f"secret-{shop}", "access_token": f"token-{shop}"}
    base = f"/_sandbox/platforms/{channel}/shops/{shop}"

    async def tickets() -> int:
        listing = await hub.http.get("/v1/after-sales", params={"order_id": order_id}, headers=admin)
        return listing.json()["total"]

    async def synced_at() -> str | None:
        return {s["shop"]: s["last_synced_at"] for s in (await hub.http.get("/v1/shops", headers=admin)).json()}[shop]

    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as platform:
        (await platform.put(base, json=creds)).raise_for_status()
        (await hub.http.post("/v1/shops", headers=admin, json={
            "channel": channel, "shop": shop, "credentials": creds, "sync_interval_s": 3600})).raise_for_status()
        created = await platform.post(f"{base}/orders", json={"count": 1, "skus": ["SKU-1"]})
        external_id = created.json()["created"][0]
        order_id = f"{channel}:{shop}:{external_id}"
        (await hub.http.post(f"/v1/shops/{channel}/{shop}/sync", headers=admin)).raise_for_status()
        await _until(lambda: hub.http.get(f"/v1/orders/{order_id}", headers=admin), lambda r: r.status_code == 200)
        (await platform.post(f"{base}/orders/{external_id}/after-sales",
                             json={"type": "refund_only", "reason": "quality", "amount": 100})).raise_for_status()
        before = await _until(synced_at, lambda at: at is not None)
        (await hub.http.post(f"/v1/shops/{channel}/{shop}/sync", headers=admin)).raise_for_status()
        await _until(tickets, lambda n: n == 1)
        await _until(synced_at, lambda at: at != before)  # the window's pull finished and was checkpointed
    return [f"channel-sync-{channel}-{shop}", "stock-sync-SKU-1"]


CHANNEL_SCENARIOS: dict[str, Callable[[Hub, str], Awaitable[list[str]]]] = {
    "pause_resume": channel_sync_pause_resume,
    "after_sale_pulled": channel_sync_after_sale_pulled,
}


# --- after-sales scenarios: tickets opened and decided through the API ------------------------------


async def _ticket(hub: Hub, body: dict[str, Any], expect: int = 201) -> dict[str, Any]:
    response = await hub.http.post("/v1/after-sales", json=body, headers=hub._auth("channel"))
    if response.status_code != expect:
        raise AssertionError(f"POST /v1/after-sales answered {response.status_code}: {response.text}")
    return response.json()


async def _ticket_act(hub: Hub, ticket_id: str, action: str, role: str, body: dict[str, Any] | None = None) -> None:
    response = await hub.http.post(f"/v1/after-sales/{ticket_id}/{action}", json=body, headers=hub._auth(role))
    if response.status_code != 200:
        raise AssertionError(f"{action} as {role} answered {response.status_code}: {response.text}")


async def wait_ticket(hub: Hub, ticket_id: str, *statuses: str, timeout_s: float = 60) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        response = await hub.http.get(f"/v1/after-sales/{ticket_id}", headers=hub._auth("operator"))
        response.raise_for_status()
        return response.json()
    return await _until(probe, lambda t: t["status"] in statuses, timeout_s)


async def _delivered(hub: Hub, lines: list[tuple[str, int]]) -> dict[str, Any]:
    accepted = await _created(hub, new_order(lines, paid=True))
    await hub.wait_status(accepted["order_id"], "AWAITING_SCAN")
    (await hub.act(accepted["order_id"], "shipment")).raise_for_status()
    return await hub.wait_status(accepted["order_id"], "COMPLETED")


async def _parcel_comes_back(hub: Hub, ticket_id: str) -> None:
    """The buyer sends the goods back (the channel reports the waybill) and the warehouse scans them in."""
    await wait_ticket(hub, ticket_id, "AWAITING_RETURN")
    waybill = f"RT{uuid.uuid4().hex[:10].upper()}"
    await _ticket_act(hub, ticket_id, "return-shipped", "channel", {"waybill_no": waybill, "carrier": "YTO"})
    scanned = await hub.http.post("/v1/after-sales/return-received", json={"waybill_no": waybill},
                                  headers=hub._auth("operator"))
    if scanned.status_code != 200:
        raise AssertionError(f"return scan answered {scanned.status_code}: {scanned.text}")


async def auto_approved_refund(hub: Hub) -> dict[str, Any]:
    """19.99 yuan back for one unit of a delivered order: a small refund, approved by rule."""
    order = await _delivered(hub, [("SKU-1", 2)])
    ticket = await _ticket(hub, {"order_id": order["order_id"], "type": "refund_only", "reason": "quality",
                                 "lines": [{"sku": "SKU-1", "quantity": 1}]})
    return await wait_ticket(hub, ticket["ticket_id"], "REFUNDED")


async def return_needs_finance_and_operations(hub: Hub) -> dict[str, Any]:
    """239.88 yuan of goods back: finance and operations approve, the parcel comes back, 10 of 12
    units pass inspection, 199.90 yuan is refunded."""
    order = await _delivered(hub, [("SKU-2", 12)])
    ticket = await _ticket(hub, {"order_id": order["order_id"], "type": "return_and_refund", "reason": "quality",
                                 "goods_intact": True})
    assert ticket["status"] == "AWAITING_APPROVAL" and ticket["tier"] == "finance_and_operations", ticket
    ticket_id = ticket["ticket_id"]
    await _ticket_act(hub, ticket_id, "approve", "finance", {"comment": "amount checked"})
    await _ticket_act(hub, ticket_id, "approve", "operations")
    await _parcel_comes_back(hub, ticket_id)
    await _ticket_act(hub, ticket_id, "inspection", "operator",
                      {"passed": True, "accepted_quantity": 10, "note": "2 units scratched"})
    return await wait_ticket(hub, ticket_id, "REFUNDED")


async def rejected_ticket(hub: Hub) -> dict[str, Any]:
    order = await _delivered(hub, [("SKU-1", 3)])
    ticket = await _ticket(hub, {"order_id": order["order_id"], "type": "refund_only", "reason": "changed_mind"})
    await _ticket_act(hub, ticket["ticket_id"], "reject", "support_lead",
                      {"comment": "delivered as described; return it instead"})
    return await wait_ticket(hub, ticket["ticket_id"], "REJECTED")


async def refund_before_shipping(hub: Hub) -> dict[str, Any]:
    """The buyer wants the money back before the parcel leaves: the order stops, its stock is
    released, and the ticket refunds the whole payment."""
    accepted = await _created(hub, new_order([("SKU-1", 3)], paid=True))
    await hub.wait_status(accepted["order_id"], "AWAITING_SCAN")
    ticket = await _ticket(hub, {"order_id": accepted["order_id"], "type": "refund_only", "reason": "changed_mind"})
    await _ticket_act(hub, ticket["ticket_id"], "approve", "support_lead")
    await hub.wait_status(accepted["order_id"], "CANCELLED")
    return await wait_ticket(hub, ticket["ticket_id"], "REFUNDED")


async def partial_refund(hub: Hub) -> dict[str, Any]:
    """An agreed 80 yuan back on a delivered order (a price adjustment, above the auto-approval limit):
    the support lead approves, nothing comes back, the gateway refunds the amount."""
    order = await _delivered(hub, [("SKU-2", 5)])
    ticket = await _ticket(hub, {"order_id": order["order_id"], "type": "partial_refund", "reason": "price_adjustment",
                                 "amount": 8000})
    await _ticket_act(hub, ticket["ticket_id"], "approve", "support_lead")
    return await wait_ticket(hub, ticket["ticket_id"], "REFUNDED")


async def exchange(hub: Hub) -> dict[str, Any]:
    """One unit back for another: approved, the parcel comes back and passes inspection, and a new
    order ships the same goods to the buyer."""
    order = await _delivered(hub, [("SKU-1", 1)])
    ticket = await _ticket(hub, {"order_id": order["order_id"], "type": "exchange", "reason": "wrong_size",
                                 "goods_intact": True})
    ticket_id = ticket["ticket_id"]
    if ticket["status"] == "AWAITING_APPROVAL":
        await _ticket_act(hub, ticket_id, "approve", "support_lead")
    await _parcel_comes_back(hub, ticket_id)
    await _ticket_act(hub, ticket_id, "inspection", "operator", {"passed": True})
    return await wait_ticket(hub, ticket_id, "EXCHANGED")


async def exchange_other_sku(hub: Hub) -> dict[str, Any]:
    """One unit back for another SKU (another size or colour): approved, the parcel comes back and
    passes inspection, a new order ships the other SKU (SKU-4 for SKU-1), is scanned out and reaches
    the platform as one more parcel of the original order. The replacement order's run is recorded
    too (`also_recorded`)."""
    order = await _delivered(hub, [("SKU-1", 1)])
    ticket = await _ticket(hub, {"order_id": order["order_id"], "type": "exchange", "reason": "wrong_size",
                                 "goods_intact": True,
                                 "lines": [{"sku": "SKU-1", "quantity": 1, "exchange_sku": "SKU-4"}]})
    ticket_id = ticket["ticket_id"]
    if ticket["status"] == "AWAITING_APPROVAL":
        await _ticket_act(hub, ticket_id, "approve", "support_lead")
    await _parcel_comes_back(hub, ticket_id)
    await _ticket_act(hub, ticket_id, "inspection", "operator", {"passed": True})
    exchanged = await wait_ticket(hub, ticket_id, "EXCHANGED")
    replacement = exchanged["replacement_order_id"]
    await hub.wait_status(replacement, "AWAITING_SCAN")
    (await hub.act(replacement, "shipment")).raise_for_status()
    shipped = await hub.wait_status(replacement, "COMPLETED")
    return {**exchanged, "also_recorded": {"": shipped["workflow_id"]}}


AFTER_SALES_SCENARIOS: dict[str, Callable[[Hub], Awaitable[dict[str, Any]]]] = {
    "auto_approved_refund": auto_approved_refund,
    "return_needs_finance_and_operations": return_needs_finance_and_operations,
    "rejected": rejected_ticket,
    "refund_before_shipping": refund_before_shipping,
    "partial_refund": partial_refund,
    "exchange": exchange,
    "exchange_other_sku": exchange_other_sku,
}
