"""A seeded day of money with known differences: what `orderhub simulate-reconciliation` plants in the sandbox
and the hub, and what the comparison tests feed `compare`. Pure: the same seed and day give the same plan.

Every order is clean on both sides (the hub's order and ledger, the platform's bill line or the gateway's
trade) except the one change its planted kind makes, so reconciling the day must find exactly the planted
differences: one per planted order, nothing on a clean one.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from models.reconciliation import BILL_CHANNELS, GATEWAY_CHANNEL, DifferenceKind

# Which channels each kind can be planted on: a bill's kinds on the marketplaces, the gateway's on own store.
PLANTABLE: dict[DifferenceKind, tuple[str, ...]] = {
    DifferenceKind.MISSING_IN_HUB: BILL_CHANNELS,
    DifferenceKind.MISSING_ON_PLATFORM: BILL_CHANNELS,
    DifferenceKind.AMOUNT_MISMATCH: (*BILL_CHANNELS, GATEWAY_CHANNEL),
    DifferenceKind.STATUS_MISMATCH: BILL_CHANNELS,
    DifferenceKind.PAYMENT_MISSING: (GATEWAY_CHANNEL,),
    DifferenceKind.PAYMENT_UNMATCHED: (GATEWAY_CHANNEL,),
    DifferenceKind.REFUND_MISMATCH: (*BILL_CHANNELS, GATEWAY_CHANNEL),
    DifferenceKind.SETTLEMENT_MISMATCH: BILL_CHANNELS,
}
SIMULATION_WORKFLOW_ID = "simulated-reconciliation"  # marks the hub orders a simulation created
AMOUNTS = (990, 1990, 4990, 9900, 12900, 19900)


class PlannedOrder(BaseModel):
    """One order of the day. `kind` None: clean. `delta` is the planted difference's size in fen."""

    channel: str
    shop: str
    external_id: str
    paid_at: datetime
    amount: int
    refunded: int = 0  # refunded on both sides (a clean partial refund)
    subsidy: int = 0
    trade_no: str | None = None  # own store: the gateway trade
    kind: DifferenceKind | None = None
    delta: int = 0

    @property
    def in_hub(self) -> bool:
        return self.kind not in (DifferenceKind.MISSING_IN_HUB, DifferenceKind.PAYMENT_UNMATCHED)


class Plant(BaseModel):
    kind: DifferenceKind
    channel: str
    external_id: str


class ReconciliationPlan(BaseModel):
    day: date
    orders: list[PlannedOrder]

    @property
    def planted(self) -> list[Plant]:
        return [Plant(kind=o.kind, channel=o.channel, external_id=o.external_id) for o in self.orders if o.kind]

    @property
    def clean(self) -> int:
        return sum(1 for o in self.orders if o.kind is None)


def plan_day(day: date, seed: int, *, shop: str = "default", time_zone: str = "Asia/Shanghai",
             clean: tuple[int, int] = (6, 14), per_kind: tuple[int, int] = (1, 2)) -> ReconciliationPlan:
    """Clean orders spread over the channels and, for every kind, `per_kind` planted ones on channels it
    can be planted on; times spread over the day, ids unique within the plan (and marked by the seed)."""
    rng = random.Random(f"{day.isoformat()}/{seed}")
    midnight = datetime.combine(day, time(0), tzinfo=ZoneInfo(time_zone))
    used: set[str] = set()

    def new_id() -> str:
        while True:
            external_id = f"R{seed % 1000:03d}{rng.randrange(10**9):09d}"
            if external_id not in used:
                used.add(external_id)
                return external_id

    def order(channel: str, kind: DifferenceKind | None) -> PlannedOrder:
        amount = rng.choice(AMOUNTS) * rng.randint(1, 3)
        external_id = new_id()
        o = PlannedOrder(channel=channel, shop=shop, external_id=external_id, amount=amount,
                         paid_at=(midnight + timedelta(seconds=rng.randrange(60, 86_340))).astimezone(UTC),
                         refunded=rng.choice((0, 0, 0, amount // 2)) if kind is None else 0,
                         subsidy=rng.choice((0, 0, 300)) if channel != GATEWAY_CHANNEL else 0,
                         trade_no=f"2026{external_id}" if channel == GATEWAY_CHANNEL else None, kind=kind)
        if o.refunded and channel == GATEWAY_CHANNEL:
            o.refunded = 0  # a gateway refund of another day would not be on this day's statement
        if kind is not None:
            o.delta = rng.choice((100, 500, 1000, amount // 4 or 1))
        return o

    orders = [order(rng.choice((*BILL_CHANNELS, GATEWAY_CHANNEL)), None) for _ in range(rng.randint(*clean))]
    for kind, channels in PLANTABLE.items():
        orders.extend(order(rng.choice(channels), kind) for _ in range(rng.randint(*per_kind)))
    rng.shuffle(orders)
    return ReconciliationPlan(day=day, orders=orders)
