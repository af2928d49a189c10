"""Temporal task priority for an order: vip and urgent orders jump the queue when workers are saturated.

Set once when the order's workflow starts; its activities (and child workflows) inherit it. Lower
keys are dispatched first. The server's default range is 1..5 with 3 for tasks that set none, so
ordinary orders share the level of every other untagged workflow (channel syncs, after-sales).
"""

from __future__ import annotations

from temporalio.common import Priority

from models.order import Order

# Order.priority keyword -> Temporal priority_key (1 = first). Presale goods ship later anyway, so
# their orders may wait behind ordinary ones.
PRIORITY_LEVELS: dict[str, int] = {"urgent": 1, "vip": 2, "normal": 3, "presale": 4}


def priority_for(order: Order) -> Priority:
    return Priority(priority_key=PRIORITY_LEVELS[order.priority])
