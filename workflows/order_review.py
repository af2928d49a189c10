"""An order's exceptions, health and SLAs: screening tags what needs a person, a hold-severity tag
holds the order in its team's queue, the review and shipping-promise clocks alert and escalate, and
every change re-scores the order's health (below the threshold it joins the review queue)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.order_holds import Holds
from workflows.order_state import OrderState
from workflows.order_timeline import Timeline
from workflows.steps import NOTICE, wait_until

with workflow.unsafe.imports_passed_through():
    from activities.exceptions import ExceptionActivities
    from models.exceptions import (
        ExceptionHit,
        RaiseExceptionInput,
        ResolveExceptionsInput,
        ScoreOrderInput,
        ScreenAddressInput,
        Severity,
        SlaAlertInput,
        SlaKind,
        SlaStage,
        StandingTags,
    )
    from models.order import SHIPPED_OR_LATER, OrderStatus
    from models.order_workflow import OrderEventName, ReceiveOrderInput, ResolveHold
    from models.search_attributes import EXCEPTION_TAGS


class Review:
    def __init__(self, state: OrderState, timeline: Timeline, holds: Holds) -> None:
        self.state, self.timeline, self.holds = state, timeline, holds
        self.tags: dict[str, ExceptionHit] = {}  # standing exception tags, as the database holds them
        self.watchers: list[asyncio.Task[None]] = []
        holds.apply_address, holds.on_release, holds.after_retry = self.apply_address, self.released, self.rescore

    # --- steps -----------------------------------------------------------------------------

    async def receive(self) -> None:
        """Register the order in the read model and run the exception rules on it: one step."""
        s = self.state
        standing = await self.holds.db_step(ExceptionActivities.receive_order, ReceiveOrderInput(
            order=s.order, workflow_id=workflow.info().workflow_id, received_at=workflow.info().start_time,
            seq=s.seq, at=workflow.now()))
        # A clean order skips the scoring unless it came late from its channel (sync delay).
        await self._changed(standing, OrderEventName.SCREENED, rescore=bool(standing.tags) or s.order.placed_at is not None)

    def start_sla_clocks(self) -> None:
        self.watchers = [asyncio.create_task(self._watch_review_sla()),
                         asyncio.create_task(self._watch_shipping_promise())]

    async def await_review(self) -> None:
        """Held while a hold-severity tag stands, until a person releases it, corrects the address
        (screened again: still hitting, held again) or cancels (OrderCancelled)."""
        s = self.state
        while self.holding_tags():
            s.stop_if_cancelled()
            tags = ", ".join(self.holding_tags())
            await self.holds.hold(f"exception review: {tags}", resolved=lambda: not self.holding_tags())
            if self.holding_tags():
                continue
            await self.timeline.record(OrderStatus.FULFILLING, OrderEventName.REVIEWED,
                                       detail={"tags": tags, **self.holds.released_by()})
        s.stop_if_cancelled()

    # --- tags ------------------------------------------------------------------------------

    async def raise_tag(self, tag: str, reason: str) -> None:
        s = self.state
        standing = await self.holds.db_step(ExceptionActivities.raise_exception, RaiseExceptionInput(
            order_id=s.order_id, tag=tag, reason=reason, seq=s.seq, at=workflow.now()))
        await self._changed(standing, OrderEventName.EXCEPTION_RAISED)

    async def resolve_tags(self, tags: list[str] | None, by: str, resolution: str) -> None:
        standing = await self.holds.db_step(ExceptionActivities.resolve_exceptions, ResolveExceptionsInput(
            order_id=self.state.order_id, tags=tags, resolved_by=by, resolution=resolution, at=workflow.now()))
        await self._changed(standing, OrderEventName.EXCEPTIONS_RESOLVED, by=by)

    async def close(self, resolution: str) -> None:
        """The order is out of our hands: nothing left for a queue."""
        if self.tags:
            await self.resolve_tags(None, "system", resolution)

    async def released(self, release: ResolveHold) -> None:
        """A person released a hold: the tags that held the order are resolved by them."""
        if self.holding_tags():
            await self.resolve_tags(self.holding_tags(), release.resolved_by, release.note or "released")

    async def apply_address(self, request: ResolveHold) -> None:
        """The operator's corrected receiver: recorded, and screened again by the address rules."""
        s = self.state
        assert request.address is not None
        s.order.buyer = request.address
        await self.timeline.record(s.status, OrderEventName.ADDRESS_UPDATED, hold_reason=s.hold_reason,
                                   detail={"by": request.resolved_by, "note": request.note})
        standing = await self.holds.db_step(ExceptionActivities.screen_address, ScreenAddressInput(
            order_id=s.order_id, buyer=request.address, seq=s.seq, at=workflow.now(), updated_by=request.resolved_by))
        await self._changed(standing, OrderEventName.ADDRESS_SCREENED, by=request.resolved_by)

    async def _changed(self, standing: StandingTags, event: OrderEventName, *, by: str | None = None,
                       rescore: bool = True) -> None:
        before = set(self.tags)
        self._mirror(standing.tags)
        if set(self.tags) != before:
            s = self.state
            await self.timeline.record(s.status, event, hold_reason=s.hold_reason,
                                       detail={"tags": sorted(self.tags), **({"by": by} if by else {})})
        if rescore:
            await self.rescore()

    async def rescore(self) -> None:
        s = self.state
        if s.status in (OrderStatus.COMPLETED, OrderStatus.CANCELLED):
            return  # out of our hands: no queue to join any more
        health = await self.holds.db_step(ExceptionActivities.score_order,
                                          ScoreOrderInput(order_id=s.order_id, seq=s.seq, at=workflow.now()))
        s.health_score = health.score
        self._mirror(health.standing)

    def _mirror(self, standing: list[ExceptionHit]) -> None:
        tags = {hit.tag: hit for hit in standing}
        if set(tags) != set(self.tags):
            workflow.upsert_search_attributes([EXCEPTION_TAGS.value_set(sorted(tags))])
        self.tags = tags
        self.state.exception_tags = sorted(tags)

    def holding_tags(self) -> list[str]:
        return sorted(tag for tag, hit in self.tags.items() if hit.severity == Severity.HOLD)

    def hold_team(self) -> str:
        """Who owns the current hold: the team of the tag that caused it, else the policy's hold team."""
        for hit in sorted(self.tags.values(), key=lambda h: (h.severity != Severity.HOLD, h.tag)):
            return hit.team
        return self.state.policy.sla.hold_team

    # --- SLA clocks ------------------------------------------------------------------------

    async def _watch_review_sla(self) -> None:
        """An order held for a person: alert the owning team, then escalate to its supervisor."""
        holds, sla = self.holds, self.state.policy.sla
        while True:
            await workflow.wait_condition(lambda: holds.held_since is not None)
            since, seq = holds.held_since, holds.held_seq
            assert since is not None
            resolved = lambda seq=seq: holds.held_since is None or holds.held_seq != seq  # noqa: E731
            stages: tuple[tuple[SlaStage, int], ...] = (
                ("alert", sla.review_alert_s), ("escalate", sla.review_escalate_s))
            for stage, after_s in stages:
                due = since + timedelta(seconds=after_s)
                if await wait_until(resolved, until=due):
                    break
                await self._alert("review", stage, self.hold_team(), due, key=f"{self.state.order_id}:review:{seq}:{stage}",
                                  detail=f"on hold since {since:%Y-%m-%d %H:%M} UTC: {self.state.hold_reason}")
            await workflow.wait_condition(resolved)

    async def _watch_shipping_promise(self) -> None:
        """Shipped within the promise from payment (or from the presale date): alert before, and at the breach."""
        s, sla = self.state, self.state.policy.sla
        await workflow.wait_condition(lambda: s.paid_at is not None or s.status == OrderStatus.CANCELLED)
        if s.paid_at is None:
            return
        start = max(s.paid_at, s.order.ship_not_before or s.paid_at)
        promise = start + timedelta(seconds=sla.shipping_promise_s)
        kept = lambda: s.shipped_any() or s.status in SHIPPED_OR_LATER or s.status == OrderStatus.CANCELLED  # noqa: E731
        stages: tuple[tuple[SlaStage, datetime], ...] = (
            ("alert", promise - timedelta(seconds=sla.shipping_alert_before_s)), ("breached", promise))
        for stage, due in stages:
            if await wait_until(kept, until=due):
                return
            await self._alert("shipping_promise", stage, sla.shipping_team, promise, key=f"{s.order_id}:shipping:{stage}",
                              detail=f"not shipped; promised by {promise:%Y-%m-%d %H:%M} UTC")

    async def _alert(self, kind: SlaKind, stage: SlaStage, team: str, due_at: datetime, *, key: str, detail: str) -> None:
        try:
            await workflow.execute_activity_method(
                ExceptionActivities.alert_sla,
                SlaAlertInput(order_id=self.state.order_id, kind=kind, stage=stage, team=team, due_at=due_at,
                              at=workflow.now(), key=key, detail=detail[:300]), **NOTICE)
        except ActivityError:
            workflow.logger.warning("SLA alert not delivered", extra={"order_id": self.state.order_id, "key": key})
        await self.rescore()
