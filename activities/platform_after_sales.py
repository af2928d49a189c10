"""Refunds and returns buyers open on a marketplace, admitted as after-sales tickets by the channel sync.

`pull_after_sales` reads one window of the platform's after-sales list (after that window's orders, so the
order is usually in the hub already), maps each request (`adapter.map_after_sale`) and admits a new one
through the one admission path, `activities.after_sales.open_ticket`, with the platform's request id as
the request id: a repeat pull (overlapping windows, a retried activity) finds the same ticket. The ticket's
workflow is started as POST /v1/after-sales starts it (TicketClient, update-with-start).

What the hub refuses (an order it does not have, more than was paid, a line the order lacks) or cannot map
is kept in quarantine with its reason, once; the window carries on. A request already answered or withdrawn
before the hub saw it opens nothing. A request whose order was handed to its workflow in this very sync but
is not recorded yet is retried (the activity's retry policy), not quarantined.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import update
from sqlmodel import col, select
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.after_sales import TicketRefused, open_ticket
from activities.channel import as_application_error, shop_access
from activities.channels import adapter_for
from activities.channels.base import ChannelAdapter, MappingError
from activities.channels.transport import ChannelCallError, ChannelTransport
from activities.clients.after_sales import TicketClient
from activities.intake import quarantine
from models.after_sales import AfterSalesRequest, TicketLine, TicketType, ticket_policy
from models.channel import PlatformAfterSale, PlatformRequestStatus
from models.channel_errors import ChannelError
from models.channel_sync import PullAfterSalesInput, PullAfterSalesResult
from models.config import Settings
from models.db import session_scope
from models.order import order_id_for, workflow_id_for
from models.tables import AfterSalesTicketRecord, OrderRecord

log = structlog.get_logger()

# How long a pulled request waits, within one attempt, for an order handed off moments ago to be recorded.
ORDER_RECORDED_WITHIN = timedelta(seconds=10)
OPENED_ANSWER_WITHIN = timedelta(seconds=10)


def source_of(channel: str, shop: str) -> str:
    return f"pull:{channel}/{shop}:after-sales"


async def pull_after_sales(settings: Settings, client: Client, transport: ChannelTransport,
                           request: PullAfterSalesInput) -> PullAfterSalesResult:
    access, _ = await shop_access(settings.db_url, request.channel, request.shop)
    adapter = adapter_for(request.channel)
    result = PullAfterSalesResult()
    try:
        async for page in transport.pull_after_sales_pages(access, request.start, request.end):
            result.pages += 1
            for payload in page:
                result.seen += 1
                outcome = await admit(settings, client, adapter, request.shop, payload)
                setattr(result, outcome, getattr(result, outcome) + 1)
            activity.heartbeat(result.pages)
    except ChannelCallError as err:
        raise as_application_error(err, request.channel, request.shop) from err
    log.info("after-sales window pulled", channel=request.channel, shop=request.shop,
             start=request.start.isoformat(), end=request.end.isoformat(), **result.model_dump())
    return result


async def admit(settings: Settings, client: Client, adapter: ChannelAdapter, shop: str, payload: Any) -> str:
    """One platform request -> "opened" | "known" | "not_pending" | "quarantined"."""
    channel = adapter.channel
    raw = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    try:
        mapped = adapter.map_after_sale(payload, shop=shop)
    except MappingError as err:
        await quarantine(settings.db_url, source_of(channel, shop), raw, f"{err.field}: {err.reason}", once=True)
        return "quarantined"
    if await refresh_known(settings.db_url, mapped):
        return "known"
    if mapped.status is not PlatformRequestStatus.PENDING:
        return "not_pending"  # answered or withdrawn at the platform before the hub saw it
    order_id = order_id_for(mapped.channel, mapped.shop, mapped.external_id)
    try:
        ask = AfterSalesRequest(
            order_id=order_id, type=TicketType(mapped.type), reason=mapped.reason, amount=mapped.amount,
            lines=None if mapped.lines is None else [TicketLine(sku=l.sku, quantity=l.quantity) for l in mapped.lines],
            request_id=mapped.request_id)
    except ValidationError as err:
        await quarantine(settings.db_url, source_of(channel, shop), raw, f"not a ticket request: {err}", once=True)
        return "quarantined"
    await order_recorded(settings, client, order_id)
    try:
        facts, created = await open_ticket(settings.db_url, ask, platform_request_id=mapped.request_id,
                                           platform_status=mapped.status.value)
    except TicketRefused as refused:
        reason = f"{refused.error}: {refused.message}"
        if refused.errors:
            reason += " (" + "; ".join(f"{e['field']}: {e['reason']}" for e in refused.errors) + ")"
        await quarantine(settings.db_url, source_of(channel, shop), raw, reason, once=True)
        log.warning("platform after-sales request refused", channel=channel, shop=shop,
                    request_id=mapped.request_id, error=refused.error)
        return "quarantined"
    tickets = TicketClient(client, settings.task_queue)
    start = tickets.with_opened(facts, ticket_policy(settings))
    try:
        await tickets.opened(start, rpc_timeout=OPENED_ANSWER_WITHIN)
    except WorkflowAlreadyStartedError:
        pass  # the ticket ran and ended already: a retry after it was started
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        pass  # started; its first decision comes later
    log.info("platform after-sales request opened a ticket", channel=channel, shop=shop,
             request_id=mapped.request_id, ticket_id=facts.ticket_id, created=created)
    return "opened"


async def refresh_known(db_url: str, mapped: PlatformAfterSale) -> bool:
    """A ticket already holds this request: keep its platform status as the platform shows it."""
    async with session_scope(db_url) as session:
        ticket_id = (await session.exec(select(AfterSalesTicketRecord.ticket_id).where(
            col(AfterSalesTicketRecord.channel) == mapped.channel, col(AfterSalesTicketRecord.shop) == mapped.shop,
            col(AfterSalesTicketRecord.platform_request_id) == mapped.request_id))).first()
        if ticket_id is None:
            return False
        await session.exec(update(AfterSalesTicketRecord).where(col(AfterSalesTicketRecord.ticket_id) == ticket_id)
                           .values(platform_status=mapped.status.value))
    return True


async def order_recorded(settings: Settings, client: Client, order_id: str) -> None:
    """Returns once the order is recorded or certainly unknown (open_ticket then refuses it, to quarantine).
    An order whose workflow runs but has not written its row yet (handed off by this sync moments ago) is
    waited for a little, then the activity is retried rather than the request quarantined."""
    async with session_scope(settings.db_url) as session:
        if await session.get(OrderRecord, order_id) is not None:
            return
    try:
        await client.get_workflow_handle(workflow_id_for(order_id)).describe()
    except RPCError:
        return  # no such order workflow: the hub does not have the order
    deadline = asyncio.get_running_loop().time() + ORDER_RECORDED_WITHIN.total_seconds()
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.5)
        async with session_scope(settings.db_url) as session:
            if await session.get(OrderRecord, order_id) is not None:
                return
        activity.heartbeat()
    raise ChannelError.ORDER_NOT_RECORDED.failure(f"order {order_id} is being taken in: its after-sales request waits",
                                                  non_retryable=False)
