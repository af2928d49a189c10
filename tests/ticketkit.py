"""Test helpers for after-sales tickets: a delivered or unshipped order, and a ticket opened the way
POST /v1/after-sales opens it (open_ticket, then update-with-start of its workflow)."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.client import Client, WorkflowHandle

from activities.after_sales import open_ticket
from activities.clients.after_sales import TicketClient
from models.after_sales import AfterSalesRequest, TicketPolicy, TicketSnapshot, ticket_policy
from models.config import Settings
from models.order import Order, OrderStatus
from models.order_workflow import ScanShipment
from orderkit import finish, make_order, paid_order, submit, wait_until
from workflows.after_sales import AfterSalesWorkflow
from workflows.order import OrderWorkflow


async def order_at(env, settings: Settings, lines: list[tuple[str, int]], *, delivered: bool,
                   **extra: Any) -> tuple[Order, WorkflowHandle]:
    """A paid order (its buyer paid at the gateway: `order.trade_no`), delivered (COMPLETED) or printed and
    waiting for its scan."""
    order = await paid_order(settings, make_order(lines, paid=True, **extra))
    _, handle = await submit(env.client, settings, order)
    await wait_until(lambda: handle.query(OrderWorkflow.state), lambda s: s.status == OrderStatus.AWAITING_SCAN)
    if delivered:
        await handle.execute_update(OrderWorkflow.scan_shipment, ScanShipment())
        assert (await finish(env, handle)).status == OrderStatus.COMPLETED
    return order, handle


async def open_and_start(client: Client, settings: Settings, policy: TicketPolicy | None = None,
                         **request: Any) -> tuple[TicketSnapshot, WorkflowHandle]:
    facts, _ = await open_ticket(settings.db_url, AfterSalesRequest.model_validate(request))
    tickets = TicketClient(client, settings.task_queue)
    start = tickets.with_opened(facts, policy or ticket_policy(settings))
    snapshot = await tickets.opened(start)
    return snapshot, await start.workflow_handle()


async def ticket_state(handle: WorkflowHandle, *statuses: str, attempts: int = 300) -> TicketSnapshot:
    return await wait_until(lambda: handle.query(AfterSalesWorkflow.state), lambda s: s.status in statuses, attempts)


async def records(sandbox_url: str, kind: str, key: str | None = None) -> list[dict]:
    params = {"kind": kind, **({"key": key} if key else {})}
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{sandbox_url}/_sandbox/records", params=params)).json()["items"]


async def settle_tickets(env, db_url: str) -> None:
    """Let every ticket a test opened reach its end while the worker still runs: a ticket left with a
    pending activity would hold the module's time-skipping clock still for the next test."""
    import asyncio

    from sqlalchemy import select

    from models.db import session_scope
    from models.tables import AfterSalesTicketRecord

    async with session_scope(db_url) as session:
        workflow_ids = (await session.execute(select(AfterSalesTicketRecord.workflow_id))).scalars().all()
    async with env.time_skipping_unlocked():
        for workflow_id in workflow_ids:
            await asyncio.wait_for(env.client.get_workflow_handle(workflow_id).result(), 60)
