"""The OrderHub HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from api import (
    after_sales,
    audit,
    carriers,
    exceptions,
    orders,
    principals,
    quarantine,
    reconciliation,
    shops,
    stock,
    webhooks,
)
from api.access import check_routes, describe_routes
from api.audit import install_audit
from api.errors import install_error_handlers
from api.limits import install_body_limit
from api.openapi import install_openapi
from api.throttle import AuthThrottle
from models.config import Settings, get_settings
from models.db import dispose_engines, session_scope, upgrade
from models.rules import shared_rules


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await upgrade(settings.db_url)
        yield
        await dispose_engines()

    app = FastAPI(
        title="OrderHub",
        version="0.1.0",
        description="Every order a durable Temporal workflow. Authenticate with `Authorization: Bearer <token>`. "
                    "An order's id is `{channel}:{shop}:{external_id}`, e.g. `jd:default:T-1001`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.temporal = None
    app.state.auth_throttle = AuthThrottle(settings.auth_failure_limit, settings.auth_failure_window_s)
    app.state.rules = shared_rules(settings.rules_file)  # a bad rules file stops the start, with its line
    install_error_handlers(app)
    install_body_limit(app, settings.api_max_body_bytes)
    install_openapi(app)
    # Each of these routers carries api.auth.caller: every route's rule in api.access, the principal.
    for module in (orders, after_sales, stock, shops, quarantine, exceptions, reconciliation, audit,
                   principals):
        app.include_router(module.router)
    # Signed by their senders (a platform, a carrier), not by a token.
    app.include_router(carriers.router)
    app.include_router(webhooks.router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, object]:
        async with session_scope(settings.db_url) as session:
            await session.scalar(text("SELECT 1"))
        return {"ok": True}

    install_audit(app)  # the outermost middleware: 413 and 429 answers carry X-Request-ID too
    check_routes(app)
    describe_routes(app)
    return app
