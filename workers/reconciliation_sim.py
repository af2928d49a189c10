"""`orderhub simulate-reconciliation`: plant a seeded day of money (models.reconciliation_plan) in the hub and
the sandbox, so that reconciling the day must report exactly the planted differences.

Hub side: each order the hub should know is registered through the hub's own functions (activities.orders
`register_in`, models.ledger `record_receipt`, `claim_refund` + `settle_refund`), marked as simulated by its
workflow id, and left COMPLETED. Sandbox side: bill lines and their overrides, gateway trades and refunds
through `/_sandbox/settlement`. A new simulation replaces the previous one: the simulated hub orders and the
sandbox's planted bill lines are forgotten first.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import delete, update
from sqlmodel import col, select

from activities.orders import register_in
from models.db import session_scope
from models.ledger import claim_refund, record_receipt, settle_refund
from models.order import Buyer, Order, OrderLine, OrderStatus, as_channel
from models.order_workflow import RegisterOrderInput
from models.reconciliation import BILL_CHANNELS, GATEWAY_CHANNEL, DifferenceKind
from models.reconciliation_plan import SIMULATION_WORKFLOW_ID, PlannedOrder, ReconciliationPlan
from models.tables import MoneyEntry, OrderEvent, OrderLineRecord, OrderRecord, Shop

K = DifferenceKind
# Not a person: the simulated orders' receiver (buyers' data never matters to the money).
BUYER = Buyer(name="对账测试", phone="13800000000", province="浙江省", city="杭州市", district="西湖区",
              address="文三路 1 号")


async def forget_simulation(db_url: str) -> None:
    async with session_scope(db_url) as session:
        ids = list((await session.exec(select(OrderRecord.order_id).where(
            col(OrderRecord.workflow_id) == SIMULATION_WORKFLOW_ID))).all())
        if ids:
            for table in (MoneyEntry, OrderEvent, OrderLineRecord, OrderRecord):
                await session.exec(delete(table).where(col(table.order_id).in_(ids)))


async def plant_in_hub(db_url: str, o: PlannedOrder) -> None:
    order = Order(channel=as_channel(o.channel), shop=o.shop, external_id=o.external_id, paid=True, trade_no=o.trade_no,
                  buyer=BUYER, lines=[OrderLine(sku="SKU-1", quantity=1, unit_price=o.amount)], placed_at=o.paid_at)
    async with session_scope(db_url) as session:
        await register_in(session, RegisterOrderInput(order=order, workflow_id=SIMULATION_WORKFLOW_ID,
                                                      received_at=o.paid_at))
        await session.exec(update(OrderRecord).where(col(OrderRecord.order_id) == order.order_id)
                           .values(status=OrderStatus.COMPLETED.value))
        record = await session.get(OrderRecord, order.order_id)
        assert record is not None
        await record_receipt(session, record, key="payment", reference=o.trade_no, amount=o.amount, source="payment",
                             at=o.paid_at)
        if o.refunded:
            request_no = f"SIM-{o.external_id}"
            await claim_refund(session, record, request_no=request_no, amount=o.refunded, source="ticket", at=o.paid_at)
            await settle_refund(session, record.order_id, request_no, moved=True, at=o.paid_at)


async def plant_in_sandbox(http: httpx.AsyncClient, o: PlannedOrder) -> None:
    async def call(method: str, path: str, body: dict[str, Any]) -> None:
        answer = await http.request(method, f"/_sandbox/settlement{path}", json=body)
        answer.raise_for_status()

    paid_at = o.paid_at.isoformat()
    if o.channel == GATEWAY_CHANNEL:
        assert o.trade_no is not None
        if o.kind is not K.PAYMENT_MISSING:
            amount = o.amount + (o.delta if o.kind is K.AMOUNT_MISMATCH else 0)
            await call("POST", "/gateway/payments", {"trade_no": o.trade_no, "out_trade_no": o.external_id,
                                                     "amount": amount, "paid_at": paid_at})
        if o.kind is K.REFUND_MISMATCH:
            await call("POST", "/gateway/refunds", {"trade_no": o.trade_no, "out_request_no": f"SIM-{o.external_id}",
                                                    "amount": o.delta, "at": paid_at})
        return
    if o.kind is K.MISSING_ON_PLATFORM:
        return
    shop = f"/{o.channel}/shops/{o.shop}"
    await call("POST", f"{shop}/lines", {"external_id": o.external_id, "paid_at": paid_at, "amount": o.amount,
                                         "refunded": o.refunded, "subsidy": o.subsidy})
    change: dict[DifferenceKind | None, dict[str, Any]] = {K.AMOUNT_MISMATCH: {"amount": o.amount + o.delta}, K.STATUS_MISMATCH: {"closed": True},
              K.REFUND_MISMATCH: {"extra_refund": o.delta}, K.SETTLEMENT_MISMATCH: {"settled_delta": -o.delta}}
    if o.kind in change:
        await call("PUT", f"{shop}/orders/{o.external_id}", change[o.kind])


async def simulate_reconciliation(db_url: str, sandbox: httpx.AsyncClient, plan: ReconciliationPlan) -> tuple[dict[str, Any], list[str]]:
    """Plant the plan on both sides. Answers what `simulate-reconciliation` prints, and the planted orders' shops
    the hub has no credentials for (their bills cannot be fetched, so their differences would not be found)."""
    async with session_scope(db_url) as session:
        shops = set((await session.exec(select(Shop.channel, Shop.shop))).all())
    missing = sorted({f"{o.channel}/{o.shop}" for o in plan.orders
                      if o.channel in BILL_CHANNELS and (o.channel, o.shop) not in shops})
    await forget_simulation(db_url)
    (await sandbox.delete("/_sandbox/settlement")).raise_for_status()
    for o in plan.orders:
        if o.in_hub:
            await plant_in_hub(db_url, o)
        await plant_in_sandbox(sandbox, o)
    return {"planted": [p.model_dump(mode="json") for p in plan.planted], "clean": plan.clean}, missing

