"""The daily reconciliation's step (ReconcileDayWorkflow): `reconcile_day` lists the shops, fetches each shop's
settlement bill and the gateway's statement over the partners' HTTP client, reads the day's orders and ledger,
compares them (models.reconciliation.compare, pure) and stores the report.

Storing a day deletes that day's earlier report and differences in the same transaction: re-running a day
replaces it. Logs carry the day, channels, shops and counts, never buyer data.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import delete, or_
from sqlmodel import col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels.base import MappingError
from activities.channels.bills import fetch_bill, fetch_statement
from activities.http import PartnerHttp
from models.channel_errors import ChannelError
from models.db import read_scope, session_scope
from models.ledger import refund_parts
from models.reconciliation import (
    GATEWAY_CHANNEL,
    FetchBillInput,
    FetchBillResult,
    FetchStatementInput,
    GatewayLine,
    GatewayMovement,
    HubOrder,
    HubSide,
    ListShopsInput,
    PlatformSide,
    ReadHubInput,
    ReconcileDayRequest,
    ReconcileDayResult,
    ShopsToReconcile,
    StoreReportInput,
    compare,
    counts_by_kind,
    report_status,
    summarize,
)
from models.reconciliation_errors import ReconciliationError
from models.tables import MoneyEntry, OrderRecord, ReconciliationDifference, ReconciliationReport, Shop, utcnow

log = structlog.get_logger(__name__)


class ReconciliationActivities:
    def __init__(self, db_url: str, http: PartnerHttp) -> None:
        self.db_url, self.http = db_url, http

    @activity.defn(name="reconcile_day")
    async def reconcile_day(self, request: ReconcileDayRequest) -> ReconcileDayResult:
        """Fetch every marketplace shop's bill and the gateway's statement, read the hub's day, compare, store
        the report (replacing the day's earlier one). One activity, so a day of any size never passes through
        the workflow's history: only the summary and the counts do.

        A partner that is down fails the whole step, and Temporal's retry fetches the day again (everything
        here is a read until the store, which replaces). A bill the partner refuses or that cannot be read is
        named in the report's errors and its shop left out."""
        window = request.window
        shops = await self.list_shops(ListShopsInput())
        fetched = await asyncio.gather(self.fetch_statement(FetchStatementInput(day=window.day)),
                                       *(self.fetch_bill(FetchBillInput(channel=name.split("/", 1)[0],
                                                                        shop=name.split("/", 1)[1], day=window.day))
                                         for name in shops.shops), return_exceptions=True)
        errors: list[str] = []
        platform = PlatformSide()
        for name, result in zip(["gateway", *shops.shops], fetched, strict=True):
            if isinstance(result, ApplicationError) and not result.non_retryable:
                raise result
            if isinstance(result, ApplicationError):
                errors.append(f"{name}: {result.type}: {result.message}"[:300])
            elif isinstance(result, BaseException):
                raise result
            elif isinstance(result, FetchBillResult):
                platform.shops.append(name)
                platform.bills.extend(result.lines)
            elif isinstance(result, list):
                platform.gateway_fetched, platform.gateway = True, list(result)
        hub = await read_hub_day(self.db_url, ReadHubInput(
            window=window, shops=platform.shops, statement_trades=sorted({g.trade_no for g in platform.gateway})))
        differences = compare(hub, platform)
        summary = summarize(hub, platform)
        await store_report(self.db_url, StoreReportInput(window=window, workflow_id=request.workflow_id,
                                                         summary=summary, differences=differences, errors=errors))
        return ReconcileDayResult(day=window.day, status=report_status(differences, errors), summary=summary,
                                  counts=counts_by_kind(differences), differences=len(differences), errors=errors)

    async def list_shops(self, request: ListShopsInput) -> ShopsToReconcile:
        async with read_scope(self.db_url) as session:
            rows = (await session.exec(select(Shop.channel, Shop.shop)
                                       .where(col(Shop.channel).in_(request.channels)))).all()
        return ShopsToReconcile(shops=sorted(f"{c}/{s}" for c, s in rows))

    async def fetch_bill(self, request: FetchBillInput) -> FetchBillResult:
        async with read_scope(self.db_url) as session:
            shop = await session.get(Shop, (request.channel, request.shop))
        if shop is None:
            raise ChannelError.SHOP_NOT_REGISTERED.failure(f"no {request.channel} shop {request.shop}")
        try:
            lines = await fetch_bill(self.http, request.channel, request.shop, request.day, app_key=shop.app_key,
                                     access_token=shop.access_token)
        except MappingError as err:
            raise ReconciliationError.BILL_UNREADABLE.failure(
                f"{request.channel}/{request.shop} bill of {request.day}: {err}") from None
        log.info("reconcile.bill_fetched", channel=request.channel, shop=request.shop, day=str(request.day),
                 lines=len(lines))
        return FetchBillResult(channel=request.channel, shop=request.shop, lines=lines)

    async def fetch_statement(self, request: FetchStatementInput) -> list[GatewayLine]:
        try:
            lines = await fetch_statement(self.http, request.day)
        except MappingError as err:
            raise ReconciliationError.BILL_UNREADABLE.failure(f"gateway statement of {request.day}: {err}") from None
        log.info("reconcile.statement_fetched", day=str(request.day), lines=len(lines))
        return lines


def _utc(at: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def read_hub_day(db_url: str, request: ReadHubInput) -> HubSide:
    """The day's orders in the fetched shops and own store (placed in the window), their ledger sums, and the
    gateway-route movements the ledger recorded in the window; one snapshot."""
    start, end = request.window.start.astimezone(UTC), request.window.end.astimezone(UTC)
    shops = {tuple(s.split("/", 1)) for s in request.shops}
    async with session_scope(db_url) as session:
        placed = or_(col(OrderRecord.placed_at).between(start, end),
                     (col(OrderRecord.placed_at).is_(None)) & col(OrderRecord.created_at).between(start, end))
        rows = [o for o in (await session.exec(select(OrderRecord).where(placed))).all()
                if _utc(o.placed_at or o.created_at) < end and (o.channel == GATEWAY_CHANNEL or (o.channel, o.shop) in shops)]
        ids = [o.order_id for o in rows]
        sums: dict[tuple[str, str], int] = defaultdict(int)
        if ids:
            for e in (await session.exec(select(MoneyEntry).where(col(MoneyEntry.order_id).in_(ids),
                                                                  col(MoneyEntry.status) == "done"))).all():
                sums[(e.order_id, e.direction)] += e.amount
        orders = []
        for o in rows:
            received = sums[(o.order_id, "in")]
            if received == 0 and o.paid:
                received = o.total_amount  # paid before the ledger recorded receipts
            orders.append(HubOrder(order_id=o.order_id, channel=o.channel, shop=o.shop, external_id=o.external_id,
                                   status=o.status, received=received, refunded=sums[(o.order_id, "out")]))

        gateway = (await session.exec(select(MoneyEntry).where(
            col(MoneyEntry.route) == "gateway", col(MoneyEntry.status) == "done",
            or_(col(MoneyEntry.created_at).between(start, end), col(MoneyEntry.updated_at).between(start, end))))).all()
        refund_orders = {e.order_id for e in gateway if e.direction == "out"}
        trade_of: dict[str, str] = {}
        if refund_orders:
            for e in (await session.exec(select(MoneyEntry).where(col(MoneyEntry.order_id).in_(refund_orders),
                                                                  col(MoneyEntry.direction) == "in"))).all():
                trade_of.setdefault(e.order_id, e.reference)
            for order_id, trade_no in (await session.exec(select(OrderRecord.order_id, OrderRecord.trade_no).where(
                    col(OrderRecord.order_id).in_(refund_orders)))).all():
                if trade_no:
                    trade_of[order_id] = trade_no
        receipts: list[GatewayMovement] = []
        refunds: list[GatewayMovement] = []
        for e in gateway:
            about: dict[str, Any] = dict(order_id=e.order_id, channel=e.channel, shop=e.shop, external_id=e.external_id, amount=e.amount)
            if e.direction == "in" and start <= _utc(e.created_at) < end:
                receipts.append(GatewayMovement(trade_no=e.reference, **about))
            elif e.direction == "out" and start <= _utc(e.updated_at) < end:
                parts = refund_parts(e)  # a refund split over the order's trades (a presale's two)
                if parts:
                    refunds.extend(GatewayMovement(trade_no=p.trade_no, **{**about, "amount": p.amount}) for p in parts)
                else:
                    refunds.append(GatewayMovement(trade_no=trade_of.get(e.order_id, e.external_id), **about))

        known: set[str] = set()
        if request.statement_trades:
            wanted = list(set(request.statement_trades))
            # A payment held for a closed order is not known: it stays a difference until finance settles it.
            known |= set((await session.exec(select(MoneyEntry.reference).where(
                col(MoneyEntry.direction) == "in", col(MoneyEntry.status) == "done",
                col(MoneyEntry.reference).in_(wanted)))).all())
            known |= {t for t in (await session.exec(select(OrderRecord.trade_no).where(
                col(OrderRecord.trade_no).in_(wanted)))).all() if t}
    return HubSide(orders=sorted(orders, key=lambda o: o.order_id), receipts=receipts, refunds=refunds,
                   known_trades=sorted(known))


async def store_report(db_url: str, request: StoreReportInput) -> None:
    day = request.window.day.isoformat()
    counts: dict[str, int] = defaultdict(int)
    for d in request.differences:
        counts[d.kind.value] += 1
    now = utcnow()
    async with session_scope(db_url) as session:
        await session.exec(delete(ReconciliationDifference).where(col(ReconciliationDifference.day) == day))
        report = await session.get(ReconciliationReport, day)
        values: dict[str, Any] = dict(
            status=report_status(request.differences, request.errors).value,
            time_zone=request.window.time_zone, workflow_id=request.workflow_id,
            summary={c: s.model_dump() for c, s in request.summary.items()}, counts=dict(sorted(counts.items())),
            errors=list(request.errors), differences=len(request.differences), updated_at=now)
        if report is None:
            session.add(ReconciliationReport(day=day, created_at=now, **values))
        else:
            for key, value in values.items():
                setattr(report, key, value)
        await session.flush()
        for d in request.differences:
            session.add(ReconciliationDifference(day=day, kind=d.kind.value, channel=d.channel, shop=d.shop,
                                                 order_id=d.order_id, external_id=d.external_id,
                                                 expected_fen=d.expected_fen, actual_fen=d.actual_fen,
                                                 detail=d.detail[:500]))
    log.info("reconcile.stored", day=day, differences=len(request.differences), counts=dict(counts))
