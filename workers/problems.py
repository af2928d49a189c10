"""`orderhub simulate-problems`: a stream of orders through the API with seeded problems, then the
check that every problem order sits in the right queue with the right tags and no clean order is held.

The mix is drawn from a seeded random generator, so a run can be repeated. Each kind of problem is
made the way it happens: a vague address or a dead phone from the buyer, a dispute word in the buyer's
message, more units than any warehouse holds, a fourth unpaid order from one buyer within the hour,
a payment callback whose amount does not match.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from models.order import MAX_QUANTITY
from workers.scenarios import BUYER, Hub, a_phone

VAGUE_ADDRESSES = ("小区门口菜鸟驿站代收", "幸福路 8 号楼下", "地铁站附近", "学校对面快递柜", "丰巢柜自提")
DEAD_PHONES = ("12345", "1381234567", "19999999999", "000-0000")
DISPUTE_MESSAGES = ("上次发的是假货，再这样就投诉", "质量太差给差评", "fake product again, filing a complaint")
# kind -> (share of the stream, tags the order must end with, team of its queue)
KINDS: dict[str, tuple[float, list[str], str | None]] = {
    "clean": (0.55, [], None),
    "fuzzy_address": (0.1, ["fuzzy_address"], "address_desk"),
    "invalid_phone": (0.08, ["invalid_phone"], "address_desk"),
    "dispute_words": (0.08, ["dispute_words"], "customer_care"),
    "out_of_stock": (0.07, ["out_of_stock"], "inventory"),
    "suspected_fraud": (0.06, ["suspected_fraud"], "risk"),
    "payment_callback_failed": (0.06, ["payment_callback_failed"], "payments"),
}


@dataclass
class Planted:
    kind: str
    order_id: str = ""
    extra_clean: list[str] = field(default_factory=list)  # the fraud burst's first, unflagged orders


@dataclass
class Outcome:
    kind: str
    order_id: str
    expected: list[str]
    tags: list[str]
    status: str
    queued_in: set[str]

    @property
    def right(self) -> bool:
        team = KINDS[self.kind][2]
        if not self.expected:
            return self.tags == [] and self.status != "ON_HOLD" and not self.queued_in
        return set(self.expected) <= set(self.tags) and team in self.queued_in


def _order(rng: random.Random, **changes: Any) -> dict[str, Any]:
    buyer = {**BUYER, "phone": a_phone(), **changes.pop("buyer", {})}
    tags = rng.choice([[], [], [], ["vip"], ["urgent"]])
    return {"channel": "own_store", "shop": "default", "external_id": f"P{uuid.uuid4().hex[:10]}", "paid": True,
            "buyer": buyer, "priority_tags": tags,
            "lines": [{"sku": rng.choice(["SKU-1", "SKU-2"]), "quantity": 1, "unit_price": 1999}], **changes}


async def _plant(hub: Hub, rng: random.Random, kind: str) -> Planted:
    planted = Planted(kind)
    if kind == "suspected_fraud":
        buyer_id = f"burst-{uuid.uuid4().hex[:8]}"
        for _ in range(3):  # three unpaid orders within the hour: not yet suspicious
            first = await _post(hub, _order(rng, paid=False, buyer_id=buyer_id))
            planted.extra_clean.append(first)
        planted.order_id = await _post(hub, _order(rng, paid=False, buyer_id=buyer_id))
        return planted
    body = {
        "clean": lambda: _order(rng),
        "fuzzy_address": lambda: _order(rng, buyer={"address": rng.choice(VAGUE_ADDRESSES)}),
        "invalid_phone": lambda: _order(rng, buyer={"phone": rng.choice(DEAD_PHONES)}),
        "dispute_words": lambda: _order(rng, buyer_message=rng.choice(DISPUTE_MESSAGES)),
        "out_of_stock": lambda: _order(rng, lines=[{"sku": "SKU-3", "quantity": MAX_QUANTITY, "unit_price": 1999}]),
        "payment_callback_failed": lambda: _order(rng, paid=False),
    }[kind]()
    planted.order_id = await _post(hub, body)
    if kind == "payment_callback_failed":  # the gateway took one fen: a cancel later refunds that trade
        trade_no = await hub.pay_at_gateway(f"{body['shop']}-{body['external_id']}", 1)
        response = await hub.act(planted.order_id, "payment", {"trade_no": trade_no, "amount": 1}, role="channel")
        if response.status_code >= 400:
            raise RuntimeError(f"payment callback answered {response.status_code}: {response.text}")
    return planted


async def _post(hub: Hub, body: dict[str, Any]) -> str:
    response = await hub.post_order(body)
    if response.status_code not in (200, 201, 202):
        raise RuntimeError(f"POST /v1/orders answered {response.status_code}: {response.text}")
    return response.json()["order_id"]


async def run_stream(hub: Hub, count: int, seed: int, *, settle_s: float = 60) -> list[Outcome]:
    """Post `count` orders (the fraud bursts add their first three) and check where each one ended."""
    rng = random.Random(seed)
    names, weights = list(KINDS), [share for share, _, _ in KINDS.values()]
    kinds = names[1:] if count >= len(names) else []  # every kind of problem at least once
    kinds += rng.choices(names, weights, k=count - len(kinds))
    rng.shuffle(kinds)
    planted = [await _plant(hub, rng, kind) for kind in kinds]
    expected = {p.order_id: (p.kind, KINDS[p.kind][1]) for p in planted}
    expected |= {order_id: ("clean", []) for p in planted for order_id in p.extra_clean}

    deadline = time.monotonic() + settle_s
    orders: dict[str, dict[str, Any]] = {}
    while True:  # until each order has settled: its tags raised, its stock decided
        orders = {order_id: await hub.order(order_id) for order_id in expected}
        if all(set(tags) <= set(orders[o]["exception_tags"]) and orders[o]["status"] not in ("RECEIVED", "FULFILLING")
               for o, (_, tags) in expected.items()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    queued: dict[str, set[str]] = {}
    page = 1
    while True:
        response = await hub.http.get("/v1/exceptions", params={"page": page}, headers=hub._auth("operator"))
        response.raise_for_status()
        items = response.json()["items"]
        for item in items:
            queued.setdefault(item["order_id"], set()).add(item["team"])
            for tag in item["tags"]:  # an order with several tags is in each of their teams' queues
                team = KINDS.get(tag, (0, [], None))[2]
                if team:
                    queued[item["order_id"]].add(team)
        if len(items) < response.json()["page_size"]:
            break
        page += 1
    return [Outcome(kind, order_id, tags, orders[order_id]["exception_tags"], orders[order_id]["status"],
                    queued.get(order_id, set())) for order_id, (kind, tags) in expected.items()]


def report(outcomes: list[Outcome], console: Console) -> bool:
    table = Table(title="seeded problems: where each order ended")
    for column in ("kind", "orders", "right queue, right tags", "wrong"):
        table.add_column(column)
    totals, right = Counter(o.kind for o in outcomes), Counter(o.kind for o in outcomes if o.right)
    for kind in KINDS:
        if totals[kind]:
            table.add_row(kind, str(totals[kind]), str(right[kind]), str(totals[kind] - right[kind]))
    console.print(table)
    for outcome in (o for o in outcomes if not o.right):
        console.print(f"[red]{outcome.order_id} ({outcome.kind}): {outcome.status}, tags {outcome.tags}, "
                      f"queues {sorted(outcome.queued_in)}[/red]")
    return all(o.right for o in outcomes)
