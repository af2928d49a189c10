"""Fault drills: orders walked through the hub while something breaks, then the promises checked.

Each order drill posts paid orders for a SKU of its own through the API from many clients (a post the
API could not answer is sent again, same body, as a platform retries), a warehouse loop scans each
parcel once its waybill is printed (every `cancel_every`-th order is cancelled there instead, so the
gateway must refund it: each order's buyer paid there first), and the fault strikes once a third of the
orders are in:

- worker_killed      the worker is SIGKILLed and started again
- partner_faults     carrier, channel and gateway fail 17% of calls, with latency (seeded sandbox)
- server_restarted   the Temporal dev server stops and starts again on its SQLite file
- db_cut             the worker's and API's PostgreSQL connections are cut and refused for a while

Afterwards: every order reached COMPLETED (or CANCELLED when it was cancelled): none lost or stuck;
one waybill per parcel at the carrier, one refund per cancelled order at the gateway and none for the
rest; stock: on_hand + shipped = initial and nothing left reserved.

`webhooks` drives Shopify's webhooks instead: every event may come twice and each order's first event
is held back until its next has been delivered; every platform order must become one hub order with
one workflow run, in the state of the platform's newest event.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.harness import BenchStack
from models.db import session_scope
from models.order import order_id_for
from models.tables import OrderRecord, Reservation, ShipmentRecord, StockLevel
from workers.scenarios import new_order, order_total, out_trade_no_of, pay_at_gateway

FINAL = ("COMPLETED", "CANCELLED")
WAREHOUSE = "WH-SH"
PRICE_YUAN = "19.99"  # new_order's unit price, one unit per order
# The drills' stack: the database reached through a link that can be cut, a seeded sandbox (a rerun
# draws the same faults) whose webhooks are retried like a real platform's (Shopify: 19 attempts over
# 48 h; here 20 within minutes, waiting up to 30 s for an answer), and tracking queried every 20 s in
# case a carrier callback is lost.
STACK: dict[str, Any] = dict(payment_timeout_s=600, cut_db_link=True,
                             sandbox={"seed": "17", "webhook_max_attempts": "20", "webhook_timeout_s": "30",
                                      "webhook_backoff_max_s": "10"},
                             env={"ORDERHUB_TRACKING_POLL_S": "20"})
ORDER_DRILLS = ("worker_killed", "partner_faults", "server_restarted", "db_cut")
DRILLS = (*ORDER_DRILLS, "webhooks")


@dataclass
class DrillResult:
    drill: str
    orders: int
    seconds: float = 0.0
    completed: int = 0
    cancelled: int = 0
    lost: list[str] = field(default_factory=list)  # posted, never recorded
    stuck: dict[str, str] = field(default_factory=dict)  # order -> status at the deadline
    wrong_end: dict[str, str] = field(default_factory=dict)  # cancelled but completed, or the other way
    waybills: dict[str, int] = field(default_factory=dict)  # order -> waybills, where not 1
    refunds: dict[str, int] = field(default_factory=dict)  # order -> refunds, where not as expected
    stock: dict[str, int] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def problems(self) -> list[str]:
        found = [f"{name}: {value}" for name, value in (
            ("lost", self.lost), ("stuck", self.stuck), ("wrong end", self.wrong_end),
            ("waybills", self.waybills), ("refunds", self.refunds)) if value]
        s = self.stock
        if s and (s["on_hand"] + s["shipped"] != s["initial"] or s["reserved"] != 0):
            found.append(f"stock: {s}")
        return found

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "ok": not self.problems()}


class Drill:
    """One order drill on a bench stack: post, scan or cancel, strike, check."""

    def __init__(self, b: BenchStack, name: str, n: int, *, concurrency: int = 30, cancel_every: int = 5,
                 deadline_s: float | None = None) -> None:
        self.b, self.name, self.n = b, name, n
        self.sku = f"DRILL-{name.upper().replace('_', '-')}-{uuid.uuid4().hex[:6].upper()}"
        self.initial = n + 10
        self.concurrency, self.cancel_every = concurrency, cancel_every
        self.deadline_s = deadline_s or 120 + n / 2  # room for a slow machine; a stuck order still fails
        self.posted: dict[str, dict[str, Any]] = {}  # order id -> body
        self.to_cancel: set[str] = set()
        self.acted: set[str] = set()
        # Cancels sent, answered or not: a restart can lose the answer to a cancel the order took.
        self.cancel_sent: set[str] = set()
        self.status: dict[str, str] = {}
        self.post_retries = 0
        self.struck = asyncio.Event()

    async def run(self, strike: Callable[[], Awaitable[Any]]) -> DrillResult:
        operator = self.b.hub._auth("operator")
        (await self.b.hub.http.put(f"/v1/stock/{self.sku}", headers=operator, json={
            "warehouse": WAREHOUSE, "on_hand": self.initial, "safety_stock": 0})).raise_for_status()
        started = time.monotonic()
        self.deadline = started + self.deadline_s
        posting = asyncio.create_task(self._post_all())
        striking = asyncio.create_task(self._strike_when_a_third_is_in(strike))
        try:
            await self._warehouse_until_settled(posting)
            await striking
        finally:
            for task in (posting, striking):
                task.cancel()
        result = DrillResult(self.name, self.n, seconds=round(time.monotonic() - started, 1))
        await self._check(result)
        result.notes.update(post_retries=self.post_retries)
        return result

    async def _strike_when_a_third_is_in(self, strike: Callable[[], Awaitable[Any]]) -> None:
        while len(self.posted) < self.n // 3:
            await asyncio.sleep(0.05)
        await strike()
        self.struck.set()

    async def _post_all(self) -> None:
        numbers = iter(range(self.n))

        async def client() -> None:
            for i in numbers:
                body = new_order([(self.sku, 1)], paid=True)
                # The buyer pays at the gateway first: a cancel's refund goes back to that trade.
                body["trade_no"] = await pay_at_gateway(self.b.sandbox_url, out_trade_no_of(body), order_total(body))
                order_id = await self._post(body)
                self.posted[order_id] = body
                if i % self.cancel_every == 0:
                    self.to_cancel.add(order_id)
        await asyncio.gather(*(client() for _ in range(self.concurrency)))

    async def _post(self, body: dict[str, Any]) -> str:
        response, failed = await self.b.post_until_answered(body, self.deadline)
        self.post_retries += failed
        if response.status_code not in (200, 201, 202):
            raise AssertionError(f"order refused: {response.status_code} {response.text[:300]}")
        return response.json()["order_id"]

    @staticmethod
    async def _call(request: Awaitable[httpx.Response]) -> httpx.Response | None:
        try:
            return await request
        except httpx.TransportError:
            return None

    async def _warehouse_until_settled(self, posting: asyncio.Task[None]) -> None:
        """Scan (or cancel) what waits for the warehouse; until every order is final or the deadline."""
        while time.monotonic() < self.deadline:
            if posting.done() and posting.exception() is not None:
                raise posting.exception()  # type: ignore[misc]
            self.status = await self._statuses()
            waiting = [o for o, s in self.status.items() if s == "AWAITING_SCAN" and o not in self.acted]
            await asyncio.gather(*(self._scan_or_cancel(o) for o in waiting))
            if posting.done() and self.struck.is_set() and len(self.status) == len(self.posted) \
                    and all(s in FINAL for s in self.status.values()):
                return
            await asyncio.sleep(0.5)

    async def _scan_or_cancel(self, order_id: str) -> None:
        action = "cancel" if order_id in self.to_cancel else "shipment"
        body = {"reason": "drill: buyer changed their mind"} if action == "cancel" else None
        if action == "cancel":
            self.cancel_sent.add(order_id)
        response = await self._call(self.b.hub.act(order_id, action, body))
        # 202: the order took it while its worker was away, and will apply it; else the next round tries again
        if response is not None and response.status_code in (200, 202):
            self.acted.add(order_id)

    async def _statuses(self) -> dict[str, str]:
        ids = list(self.posted)
        found: dict[str, str] = {}
        async with session_scope(self.b.settings.db_url) as session:
            for at in range(0, len(ids), 500):
                rows = await session.execute(select(OrderRecord.order_id, OrderRecord.status)
                                             .where(OrderRecord.order_id.in_(ids[at:at + 500])))
                found.update(dict(rows.all()))
        return found

    async def _check(self, r: DrillResult) -> None:
        r.lost = sorted(set(self.posted) - set(self.status))
        for order_id, status in self.status.items():
            if status not in FINAL:
                r.stuck[order_id] = status
            elif (status == "CANCELLED") != (order_id in self.cancel_sent):
                r.wrong_end[order_id] = status
        r.completed = sum(s == "COMPLETED" for s in self.status.values())
        r.cancelled = sum(s == "CANCELLED" for s in self.status.values())

        async with session_scope(self.b.settings.db_url) as session:
            shipments = dict((await session.execute(select(ShipmentRecord.shipment_id, ShipmentRecord.order_id)
                                                    .join(OrderRecord).where(OrderRecord.order_id.in_(
                                                        list(self.posted))))).all())
            level = await session.get(StockLevel, (self.sku, WAREHOUSE))
            shipped = await session.scalar(select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
                Reservation.sku == self.sku, Reservation.status == "COMMITTED"))
        assert level is not None
        r.stock = {"initial": self.initial, "on_hand": level.on_hand, "reserved": level.reserved,
                   "shipped": shipped or 0}

        waybills = [w for w in await self._records("waybill")
                    if any(p.get("sku") == self.sku for p in w["body"].get("parcels", []))]
        per_order = Counter(shipments.get(w["key"], f"unknown shipment {w['key']}") for w in waybills)
        printed = {o for o in self.posted if self.status.get(o) == "COMPLETED"} | set(per_order)
        r.waybills = {o: per_order[o] for o in printed if per_order[o] != 1 or o.startswith("unknown shipment")}
        r.notes["waybill_requests"] = sum(w["received"] for w in waybills)

        trade_of = {body["trade_no"]: order_id for order_id, body in self.posted.items()}
        refunds = Counter(trade_of.get(f["body"]["trade_no"]) for f in await self._records("refund")
                          if f["body"]["trade_no"] in trade_of and f["body"]["refund_amount"] == PRICE_YUAN)
        for order_id in self.posted:
            expected = 1 if self.status.get(order_id) == "CANCELLED" else 0
            if refunds[order_id] != expected:
                r.refunds[order_id] = refunds[order_id]

    async def _records(self, kind: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.b.sandbox_url, timeout=30) as http:
            return (await http.get("/_sandbox/records", params={"kind": kind})).json()["items"]


async def sandbox_faults(b: BenchStack, *rules: dict[str, Any]) -> dict[str, int]:
    """Replace the sandbox's fault rules; the failures it has injected so far, per endpoint."""
    async with httpx.AsyncClient(base_url=b.sandbox_url, timeout=10) as http:
        injected = (await http.get("/_sandbox/faults")).json()["injected"]
        (await http.delete("/_sandbox/faults")).raise_for_status()
        for rule in rules:
            (await http.put("/_sandbox/faults", json=rule)).raise_for_status()
        return injected


def struck(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {e: n - before.get(e, 0) for e, n in after.items() if n > before.get(e, 0)}


async def worker_killed(b: BenchStack, n: int, **kw: Any) -> DrillResult:
    pids = [b.worker.pid]

    async def strike() -> None:
        b.kill_worker()
        await asyncio.sleep(2)
        b.start_worker()
        pids.append(b.worker.pid)
    result = await Drill(b, "worker_killed", n, **kw).run(strike)
    result.notes.update(worker_pids=pids)
    return result


# Calls that change something fail "after": the effect happens and the answer is lost, so only an
# idempotency key stands between a retry and a second waybill, subscription, ship-back or refund.
PARTNER_ENDPOINTS = {"carrier.create_waybill": "after", "carrier.subscribe": "after", "carrier.tracking": "before",
                     "gateway.refund": "after", "gateway.refund_query": "before", "own_store.shipback": "after"}


async def partner_faults(b: BenchStack, n: int, *, failure_rate: float = 0.17, latency_ms: int = 150,
                         **kw: Any) -> DrillResult:
    """Faults from the start to the end of the drill."""
    before = await sandbox_faults(b, *({"endpoint": e, "failure_rate": failure_rate, "latency_ms": latency_ms,
                                        "failure_mode": mode} for e, mode in PARTNER_ENDPOINTS.items()))
    try:
        result = await Drill(b, "partner_faults", n, **kw).run(lambda: asyncio.sleep(0))
    finally:
        after = await sandbox_faults(b)
    result.notes.update(failure_rate=failure_rate, latency_ms=latency_ms, injected=struck(before, after))
    if not result.notes["injected"]:
        result.wrong_end["drill"] = "no fault was injected"
    return result


async def server_restarted(b: BenchStack, n: int, *, down_s: float = 3, **kw: Any) -> DrillResult:
    pids = [b.server.pid]

    async def strike() -> None:
        await b.restart_server(down_s)
        pids.append(b.server.pid)
    result = await Drill(b, "server_restarted", n, **kw).run(strike)
    result.notes.update(down_s=down_s, server_pids=pids)
    return result


async def db_cut(b: BenchStack, n: int, *, down_s: float = 5, **kw: Any) -> DrillResult:
    assert b.db_link is not None, "the stack needs cut_db_link=True"
    result = await Drill(b, "db_cut", n, **kw).run(lambda: b.db_link.cut(down_s))  # type: ignore[union-attr]
    result.notes.update(down_s=down_s)
    return result


async def webhooks(b: BenchStack, n: int, *, duplicate_rate: float = 0.3, cancel_every: int = 5,
                   deadline_s: float | None = None) -> DrillResult:
    """Shopify pushes each order's create, then pay (or cancel for every `cancel_every`-th): events
    come twice at `duplicate_rate`, and each order's create is held back until its next event is in."""
    sku = f"DRILL-HOOKS-{uuid.uuid4().hex[:6].upper()}"
    result = DrillResult("webhooks", n)
    started = time.monotonic()
    (await b.hub.http.put(f"/v1/stock/{sku}", headers=b.hub._auth("operator"), json={
        "warehouse": WAREHOUSE, "on_hand": 3 * n, "safety_stock": 0})).raise_for_status()
    await sandbox_faults(b, {"endpoint": "shopify.webhook", "duplicate_rate": duplicate_rate, "out_of_order": True,
                             "latency_ms": 20})
    shop = "/_sandbox/platforms/shopify/shops/default"
    expected: dict[str, str] = {}
    try:
        async with httpx.AsyncClient(base_url=b.sandbox_url, timeout=30) as http:
            created = (await http.post(f"{shop}/orders", json={"count": n, "skus": [sku], "paid": False})).json()["created"]
            for i, external_id in enumerate(created):
                event = "cancel" if i % cancel_every == 0 else "pay"
                (await http.post(f"{shop}/orders/{external_id}/events", json={"event": event})).raise_for_status()
                expected[order_id_for("shopify", "default", external_id)] = "CANCELLED" if event == "cancel" else "AWAITING_SCAN"
            while time.monotonic() - started < (deadline_s or 120 + n / 2):
                async with session_scope(b.settings.db_url) as session:
                    status = dict((await session.execute(select(OrderRecord.order_id, OrderRecord.status).where(
                        OrderRecord.order_id.in_(list(expected))))).all())
                hooks = [h for h in (await http.get("/_sandbox/records", params={"kind": "webhook"})).json()["items"]
                         if h["body"]["external_id"] in created]
                settled = all(h["result"]["delivered"] >= 1 + h["body"]["duplicate"] for h in hooks)
                if settled and status == expected:
                    break
                await asyncio.sleep(1)
    finally:
        await sandbox_faults(b)
    runs = Counter()
    async for execution in b.client.list_workflows("WorkflowType = 'OrderWorkflow'"):
        if execution.id.removeprefix("order-") in expected:
            runs[execution.id.removeprefix("order-")] += 1
    result.seconds = round(time.monotonic() - started, 1)
    result.lost = sorted(set(expected) - set(status))
    result.wrong_end = {o: status[o] for o in expected if o in status and status[o] != expected[o]}
    result.completed = sum(s == "AWAITING_SCAN" for s in status.values())
    result.cancelled = sum(s == "CANCELLED" for s in status.values())
    result.notes.update(
        events=len(hooks), delivered_twice=sum(h["body"]["duplicate"] for h in hooks),
        deliveries=sum(h["result"]["delivered"] for h in hooks), all_delivered=settled,
        refused_or_abandoned=[h["key"] for h in hooks if h["result"]["final"]],
        runs_not_one={o: runs[o] for o in expected if runs[o] != 1})
    result.lost += result.notes["refused_or_abandoned"]
    if result.notes["runs_not_one"]:
        result.wrong_end.update({o: f"{c} workflow runs" for o, c in result.notes["runs_not_one"].items()})
    return result


async def run_drills(b: BenchStack, n: int, names: tuple[str, ...] = DRILLS) -> dict[str, dict[str, Any]]:
    drills = {"worker_killed": worker_killed, "partner_faults": partner_faults, "server_restarted": server_restarted,
              "db_cut": db_cut, "webhooks": webhooks}
    return {name: (await drills[name](b, n)).summary() for name in names}
