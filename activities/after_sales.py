"""After-sales: open a ticket against its order, keep the ticket's read model, ship an exchange.

`open_ticket` is the one place a ticket is admitted: it checks the request against the order
(known, paid, not cancelled, lines and quantities it really has, money it really paid) and claims
the ticket's amount under the order row's lock, so two tickets racing for the same money cannot
both win. The ticket workflow is the only writer of the row after that; every write is idempotent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.clients.order import OrderClient
from activities.orders import _insert
from models.after_sales import (
    FINAL_TICKET_STATUSES,
    RETURN_TYPES,
    AfterSalesRequest,
    RecordTicketInput,
    ReplacementOrder,
    ReplacementOrderInput,
    ReturnLine,
    TicketEventName,
    TicketFacts,
    TicketLine,
    TicketStatus,
    TicketType,
    refund_request_no,
    ticket_id_for,
    ticket_workflow_id,
)
from models.config import Settings
from models.db import session_scope
from models.ledger import RefundExceedsReceived, balance, claim_refund, lock_order, settle_refund
from models.money import apportion, split_paid, unit_share
from models.order import (
    SHIPPED_OR_LATER,
    Buyer,
    Channel,
    Order,
    OrderLine,
    OrderStatus,
    PriorityTag,
    external_id_room,
    workflow_id_for,
)
from models.order_workflow import OrderEventName, order_policy
from models.rules import DEFAULT_RULES_FILE, AfterSalesRules, shared_rules
from models.tables import (
    AfterSalesEvent,
    AfterSalesTicketRecord,
    OrderEvent,
    OrderLineRecord,
    OrderRecord,
    Reservation,
    ShipmentRecord,
    Sku,
)

log = structlog.get_logger()

# Tickets that no longer hold units or money against their order.
_RELEASED = tuple(s.value for s in (TicketStatus.REJECTED, TicketStatus.CLOSED))


@dataclass
class TicketRefused(Exception):
    """The request cannot open a ticket: HTTP status, error code, message, fields."""

    status: int
    error: str
    message: str
    errors: list[dict[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.status} {self.error}: {self.message}"


async def open_ticket(db_url: str, request: AfterSalesRequest, *, now: datetime | None = None,
                      after_sales_rules: AfterSalesRules | None = None, platform_request_id: str | None = None,
                      platform_status: str | None = None) -> tuple[TicketFacts, bool]:
    """Admit the request: the ticket's facts and whether it is new (False: the same request
    again, answered with the ticket it opened). Raises TicketRefused, changing nothing.
    `after_sales_rules`: the rules file's after_sales section in force (default: deploy/rules.yaml's).
    `platform_request_id`/`platform_status`: the buyer's own request at the platform, when the channel
    sync admits one (never from the API's body): the ticket keeps it and answers the platform by it."""
    now = now or datetime.now(UTC)
    async with session_scope(db_url) as session:
        # The order's lock first, so the claims read below cannot change before this ticket's are written.
        order = await lock_order(session, request.order_id)
        if order is None:
            raise TicketRefused(404, "order_not_found", f"no order {request.order_id}",
                                [{"field": "order_id", "reason": "unknown order"}])
        order_lines = (await session.exec(select(OrderLineRecord).where(col(OrderLineRecord.order_id) == order.order_id)
                                          .order_by(col(OrderLineRecord.line_no)))).all()
        lines = request.lines or [TicketLine(sku=l.sku, quantity=l.quantity) for l in order_lines]
        ticket_id = ticket_id_for(order.order_id, request.type, lines, request.request_id)
        existing = await session.get(AfterSalesTicketRecord, ticket_id)
        if existing is not None:
            return _facts_of(existing, order, await _delivered_at(session, order.order_id)), False

        if order.status == OrderStatus.CANCELLED.value:
            raise TicketRefused(409, "order_cancelled", f"order {order.order_id} is cancelled"
                                + (": its payment was refunded with the cancel" if order.paid else ""))
        if not order.paid:
            raise TicketRefused(409, "order_not_paid", f"order {order.order_id} is not paid: nothing to refund")
        shipped = await _shipped_skus(session, order)
        before_shipping = not shipped and order.status not in {s.value for s in SHIPPED_OR_LATER}
        warehouses = await _shipped_from(session, order.order_id)
        ordered = {l.sku: l for l in order_lines}

        errors: list[dict[str, str]] = []
        claimed_units = await _claimed_units(session, order.order_id)
        known = await _known_skus(session, {l.exchange_sku for l in lines if l.exchange_sku})
        for i, line in enumerate(lines):
            have = ordered.get(line.sku)
            if have is None:
                errors.append({"field": f"lines[{i}].sku", "reason": f"{line.sku} is not a line of order {order.order_id}"})
            elif line.quantity + claimed_units.get(line.sku, 0) > have.quantity:
                left = have.quantity - claimed_units.get(line.sku, 0)
                errors.append({"field": f"lines[{i}].quantity",
                               "reason": f"the order has {have.quantity} of {line.sku}, {left} not yet claimed by a ticket"})
            if line.exchange_sku is not None and request.type != TicketType.EXCHANGE:
                errors.append({"field": f"lines[{i}].exchange_sku", "reason": "only an exchange ships another sku"})
            elif line.exchange_sku is not None and line.exchange_sku not in known:
                errors.append({"field": f"lines[{i}].exchange_sku", "reason": f"unknown sku {line.exchange_sku}"})
        if errors:
            raise TicketRefused(422, "validation_failed", "the request does not match the order", errors)

        whole_order = request.lines is None or (
            {l.sku for l in lines} == set(ordered) and all(l.quantity == ordered[l.sku].quantity for l in lines))
        if request.type in RETURN_TYPES and before_shipping:
            raise TicketRefused(409, "not_shipped", f"nothing of order {order.order_id} has shipped: "
                                "there is nothing to return; ask for refund_only")
        if request.type == TicketType.REFUND_ONLY and before_shipping and not whole_order:
            raise TicketRefused(422, "validation_failed", "before shipping only the whole order can be refunded",
                                [{"field": "lines", "reason": "omit lines, or use partial_refund for an agreed amount"}])
        if request.type == TicketType.PARTIAL_REFUND and request.amount is None:
            raise TicketRefused(422, "validation_failed", "a partial refund names its amount",
                                [{"field": "amount", "reason": "required for partial_refund (fen)"}])
        if request.type == TicketType.EXCHANGE and request.amount is not None:
            raise TicketRefused(422, "validation_failed", "an exchange moves no money",
                                [{"field": "amount", "reason": "not allowed for exchange"}])

        refunds_shipping = (after_sales_rules or shared_rules(DEFAULT_RULES_FILE).current.after_sales
                            ).refunds_shipping(request.reason)
        amount, line_shares, shipping = _amount(request, lines, order, list(order_lines),
                                                await _claimed_shares(session, order.order_id),
                                                refunds_shipping=refunds_shipping or before_shipping)
        before = await balance(session, order.order_id)
        if amount > 0:
            try:
                await claim_refund(session, order, request_no=refund_request_no(ticket_id), amount=amount,
                                   source="ticket", ticket_id=ticket_id, at=now)
            except RefundExceedsReceived as err:
                left, gone = max(err.balance.refundable, 0), err.balance.refunded + err.balance.claimed
                raise TicketRefused(422, "refund_exceeds_paid",
                                    f"order {order.order_id} received {err.balance.received} fen and {gone} fen of it "
                                    f"is refunded or claimed already, so at most {left} fen can be refunded",
                                    [{"field": "amount", "reason": f"at most {left} fen"}]) from err

        facts = TicketFacts(
            ticket_id=ticket_id, order_id=order.order_id, order_workflow_id=order.workflow_id,
            channel=order.channel, shop=order.shop, external_id=order.external_id,
            trade_no=order.trade_no or order.order_id, type=request.type, reason=request.reason,
            lines=[ReturnLine(sku=l.sku, quantity=l.quantity, unit_price=ordered[l.sku].unit_price,
                              warehouse=warehouses.get(l.sku) if not before_shipping else None,
                              exchange_sku=l.exchange_sku if l.exchange_sku != l.sku else None,
                              paid_share=line_shares.get(l.sku)) for l in lines],
            amount=amount, goods_intact=request.goods_intact, delivered_at=await _delivered_at(session, order.order_id),
            opened_at=now, before_shipping=before_shipping, refunded_before=before.refunded + before.claimed,
            platform_request_id=platform_request_id,
        )
        session.add(AfterSalesTicketRecord(
            ticket_id=ticket_id, workflow_id=ticket_workflow_id(ticket_id), order_id=order.order_id,
            channel=order.channel, shop=order.shop, type=request.type.value, reason=request.reason,
            description=request.description, status=TicketStatus.OPENED.value,
            lines=[l.model_dump() for l in facts.lines], requested_amount=amount, claim_amount=amount,
            goods_intact=request.goods_intact, before_shipping=before_shipping, created_at=now, updated_at=now,
            shipping_refund=shipping, platform_request_id=platform_request_id, platform_status=platform_status,
        ))
        await session.flush()
        session.add(AfterSalesEvent(ticket_id=ticket_id, seq=0, status=TicketStatus.OPENED.value, event=TicketEventName.OPENED,
                                    detail={"amount": amount, "before_shipping": before_shipping}, at=now))
    log.info("after-sales ticket opened", ticket_id=ticket_id, order_id=order.order_id, type=request.type.value,
             amount=amount)
    return facts, True


def _amount(request: AfterSalesRequest, lines: list[TicketLine], order: OrderRecord,
            order_lines: list[OrderLineRecord], claimed: tuple[dict[str, tuple[int, int]], int], *,
            refunds_shipping: bool) -> tuple[int, dict[str, int], int]:
    """Fen to refund, each line's share of it and the shipping fee in it. As asked when an amount is
    given; else what the lines cost the buyer: each line's paid share (the order's discount apportioned,
    `order_lines.paid_amount`) pro rata per unit, the units completing a line taking what its earlier
    tickets (`claimed`: sku -> units, fen; and the shipping fee they refund) left, so all of a line's tickets together refund exactly its
    share. Plus the shipping fee paid, once per order, when `refunds_shipping` (the rules file's reasons,
    or nothing shipped yet) and no live ticket carries it. An exchange moves no money, but its lines still
    carry their shares so the line's last refunded units do not take the exchanged units' share too.
    The claim check caps the total at what is left of the payment."""
    goods_paid, shipping_paid = split_paid(order.goods_amount, order.shipping_fee, order.discount)
    stored = [l.paid_amount for l in order_lines]
    shares = ([s for s in stored if s is not None] if all(s is not None for s in stored) else
              apportion(goods_paid, [l.quantity * l.unit_price for l in order_lines]))
    by_sku = {l.sku: (l.quantity, share) for l, share in zip(order_lines, shares, strict=True)}
    by_line, shipping_claimed = claimed
    line_shares: dict[str, int] = {}
    if request.type != TicketType.PARTIAL_REFUND:
        for line in lines:
            quantity, share = by_sku[line.sku]
            units_before, taken = by_line.get(line.sku, (0, 0))
            line_shares[line.sku] = unit_share(share, quantity, line.quantity,
                                               last=units_before + line.quantity >= quantity, taken=taken)
    if request.type == TicketType.EXCHANGE:
        return 0, line_shares, 0
    if request.amount is not None:
        return request.amount, line_shares, 0
    shipping = shipping_paid if refunds_shipping and not shipping_claimed else 0
    return sum(line_shares.values()) + shipping, line_shares, shipping


async def _claimed_shares(session: AsyncSession, order_id: str) -> tuple[dict[str, tuple[int, int]], int]:
    """What the order's live line tickets hold: sku -> (units, fen of the line's paid share), and the
    shipping fee they refund. A line recorded before shares were kept counts at its list price (what a
    line refund paid then)."""
    rows = await session.exec(select(AfterSalesTicketRecord.lines, AfterSalesTicketRecord.shipping_refund).where(
        col(AfterSalesTicketRecord.order_id) == order_id, col(AfterSalesTicketRecord.status).not_in(_RELEASED),
        col(AfterSalesTicketRecord.type) != TicketType.PARTIAL_REFUND.value))
    claimed: dict[str, tuple[int, int]] = {}
    shipping_claimed = 0
    for ticket_lines, shipping in rows:
        shipping_claimed += shipping or 0
        for line in ticket_lines:
            units, fen = claimed.get(line["sku"], (0, 0))
            share = line.get("paid_share")
            claimed[line["sku"]] = (units + line["quantity"],
                                    fen + (share if share is not None else line["quantity"] * line["unit_price"]))
    return claimed, shipping_claimed


async def _known_skus(session: AsyncSession, skus: set[str]) -> set[str]:
    if not skus:
        return set()
    return set((await session.exec(select(Sku.code).where(col(Sku.code).in_(skus)))).all())


async def _shipped_skus(session: AsyncSession, order: OrderRecord) -> set[str]:
    rows = await session.exec(select(ShipmentRecord.lines).where(
        col(ShipmentRecord.order_id) == order.order_id, col(ShipmentRecord.status).in_(("SHIPPED", "DELIVERED"))))
    return {line["sku"] for lines in rows for line in lines}


async def _shipped_from(session: AsyncSession, order_id: str) -> dict[str, str]:
    """sku -> the warehouse its units left from (a line is never split across warehouses)."""
    rows = await session.exec(select(Reservation.sku, Reservation.warehouse).where(
        col(Reservation.order_id) == order_id, col(Reservation.status) == "COMMITTED"))
    return {sku: warehouse for sku, warehouse in rows}


async def _claimed_units(session: AsyncSession, order_id: str) -> dict[str, int]:
    """Units per sku already in open or refunded tickets of the order."""
    rows = await session.exec(select(AfterSalesTicketRecord.lines).where(
        col(AfterSalesTicketRecord.order_id) == order_id, col(AfterSalesTicketRecord.status).not_in(_RELEASED),
        col(AfterSalesTicketRecord.type) != TicketType.PARTIAL_REFUND.value))
    claimed: dict[str, int] = {}
    for lines in rows:
        for line in lines:
            claimed[line["sku"]] = claimed.get(line["sku"], 0) + line["quantity"]
    return claimed


async def _delivered_at(session: AsyncSession, order_id: str) -> datetime | None:
    at = (await session.exec(select(OrderEvent.at).where(col(OrderEvent.order_id) == order_id,
                                                         col(OrderEvent.event) == OrderEventName.DELIVERED).limit(1))).first()
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _facts_of(row: AfterSalesTicketRecord, order: OrderRecord, delivered_at: datetime | None) -> TicketFacts:
    """A repeated request: the ticket as first opened."""
    created = row.created_at.replace(tzinfo=UTC) if row.created_at.tzinfo is None else row.created_at
    return TicketFacts(
        ticket_id=row.ticket_id, order_id=row.order_id, order_workflow_id=order.workflow_id, channel=row.channel,
        shop=row.shop, external_id=order.external_id, trade_no=order.trade_no or order.order_id,
        type=TicketType(row.type), reason=row.reason, lines=[ReturnLine(**l) for l in row.lines],
        amount=row.requested_amount, goods_intact=row.goods_intact, opened_at=created, delivered_at=delivered_at,
        before_shipping=row.before_shipping, platform_request_id=row.platform_request_id,
    )


async def record_ticket_transition(db_url: str, request: RecordTicketInput) -> None:
    entry = request.entry
    async with session_scope(db_url) as session:
        result = await session.exec(
            _insert(session)(AfterSalesEvent)
            .values(ticket_id=request.ticket_id, seq=entry.seq, status=entry.status.value, event=entry.event,
                    detail=entry.detail, at=entry.at)
            .on_conflict_do_nothing(index_elements=["ticket_id", "seq"])
        )
        if result.rowcount == 0:
            return  # a retry of a transition already recorded
        row = await session.get(AfterSalesTicketRecord, request.ticket_id)
        if row is None:
            raise RuntimeError(f"ticket {request.ticket_id} is not registered")
        row.status, row.updated_at, row.hold_reason = entry.status.value, entry.at, request.hold_reason
        for name in ("tier", "claim_amount", "return_waybill", "accepted_quantity", "auto_rule",
                     "replacement_order_id", "first_response_at"):
            value = getattr(request, name)
            if value is not None:
                setattr(row, name, value)
        if request.approvals is not None:
            row.approvals = [a.model_dump(mode="json") for a in request.approvals]
        if request.refund is not None:
            row.refund = request.refund.model_dump(mode="json")
        if request.closed or entry.status in FINAL_TICKET_STATUSES:
            row.closed_at = entry.at
        if entry.status in FINAL_TICKET_STATUSES and entry.status != TicketStatus.REFUNDED:
            # Ended without paying: what the ticket claimed is refundable again.
            await settle_refund(session, row.order_id, refund_request_no(row.ticket_id), moved=False, at=entry.at)


async def start_replacement_order(settings: Settings, client: Client, request: ReplacementOrderInput
                                  ) -> ReplacementOrder:
    """The exchange's outbound parcel: a paid order of the accepted units (each as its exchange SKU
    when the buyer asked for another size or colour) at no charge, to the original order's buyer, with
    its priority, through the normal order workflow: it reserves and commits the SKU it ships, while
    the returned SKU came back through inspection. Its parcel is pushed to the platform under the
    original order's external id. Its id derives from the ticket, so a retry starts nothing new."""
    async with session_scope(settings.db_url) as session:
        original = await session.get(OrderRecord, request.order_id)
    if original is None:
        raise RuntimeError(f"order {request.order_id} is not registered")
    suffix = hashlib.sha256(request.ticket_id.encode()).hexdigest()[:8]
    order = Order(
        channel=cast(Channel, original.channel),  # stored from a validated Order; Order validates it again
        shop=original.shop, external_id=f"{original.external_id[:min(50, external_id_room(original.channel, original.shop) - 10)]}-X{suffix}",
        paid=True, trade_no=None, replaces=original.order_id,
        priority_tags=[PriorityTag(t) for t in original.priority_tags if t != PriorityTag.PRESALE],  # the original's priority
        buyer=Buyer(name=original.buyer_name, phone=original.buyer_phone, province=original.buyer_province,
                    city=original.buyer_city, district=original.buyer_district, address=original.buyer_address,
                    zip=original.buyer_zip),
        lines=[OrderLine(sku=l.sku, quantity=l.quantity, unit_price=0) for l in request.lines],
    )
    workflow_id = workflow_id_for(order.order_id)
    try:
        await OrderClient(client, settings.task_queue).start(order, order_policy(settings))
    except WorkflowAlreadyStartedError:
        pass  # started by an earlier attempt
    log.info("exchange order started", ticket_id=request.ticket_id, order_id=order.order_id)
    return ReplacementOrder(order_id=order.order_id, workflow_id=workflow_id)


class AfterSalesActivities:
    """The ticket's read model (local activities) and the exchange's outbound order."""

    def __init__(self, settings: Settings, client: Client) -> None:
        self.settings = settings
        self.client = client

    @activity.defn(name="record_ticket_transition")
    async def record_ticket_transition(self, request: RecordTicketInput) -> None:
        await record_ticket_transition(self.settings.db_url, request)

    @activity.defn(name="start_replacement_order")
    async def start_replacement_order(self, request: ReplacementOrderInput) -> ReplacementOrder:
        return await start_replacement_order(self.settings, self.client, request)
