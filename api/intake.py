"""Order intake: check an order against what the hub knows, then start its workflow.

Shared by POST /v1/orders and the retry of a quarantined payload."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.clients.order import OrderClient
from api.schemas import OrderAccepted
from models.config import Settings
from models.db import read_scope
from models.order import Order, OrderStatus
from models.order_workflow import order_policy
from models.tables import OrderRecord

log = structlog.get_logger()

ORDER_SOURCE = "api:POST /v1/orders"
# How long the API waits for the workflow's answer before replying 202: the order is durable
# from the moment Temporal accepted it, so a slow worker never loses it.
ANSWER_WITHIN = timedelta(seconds=20)


async def order_record(db_url: str, order_id: str) -> OrderRecord | None:
    async with read_scope(db_url) as session:
        return await session.get(OrderRecord, order_id)


async def start_order(settings: Settings, client: Client, order: Order) -> tuple[int, OrderAccepted]:
    """Update-with-start: the answer comes once stock is reserved or short. 201 for a new
    order, 200 for one seen before, 202 when the worker has not answered in time."""
    order_id = order.order_id
    orders = OrderClient(client, settings.task_queue)
    # Same channel, shop and external id: join the running order, and never restart a closed one.
    start = orders.with_stock_decision(order, order_policy(settings))
    try:
        snapshot = await orders.stock_decision(start, rpc_timeout=ANSWER_WITHIN)
    except WorkflowAlreadyStartedError:
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await start.workflow_handle()  # consume the start's outcome so it is not logged as lost
        record = await order_record(settings.db_url, order_id)
        status = record.status if record else OrderStatus.COMPLETED.value
        return 200, OrderAccepted(order_id=order_id, status=status, hold_reason=record.hold_reason if record else None)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # The start's own outcome, read (or, still pending, given up) so that an RPC that timed out
        # before the start was confirmed is not logged again as a lost future at error level.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(start.workflow_handle(), 1)
        log.warning("stock decision not answered in time", order_id=order_id)
        return 202, OrderAccepted(order_id=order_id, status=OrderStatus.RECEIVED)
    log.info("order accepted", order_id=order_id, status=snapshot.status, created=snapshot.created)
    return (201 if snapshot.created else 200), OrderAccepted(
        order_id=order_id, status=snapshot.status, reservation=snapshot.reservation, hold_reason=snapshot.hold_reason,
        exception_tags=snapshot.exception_tags)
