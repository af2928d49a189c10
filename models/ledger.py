"""The money ledger: what each order received and what went back, by route and reference.

Every refund path (after-sales tickets, order cancels, late payments) claims its amount here, in
the transaction that checks what is left of what was received, under the order row's lock
(`lock_order`, the one place that takes it). So no combination of tickets, cancels and resolves
can send back more than came in. A claim ends `done` (the money moved) or `released` (it did not).

Money goes back the way it came: own-store orders were paid through the payment gateway, so they
are refunded through it; marketplace orders were paid to the platform, so the platform refunds them
through its own after-sales API. The ledger's `route` records which.

Entry ids are derived from order data (`in:{order}:{source}`, `out:{order}:{refund request no}`),
so every write is idempotent under retries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import DateTime, case, func, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tables import MoneyEntry, OrderRecord

Direction = Literal["in", "out"]
Route = Literal["gateway", "channel"]
EntryStatus = Literal["claimed", "done", "released", "held"]
Source = Literal["payment", "late_payment", "deposit", "balance", "cancel", "ticket"]

# Channels whose buyers pay through OrderHub's own payment gateway; every other channel is a
# marketplace that took the buyer's money itself.
GATEWAY_CHANNELS = frozenset({"own_store"})


class OrderIdentity(BaseModel):
    """What the ledger needs to name an order (an `OrderRecord` has it too)."""

    order_id: str
    channel: str
    shop: str
    external_id: str
    trade_no: str | None = None


OrderLike = OrderRecord | OrderIdentity


def refund_route(channel: str) -> Route:
    return "gateway" if channel in GATEWAY_CHANNELS else "channel"


def receipt_id(order_id: str, key: str) -> str:
    return f"in:{order_id}:{key}"


def refund_id(order_id: str, request_no: str) -> str:
    return f"out:{order_id}:{request_no}"


class Balance(BaseModel):
    """Fen. `held`: received for an order that was already closed, kept for finance to decide."""

    received: int = 0
    refunded: int = 0
    claimed: int = 0  # refunds asked for and not yet moved
    held: int = 0

    @property
    def seen(self) -> bool:
        """Any money recorded as come in for the order (held included)."""
        return self.received + self.held > 0

    @property
    def refundable(self) -> int:
        return self.received - self.refunded - self.claimed


class RefundExceedsReceived(Exception):
    def __init__(self, order_id: str, asked: int, balance: Balance) -> None:
        super().__init__(f"order {order_id}: a refund of {asked} fen asked, {balance.refundable} fen left of "
                         f"{balance.received} received ({balance.refunded} refunded, {balance.claimed} claimed)")
        self.asked, self.balance = asked, balance


async def lock_order(session: AsyncSession, order_id: str) -> OrderRecord | None:
    """Take the order row's lock (a write: PostgreSQL's row lock, SQLite's write lock) and read the row.
    Every transaction that claims money or units against an order takes this lock first."""
    locked = await session.exec(update(OrderRecord).where(col(OrderRecord.order_id) == order_id)
                                .values(updated_at=OrderRecord.updated_at))
    return await session.get(OrderRecord, order_id) if locked.rowcount else None


async def balance(session: AsyncSession, order_id: str, *, excluding: str | None = None) -> Balance:
    def total(direction: str, *statuses: str) -> object:
        return func.coalesce(func.sum(case(
            (col(MoneyEntry.direction).__eq__(direction) & col(MoneyEntry.status).in_(statuses), MoneyEntry.amount),
            else_=0)), 0)
    query = select(total("in", "done"), total("out", "done"), total("out", "claimed"),  # type: ignore[call-overload]
                   total("in", "held")).where(col(MoneyEntry.order_id) == order_id)
    if excluding is not None:
        query = query.where(col(MoneyEntry.entry_id) != excluding)
    received, refunded, claimed, held = (await session.exec(query)).one()
    return Balance(received=received, refunded=refunded, claimed=claimed, held=held)


async def record_order_payment(session: AsyncSession, order_id: str, at: datetime) -> None:
    """The order's payment as a receipt, once, straight from its row (total and trade number), unless
    it was received in parts: one statement on the order's hot path, no read first."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    o = OrderRecord
    route = case((col(o.channel).in_(GATEWAY_CHANNELS), literal("gateway")), else_=literal("channel"))
    stamp = literal(at, DateTime(timezone=True))
    rows = select(literal(receipt_id(order_id, "payment")), o.order_id, o.channel, o.shop, o.external_id,  # type: ignore[call-overload]
                  literal("in"), route, func.coalesce(o.trade_no, o.external_id), o.total_amount, literal("done"),
                  literal("payment"), stamp, stamp).where(
        col(o.order_id) == order_id,
        # Received in parts already (a presale's deposit and balance): those are the payment.
        ~select(MoneyEntry.entry_id).where(col(MoneyEntry.order_id) == order_id,
                                           col(MoneyEntry.direction) == "in").exists())
    columns = ["entry_id", "order_id", "channel", "shop", "external_id", "direction", "route", "reference", "amount",
               "status", "source", "created_at", "updated_at"]
    conn = await session.connection()
    await conn.execute(insert(MoneyEntry).from_select(columns, rows).on_conflict_do_nothing(index_elements=["entry_id"]))


async def record_receipt(session: AsyncSession, order: OrderLike, *, key: str, reference: str | None, amount: int,
                         source: Source, at: datetime, status: EntryStatus = "done") -> MoneyEntry:
    """Money in, once per key; a later call may add the trade number the first one lacked."""
    entry_id = receipt_id(order.order_id, key)
    entry = await session.get(MoneyEntry, entry_id)
    if entry is None:
        entry = MoneyEntry(entry_id=entry_id, order_id=order.order_id, channel=order.channel, shop=order.shop,
                           external_id=order.external_id, direction="in", route=refund_route(order.channel),
                           reference=reference or order.external_id, amount=amount, status=status, source=source,
                           created_at=at, updated_at=at)
        session.add(entry)
    elif reference and entry.reference != reference:
        entry.reference, entry.updated_at = reference, at
    await session.flush()
    return entry


async def claim_refund(session: AsyncSession, order: OrderLike, *, request_no: str, amount: int | None,
                       source: Source, at: datetime, ticket_id: str | None = None) -> MoneyEntry:
    """Claim a refund against what is left; the caller holds the order's lock (`lock_order`).

    `amount` None claims everything still refundable. A repeat with the same request number
    answers the claim already made (changed to `amount` when that differs and still fits). A gateway
    refund is split over the order's trades by what is left of each (a presale order paid its deposit
    and its balance as two trades): `detail["parts"]`, one gateway refund each. Raises
    RefundExceedsReceived, claiming nothing."""
    entry_id = refund_id(order.order_id, request_no)
    entry = await session.get(MoneyEntry, entry_id)
    if entry is not None and (entry.status == "done" or (entry.status == "claimed" and amount in (None, entry.amount))):
        return entry
    left = await balance(session, order.order_id, excluding=entry_id)
    wanted = left.refundable if amount is None else amount
    if wanted > left.refundable or wanted < 0:
        raise RefundExceedsReceived(order.order_id, wanted, left)
    if entry is None:
        entry = MoneyEntry(entry_id=entry_id, order_id=order.order_id, channel=order.channel, shop=order.shop,
                           external_id=order.external_id, direction="out", route=refund_route(order.channel),
                           reference=request_no, amount=wanted, status="claimed", source=source, ticket_id=ticket_id,
                           created_at=at, updated_at=at)
        session.add(entry)
    else:  # a claim changed, or one released before claimed again (finance retried a closed refund)
        entry.amount, entry.status, entry.updated_at = wanted, "claimed", at
    if entry.route == "gateway":
        entry.detail = {**(entry.detail or {}), "parts": await _gateway_parts(session, order.order_id, entry_id,
                                                                              request_no, wanted)}
    await session.flush()
    return entry


class RefundPart(BaseModel):
    """One gateway refund of a claim: against one trade, with its own request number."""

    trade_no: str
    amount: int
    out_request_no: str


async def _gateway_parts(session: AsyncSession, order_id: str, entry_id: str, request_no: str,
                         amount: int) -> list[dict[str, object]]:
    """The refund over the order's trades, oldest first, each up to what other refunds left of it; each part
    with its own gateway request number (the first the refund's own)."""
    known = await entries(session, order_id)
    used: dict[str, int] = {}
    for e in known:
        if e.direction == "out" and e.status in ("claimed", "done") and e.entry_id != entry_id:
            for part in refund_parts(e):
                used[part.trade_no] = used.get(part.trade_no, 0) + part.amount
    parts: list[RefundPart] = []
    for receipt in (e for e in known if e.direction == "in" and e.status == "done"):
        take = min(amount, receipt.amount - used.get(receipt.reference, 0))
        if take > 0:
            n = len(parts)
            parts.append(RefundPart(trade_no=receipt.reference, amount=take,
                                    out_request_no=request_no if n == 0 else f"{request_no[:60]}-{n + 1}"))
            amount -= take
    if amount > 0 and parts:  # trades refunded before parts were kept: the last takes the rest
        parts[-1].amount += amount
    return [p.model_dump() for p in parts]


def refund_parts(entry: MoneyEntry) -> list[RefundPart]:
    return [RefundPart.model_validate(p) for p in (entry.detail or {}).get("parts", [])]


async def settle_refund(session: AsyncSession, order_id: str, request_no: str, *, moved: bool, at: datetime,
                        amount: int | None = None, detail: dict[str, object] | None = None) -> None:
    """The claim's end: `done` with the amount that moved, or `released` (nothing moved). Idempotent."""
    entry = await session.get(MoneyEntry, refund_id(order_id, request_no))
    if entry is None or entry.status == "done" or (entry.status == "released" and not moved):
        return
    entry.status = "done" if moved else "released"
    if amount is not None:
        entry.amount = amount
    entry.detail = {**(entry.detail or {}), **(detail or {})}
    entry.updated_at = at
    await session.flush()


async def entries(session: AsyncSession, order_id: str) -> list[MoneyEntry]:
    return list((await session.exec(select(MoneyEntry).where(col(MoneyEntry.order_id) == order_id)
                                    .order_by(col(MoneyEntry.created_at), col(MoneyEntry.entry_id)))).all())


# --- the refund step's input (RefundActivities.refund_order) -----------------------------------


class Receipt(BaseModel):
    """Money the workflow knows came in, recorded before the refund is claimed (a payment that raced a
    cancel may not be in the read model yet). Idempotent per key."""

    key: str = "payment"
    reference: str | None = None  # the payment's trade number
    amount: int = Field(ge=0)
    source: Source = "payment"


class RefundOrderInput(BaseModel):
    """One refund of an order's money, back the way it came, exactly once per `request_no`."""

    order_id: str
    # The order's identity, from the workflow: the ledger names the order by it even when the read model
    # never registered the order (its receipt failed for good) and the money must still go back.
    channel: str
    shop: str
    external_id: str
    request_no: str = Field(max_length=64)  # the idempotency key at the gateway or the platform
    amount: int | None = Field(default=None, ge=0)  # fen; None: everything still refundable
    source: Source
    reason: str
    ticket_id: str | None = None
    platform_request_id: str | None = None  # the buyer's request on the platform, when it came from there
    receipt: Receipt | None = None
    # The marketplace already paid the buyer back (it cancelled the order): record it, call nobody.
    settled_by_platform: bool = False
