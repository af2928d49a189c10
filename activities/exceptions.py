"""Order exceptions: screen orders with the rules, keep each order's tags and health score, alert on SLAs.

The rules come from the running `RulesStore` (the rules file, reloaded when it changes); the tags live
in `order_exceptions` (the team queues are the open rows) and on the order row for listing. Every write
is keyed by data from the order's history, so a retried activity writes nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, false, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.http import PartnerHttp
from activities.notify import NotifierActivities
from activities.orders import _insert, register_in
from activities.screening import screen_address, screen_order
from models.db import session_scope
from models.exceptions import (
    BuyerFacts,
    ExceptionHit,
    HealthReason,
    HealthScore,
    RaiseExceptionInput,
    ResolveExceptionsInput,
    ScoreOrderInput,
    ScreenAddressInput,
    ScreenOrderInput,
    Severity,
    SlaAlertInput,
    StandingTags,
    buyer_key,
    device_key,
    merge_key,
)
from models.notify import Notification
from models.order_workflow import OrderEventName, ReceiveOrderInput, RegisterOrderInput
from models.rules import Rules, RulesStore
from models.tables import OrderEvent, OrderException, OrderRecord, SlaBreach

log = structlog.get_logger(__name__)

LOW_HEALTH = "low_health"


async def buyer_facts(session: AsyncSession, order_id: str, window: timedelta, *, buyer: str,
                      device: str | None, created_at: datetime) -> BuyerFacts:
    """The buyer's and the device's other unpaid orders created since the window opened before this
    one, and the buyer's earlier orders: one statement (screening runs on every order)."""
    unpaid = and_(col(OrderRecord.paid).is_(False), col(OrderRecord.created_at) >= created_at - window)
    by_buyer = col(OrderRecord.buyer_key) == buyer
    by_device = col(OrderRecord.device_key) == device if device else false()
    row = (await session.exec(
        select(func.count().filter(and_(unpaid, by_buyer)), func.count().filter(and_(unpaid, by_device)),
               func.count().filter(and_(by_buyer, col(OrderRecord.created_at) <= created_at)))
        .where(col(OrderRecord.order_id) != order_id, or_(by_buyer, by_device))
    )).one()
    return BuyerFacts(unpaid_by_buyer=row[0] or 0, unpaid_by_device=row[1] or 0, earlier_orders=row[2] or 0)


async def raise_exceptions(db_url: str, order_id: str, hits: list[ExceptionHit], seq: int,
                           at: datetime) -> StandingTags:
    """Open a row per new tag (a tag already standing stays as it was); returns the standing tags."""
    async with session_scope(db_url) as session:
        return await raise_in(session, order_id, hits, seq, at)


async def raise_in(session: AsyncSession, order_id: str, hits: list[ExceptionHit], seq: int,
                   at: datetime) -> StandingTags:
    standing = {hit.tag for hit in await _open(session, order_id)}
    if not hits and not standing:
        return StandingTags(tags=[])  # a clean order: nothing to write
    for hit in hits:
        if hit.tag in standing:
            continue
        await session.exec(_insert(session)(OrderException).values(
            order_id=order_id, tag=hit.tag, severity=hit.severity.value, team=hit.team, reason=hit.reason[:300],
            raised_seq=seq, raised_at=at,
        ).on_conflict_do_nothing(index_elements=["order_id", "tag", "raised_seq"]))
        standing.add(hit.tag)
    return await _store_tags(session, order_id)


async def resolve_exceptions(db_url: str, request: ResolveExceptionsInput) -> StandingTags:
    """Close the given standing tags (all when None) with who and why; returns the tags still standing."""
    async with session_scope(db_url) as session:
        closing = update(OrderException).where(col(OrderException.order_id) == request.order_id,
                                               col(OrderException.resolved_at).is_(None))
        if request.tags is not None:
            closing = closing.where(col(OrderException.tag).in_(request.tags))
        await session.exec(closing.values(resolved_at=request.at, resolved_by=request.resolved_by[:64],
                                             resolution=request.resolution[:200]))
        return await _store_tags(session, request.order_id)


async def score_order(db_url: str, rules: Rules, request: ScoreOrderInput) -> HealthScore:
    """Health 0-100 from sync delay, standing tags, SLA breaches and retries; below the threshold the
    order enters the review queue (tag low_health), above it leaves."""
    health = rules.health
    reasons: list[HealthReason] = []
    async with session_scope(db_url) as session:
        order = await session.get(OrderRecord, request.order_id)
        if order is None:
            raise RuntimeError(f"order {request.order_id} is not registered")
        if order.placed_at is not None:
            delay = (order.created_at - order.placed_at).total_seconds()
            if delay > health.sync_delay_grace_s:
                reasons.append(HealthReason(reason="sync_delay", penalty=health.sync_delay_penalty,
                                            detail=f"reached the hub {int(delay)} s after it was placed"))
        for hit in await _open(session, request.order_id):
            penalty = rules.tags[hit.tag].health_penalty if hit.tag in rules.tags else 0
            if hit.tag != LOW_HEALTH and penalty:
                reasons.append(HealthReason(reason=f"exception:{hit.tag}", penalty=penalty))
        breaches = (await session.exec(select(func.count()).select_from(SlaBreach)
                                       .where(col(SlaBreach.order_id) == request.order_id))).one()
        if breaches:
            reasons.append(HealthReason(reason="sla_breach", penalty=health.sla_breach_penalty * breaches,
                                        detail=f"{breaches} SLA breach(es)"))
        # A step that failed and had to be held and released by a person (or resolved itself).
        retries = (await session.exec(select(func.count()).select_from(OrderEvent).where(
            col(OrderEvent.order_id) == request.order_id, col(OrderEvent.event) == OrderEventName.HOLD_RELEASED))).one()
        if retries:
            reasons.append(HealthReason(reason="retry", detail=f"{retries} step(s) retried after a hold",
                                        penalty=min(health.retry_penalty * retries, health.max_retry_penalty)))
        score = max(0, min(100, 100 - sum(r.penalty for r in reasons)))
        order.health_score, order.health_reasons = score, [r.model_dump() for r in reasons]
        in_review = score < health.review_below
    # The review queue is a tag like the others, so it is listed, filtered and resolved the same way.
    if in_review:
        standing = await raise_exceptions(db_url, request.order_id, [rules.hit(LOW_HEALTH, f"health score {score}")],
                                          request.seq, request.at)
    else:
        standing = await resolve_exceptions(db_url, ResolveExceptionsInput(
            order_id=request.order_id, tags=[LOW_HEALTH], resolved_by="system",
            resolution=f"health score back to {score}", at=request.at))
    return HealthScore(score=score, reasons=reasons, in_review=in_review, standing=standing.tags)


async def _open(session: AsyncSession, order_id: str) -> list[ExceptionHit]:
    rows = await session.exec(select(OrderException).where(
        col(OrderException.order_id) == order_id, col(OrderException.resolved_at).is_(None))
        .order_by(col(OrderException.tag), col(OrderException.raised_seq)))
    by_tag = {row.tag: ExceptionHit(tag=row.tag, severity=Severity(row.severity), team=row.team, reason=row.reason)
              for row in rows}
    return list(by_tag.values())


async def _store_tags(session: AsyncSession, order_id: str) -> StandingTags:
    await session.flush()
    standing = await _open(session, order_id)
    await session.exec(update(OrderRecord).where(col(OrderRecord.order_id) == order_id)
                       .values(exception_tags=[hit.tag for hit in standing]))
    return StandingTags(tags=standing)


class ExceptionActivities:
    """Screening and tags run as local activities (database only); `alert_sla` calls the notifier."""

    def __init__(self, db_url: str, rules: RulesStore, notifier_http: PartnerHttp | None = None) -> None:
        self.db_url = db_url
        self.rules = rules
        self.notifier = NotifierActivities(notifier_http) if notifier_http is not None else None

    async def _screen_in(self, session: AsyncSession, request: ScreenOrderInput, *, created_at: datetime,
                         fresh: bool = False) -> StandingTags:
        """`fresh`: registered in this transaction, so no tag can stand yet (a clean order reads nothing more)."""
        rules = self.rules.current
        order = request.order
        window = timedelta(seconds=rules.detect.fraud.unpaid_burst.window_s)
        facts = await buyer_facts(session, order.order_id, window, buyer=buyer_key(order), device=device_key(order),
                                  created_at=created_at)
        hits = screen_order(order, facts, rules)
        if not hits and fresh:
            return StandingTags(tags=[])
        if hits:
            log.info("order.exceptions_raised", order_id=order.order_id, tags=[h.tag for h in hits])
        return await raise_in(session, order.order_id, hits, request.seq, request.at)

    @activity.defn(name="receive_order")
    async def receive_order(self, request: ReceiveOrderInput) -> StandingTags:
        """Register the order, then screen it: the first two steps of every order as one local activity
        and one transaction (a repeat finds the order registered and raises nothing twice)."""
        async with session_scope(self.db_url) as session:
            fresh = await register_in(session, RegisterOrderInput(order=request.order, workflow_id=request.workflow_id,
                                                                  received_at=request.received_at))
            return await self._screen_in(session, ScreenOrderInput(order=request.order, seq=request.seq, at=request.at),
                                         created_at=request.received_at, fresh=fresh)

    @activity.defn(name="screen_address")
    async def screen_address(self, request: ScreenAddressInput) -> StandingTags:
        """A corrected address: the address tags that no longer hit are resolved by the operator who
        corrected it; those that still hit stand (or are raised)."""
        rules = self.rules.current
        async with session_scope(self.db_url) as session:
            channel = (await session.exec(select(OrderRecord.channel)
                                          .where(col(OrderRecord.order_id) == request.order_id))).first()
        hits = screen_address(request.buyer, rules, channel)
        d = rules.detect
        address_tags = {d.address_keywords.tag, d.phone_format.tag, *(f.tag for f in d.required_fields)}
        async with session_scope(self.db_url) as session:
            order = await session.get(OrderRecord, request.order_id)
            if order is None:
                raise RuntimeError(f"order {request.order_id} is not registered")
            await session.exec(update(OrderRecord).where(col(OrderRecord.order_id) == request.order_id).values(
                merge_key=merge_key(order.channel, order.shop, order.buyer_key or "", request.buyer),
                buyer_name=request.buyer.name, buyer_phone=request.buyer.phone,
                buyer_province=request.buyer.province, buyer_city=request.buyer.city,
                buyer_district=request.buyer.district, buyer_address=request.buyer.address,
                buyer_zip=request.buyer.zip, updated_at=request.at))
        await resolve_exceptions(self.db_url, ResolveExceptionsInput(
            order_id=request.order_id, tags=sorted(address_tags - {h.tag for h in hits}),
            resolved_by=request.updated_by, resolution="address updated", at=request.at))
        return await raise_exceptions(self.db_url, request.order_id, hits, request.seq, request.at)

    @activity.defn(name="raise_exception")
    async def raise_exception(self, request: RaiseExceptionInput) -> StandingTags:
        hit = self.rules.current.hit(request.tag, request.reason)
        log.info("order.exception_raised", order_id=request.order_id, tag=hit.tag, severity=hit.severity)
        return await raise_exceptions(self.db_url, request.order_id, [hit], request.seq, request.at)

    @activity.defn(name="resolve_exceptions")
    async def resolve_exceptions(self, request: ResolveExceptionsInput) -> StandingTags:
        return await resolve_exceptions(self.db_url, request)

    @activity.defn(name="score_order")
    async def score_order(self, request: ScoreOrderInput) -> HealthScore:
        return await score_order(self.db_url, self.rules.current, request)

    @activity.defn(name="alert_sla")
    async def alert_sla(self, request: SlaAlertInput) -> None:
        """Record the breach for the weekly review, then tell the team's owner (an alert) or its
        supervisor (an escalation, a broken promise). Keyed: a retry neither records nor sends twice."""
        if self.notifier is None:
            raise RuntimeError("alert_sla needs the notifier's HTTP client")
        team = self.rules.current.team(request.team)
        audience = team.owner if request.stage == "alert" else team.supervisor
        async with session_scope(self.db_url) as session:
            await session.exec(_insert(session)(SlaBreach).values(
                key=request.key, order_id=request.order_id, kind=request.kind, stage=request.stage,
                team=request.team, audience=audience, due_at=request.due_at, breached_at=request.at,
                detail=request.detail[:300],
            ).on_conflict_do_nothing(index_elements=["key"]))
        log.warning("sla.breached", order_id=request.order_id, kind=request.kind, stage=request.stage,
                    team=request.team, audience=audience)
        late = (request.at - request.due_at).total_seconds()
        await self.notifier.notify(Notification(
            key=request.key, audience=audience,
            title=f"SLA {request.stage}: {request.kind.replace('_', ' ')} · order {request.order_id}",
            text=f"{request.detail} (team {request.team}; due {request.due_at:%Y-%m-%d %H:%M} UTC"
                 f"{f', {int(late)} s late' if late > 0 else ''}).",
            subject={"order_id": request.order_id, "workflow_id": f"order-{request.order_id}"},
        ))
