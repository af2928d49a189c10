"""Platform sandbox: carrier, payment gateway, the marketplaces (Taobao, JD, Pinduoduo, Douyin,
Shopify), the own web store and a group-chat robot (notifications) over HTTP.

Run with `uvicorn --factory sandbox.app:create_app` (how the tests start it; `orderhub sandbox` calls
`create_app` itself). All state lives on `app.state`, so several apps can coexist in one test process.
The sandbox is an independent implementation of the other side of the wire: it imports nothing of the
hub (activities, workflows, models, api, workers) nor the benchmarks (tests/sandbox/test_sandbox_standalone.py).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from sandbox import carrier, control, gateway, notify, settlement
from sandbox.config import SandboxSettings
from sandbox.errors import ServiceError, service_error_handler, validation_error_handler
from sandbox.faults import FaultInjector, parse_fault_rules
from sandbox.platforms import PLATFORMS
from sandbox.platforms import control as platform_control
from sandbox.platforms.state import Marketplaces
from sandbox.platforms.webhooks import WebhookDispatcher
from sandbox.records import RecordStore
from sandbox.tracking import TrackingService

log = structlog.get_logger(__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: SandboxSettings = app.state.settings
    log.info(
        "sandbox.started",
        delivery_delay_s=settings.delivery_delay_s,
        refund_async_delay_s=settings.refund_async_delay_s,
        fault_rules=len(app.state.faults.rules()),
    )
    try:
        yield
    finally:
        # Cancel pending tracking pushes so shutdown never hangs on a sleeping retry.
        await app.state.carrier.tracking.close()
        await app.state.webhooks.close()
        log.info("sandbox.stopped")


def create_app(settings: SandboxSettings | None = None) -> FastAPI:
    settings = settings or SandboxSettings()
    app = FastAPI(title="OrderHub platform sandbox", lifespan=_lifespan)

    records = RecordStore()
    app.state.settings = settings
    app.state.records = records
    # Bad SANDBOX_FAULTS fails here, at start, rather than at the first request.
    app.state.faults = FaultInjector(parse_fault_rules(settings.faults), seed=settings.seed)
    app.state.carrier = carrier.CarrierState(TrackingService(settings, records))
    app.state.gateway = gateway.GatewayState(settings.refund_async_delay_s, records)
    app.state.platforms = Marketplaces(records, rate_per_s=settings.platform_rate_per_s,
                                       burst=settings.platform_rate_burst, seed=settings.seed,
                                       gateway=app.state.gateway)
    app.state.webhooks = WebhookDispatcher(settings, records, app.state.faults)
    app.state.robots = notify.RobotState()
    app.state.settlement = settlement.SettlementState()

    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(ServiceError, service_error_handler)

    app.include_router(carrier.router)
    app.include_router(gateway.router)
    for platform in PLATFORMS.values():
        app.include_router(platform.router())
    app.include_router(notify.router)
    app.include_router(control.router)
    app.include_router(platform_control.router)
    app.include_router(notify.control_router)
    app.include_router(carrier.control_router)
    app.include_router(settlement.router)
    app.include_router(settlement.control_router)

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app
