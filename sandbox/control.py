"""Sandbox control API for tests: records, reset, fault rules."""

from typing import Any, Literal

from fastapi import APIRouter, Request

from sandbox.faults import FaultInjector, FaultRule
from sandbox.records import RecordStore

router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])

RecordKindFilter = Literal[
    "waybill", "subscription", "tracking_callback", "shipback", "payment", "refund", "stock", "webhook",
    "channel_refund", "notification",
]


def _faults(request: Request) -> FaultInjector:
    return request.app.state.faults


def _rules(injector: FaultInjector) -> dict[str, Any]:
    return {"rules": [rule.model_dump() for rule in injector.rules()], "injected": dict(injector.injected)}


@router.get("/records")
async def list_records(
    request: Request,
    kind: RecordKindFilter | None = None,
    key: str | None = None,
    channel: str | None = None,
    shop: str | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    """Records, filtered by kind, key and (for shipback, stock, webhook, channel_refund) the body's
    channel/shop/external_id."""
    records: RecordStore = request.app.state.records
    found = records.list(kind=kind, key=key, channel=channel, shop=shop, external_id=external_id)
    items = [record.as_json() for record in found]
    return {"items": items, "total": len(items)}


@router.post("/reset")
async def reset(request: Request) -> dict[str, Any]:
    """Forget every effect; fault rules go back to the ones the sandbox started with."""
    state = request.app.state
    await state.carrier.reset()
    await state.webhooks.reset()
    state.platforms.reset()
    state.gateway.reset()
    state.records.clear()
    state.robots.reset()
    state.settlement.reset()
    state.faults.reset()
    return {"ok": True}


@router.put("/faults")
async def set_fault(rule: FaultRule, request: Request) -> dict[str, Any]:
    injector = _faults(request)
    injector.set(rule)
    return _rules(injector)


@router.get("/faults")
async def list_faults(request: Request) -> dict[str, Any]:
    return _rules(_faults(request))


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, Any]:
    injector = _faults(request)
    injector.clear()
    return _rules(injector)
