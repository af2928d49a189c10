"""Warehouses and stock levels. Setting stock wakes the orders held for that sku."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Depends, Path, Request
from sqlmodel import col, select
from temporalio.client import Client

from activities.clients.order import OrderClient
from activities.clients.stock_sync import StockChangeNotifier
from activities.inventory import StockConflict, set_stock_level
from api.audit import note_change
from api.auth import caller
from api.deps import temporal_client
from api.errors import problem
from api.schemas import StockAtWarehouse, StockOut, StockSet, WarehouseOut
from models.api_errors import ApiError
from models.db import session_scope
from models.order import OrderStatus
from models.order_workflow import StockReplenished
from models.stock_errors import StockError
from models.tables import OrderLineRecord, OrderRecord, StockLevel, Warehouse

log = structlog.get_logger()
router = APIRouter(prefix="/v1", tags=["stock"], dependencies=[Depends(caller)])

SKU_PATH = Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
# Held orders woken per restock, oldest first; the rest re-check on their own timer.
WAKE_AT_MOST = 500


@router.get("/warehouses", response_model=list[WarehouseOut])
async def list_warehouses(request: Request) -> Any:
    async with session_scope(request.app.state.settings.db_url) as session:
        rows = (await session.exec(select(Warehouse).order_by(col(Warehouse.code)))).all()
    return [WarehouseOut.model_validate(w, from_attributes=True) for w in rows]


@router.get("/stock/{sku}", response_model=StockOut)
async def get_stock(request: Request, sku: str = SKU_PATH) -> Any:
    stock = await stock_of(request.app.state.settings.db_url, sku)
    if stock is None:
        return problem(StockError.SKU_NOT_FOUND, f"no stock recorded for sku {sku}")
    return stock


@router.put("/stock/{sku}", response_model=StockOut)
async def put_stock(request: Request, body: StockSet, sku: str = SKU_PATH,
                    client: Client = Depends(temporal_client)) -> Any:
    db_url = request.app.state.settings.db_url
    async with session_scope(db_url) as session:
        if await session.get(Warehouse, body.warehouse) is None:
            return problem(ApiError.VALIDATION_FAILED, "unknown warehouse",
                           errors=[{"field": "warehouse", "reason": f"no warehouse {body.warehouse}"}])
    before: dict[str, int] = {}
    try:
        level = await set_stock_level(db_url, sku, body.warehouse, body.on_hand, body.safety_stock, before=before)
    except StockConflict as err:
        return problem(StockError.BELOW_RESERVED, str(err), errors=[{"field": "on_hand", "reason": str(err)}])
    note_change(request, object_type="stock", object_id=f"{sku}@{body.warehouse}", before=before or None,
                after={"on_hand": level.on_hand, "safety_stock": level.safety_stock})
    log.info("stock set", sku=sku, warehouse=body.warehouse, on_hand=body.on_hand)
    settings = request.app.state.settings
    if settings.push_stock:
        await StockChangeNotifier(client, settings.task_queue, debounce_s=settings.stock_push_debounce_s)(
            [sku], "stock set")
    stock = await stock_of(db_url, sku)
    if stock and stock.available_to_sell > 0:
        await wake_held_orders(db_url, client, sku)
    return stock


async def stock_of(db_url: str, sku: str) -> StockOut | None:
    async with session_scope(db_url) as session:
        rows = (await session.exec(select(StockLevel).where(col(StockLevel.sku) == sku)
                                   .order_by(col(StockLevel.warehouse)))).all()
    if not rows:
        return None
    levels = [
        StockAtWarehouse(warehouse=r.warehouse, on_hand=r.on_hand, reserved=r.reserved, safety_stock=r.safety_stock,
                         available=max(r.on_hand - r.reserved - r.safety_stock, 0),
                         awaiting_inspection=r.awaiting_inspection, damaged=r.damaged)
        for r in rows
    ]
    return StockOut(sku=sku, warehouses=levels, available_to_sell=sum(l.available for l in levels))


async def wake_held_orders(db_url: str, client: Client, sku: str) -> int:
    """Signal the orders held short of this sku to try again (best effort: they also re-check)."""
    async with session_scope(db_url) as session:
        workflow_ids = (await session.exec(
            select(OrderRecord.workflow_id)
            .join(OrderLineRecord, col(OrderLineRecord.order_id) == col(OrderRecord.order_id))
            .where(col(OrderRecord.status) == OrderStatus.ON_HOLD.value,
                   col(OrderRecord.hold_reason).like("out_of_stock%"), col(OrderLineRecord.sku) == sku)
            .order_by(col(OrderRecord.created_at)).limit(WAKE_AT_MOST)
        )).all()
    woken = 0
    for workflow_id in workflow_ids:
        try:
            await OrderClient(client).stock_replenished(workflow_id, StockReplenished(sku=sku))
            woken += 1
        except Exception as err:  # a closed or unreachable order re-checks on its own timer
            log.warning("could not wake held order", workflow_id=workflow_id, error=type(err).__name__)
    return woken
