"""The audit trail over HTTP: the middleware that writes one entry per state-changing request, what routes
call to say what changed (`note_change`) or who a platform caller is (`note_actor`), and `GET /v1/audit`.

When the entry is written: after the route returned, before the response starts. The middleware holds the
response's first message until the entry is in the database, so a client that has its answer can read the
entry at once. The cost is one short transaction before each state-changing answer; a failed write is logged
(`audit.write_failed`, error level) and the answer goes out all the same: the audit never fails a request.

Who: the principal the authentication dependency put on `request.state.principal`, else the actor a
webhook or carrier callback named with `note_actor` after checking the platform's signature. A request
with neither (no or a bad token: 401; throttled: 429; a bad signature; 413 before any route) writes
nothing, so an anonymous caller cannot grow the table; it is logged (`audit.anonymous`) instead.

Where from: `ip` is the TCP peer the server reports (`scope["client"]`). Behind a reverse proxy, uvicorn's
own proxy-header handling is the one mechanism: it rewrites the peer from `X-Forwarded-For` only for the
proxies in `FORWARDED_ALLOW_IPS` (default 127.0.0.1), so a caller cannot name its own address.

Every response carries `X-Request-ID`: the caller's own when it sent a sane one (1 to 64 of
`A-Za-z0-9._:-`), else a new uuid4 hex; it is also in every log line of the request and in the entry.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from typing import Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, Field
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import caller
from api.schemas import UtcDatetime
from models.audit import AuditDraft, AuditQuery, Outcome, query_audit, record_audits
from models.principals import Principal

log = structlog.get_logger(__name__)

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUDITED_PREFIX = "/v1/"  # webhooks (/v1/webhooks/...) and carrier callbacks (/v1/carriers/tracking) included
REQUEST_ID_HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
PAGE_SIZE = 50

# Keys in scope["state"] (what `request.state` reads and writes).
_CHANGES, _ACTOR, _REQUEST_ID = "audit_changes", "audit_actor", "request_id"

# A route that noted no change still names what it was asked about: the object its path names. The path's
# first segment under /v1 gives the type (the names routes give note_change), its parameters the id.
PATH_OBJECT_TYPES = {"orders": "order", "after-sales": "ticket", "stock": "stock", "shops": "shop",
                     "quarantine": "quarantine", "principals": "principal", "webhooks": "shop"}


def note_change(request: Request, *, object_type: str, object_id: str, before: dict[str, Any] | None = None,
                after: dict[str, Any] | None = None, action: str | None = None) -> None:
    """What the request changed, for its audit entry: the changed fields as they were and became. One entry
    per object: a second call for the same object (and action) adds to its fields, one for another object
    makes a second entry. `action` replaces the route's name (its operation id) for this entry."""
    changes: list[dict[str, Any]] = _state(request.scope).setdefault(_CHANGES, [])
    for change in changes:
        if (change["object_type"], change["object_id"], change["action"]) == (object_type, object_id, action):
            for key, value in (("before", before), ("after", after)):
                if value is not None:
                    change[key] = {**(change[key] or {}), **value}
            return
    changes.append({"object_type": object_type, "object_id": object_id, "before": before, "after": after,
                    "action": action})


def note_actor(request: Request, *, actor_id: str, actor_name: str, role: str = "platform") -> None:
    """The actor of a request no principal made (a webhook, a carrier callback), once its signature checked
    out: e.g. actor_id `platform:douyin/default`. A principal on the request takes precedence."""
    _state(request.scope)[_ACTOR] = {"actor_id": actor_id, "actor_name": actor_name, "role": role}


def request_id_of(request: Request) -> str | None:
    """The request's id (the one echoed in X-Request-ID), for a route that passes it on."""
    return _state(request.scope).get(_REQUEST_ID)


def outcome_of(status: int) -> Outcome:
    if status == 202:
        return "accepted"
    if 400 <= status < 500:
        return "refused"
    return "failed" if status >= 500 else "ok"


def _state(scope: Scope) -> dict[str, Any]:
    # The same dict `request.state` wraps, whichever Request object a route or dependency made.
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if SANE_REQUEST_ID.match(text):
                return text
            break
    return uuid.uuid4().hex


class AuditMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware: the route's own task, its context variables, a streamed body
    untouched). One entry per noted change, or one when the route noted none."""

    def __init__(self, app: ASGIApp, db_url: str | None = None) -> None:
        self.app, self.db_url = app, db_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        _state(scope)[_REQUEST_ID] = request_id
        audited = scope["method"] in WRITES and scope["path"].startswith(AUDITED_PREFIX)
        done = False

        async def send_with_audit(message: Message) -> None:
            nonlocal done
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
                if audited and not done:
                    done = True
                    await self._audit(scope, message["status"], request_id)
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_audit)
            except Exception:
                # Unhandled: the server answers 500 after this; the entry says the request failed.
                if audited and not done:
                    done = True
                    await self._audit(scope, 500, request_id)
                raise

    async def _audit(self, scope: Scope, status: int, request_id: str) -> None:
        drafts = audit_drafts(scope, status, request_id)
        if drafts is None:
            client = scope.get("client")
            log.info("audit.anonymous", method=scope["method"], path=scope["path"], status=status,
                     ip=client[0] if client else None)
            return
        db_url = self.db_url or scope["app"].state.settings.db_url
        try:
            # Shielded: a client that hangs up while the entry is written does not lose the entry.
            await asyncio.shield(record_audits(db_url, drafts))
        except Exception:
            log.exception("audit.write_failed", method=scope["method"], path=scope["path"], status=status,
                          actions=[d.action for d in drafts], actor_id=drafts[0].actor_id)


def audit_drafts(scope: Scope, status: int, request_id: str) -> list[AuditDraft] | None:
    """The entries of a finished request; None when no one is known to have made it."""
    state = _state(scope)
    principal = state.get("principal")
    if isinstance(principal, Principal):
        actor = {"actor_id": principal.id, "actor_name": principal.name, "role": principal.role}
    elif _ACTOR in state:
        actor = state[_ACTOR]
    else:
        return None
    route = scope.get("route")
    action = getattr(route, "name", None) or f"{scope['method']} {scope['path']}"
    client = scope.get("client")
    common: dict[str, Any] = {**actor, "ip": client[0] if client else None, "request_id": request_id,
                              "outcome": outcome_of(status)}
    changes = state.get(_CHANGES) or [{"action": None, "before": None, "after": None, **_path_object(scope)}]
    return [AuditDraft(**common, **{**change, "action": change["action"] or action}) for change in changes]


def _path_object(scope: Scope) -> dict[str, str | None]:
    params = scope.get("path_params") or {}
    if not params:
        return {"object_type": None, "object_id": None}
    segments = scope["path"].removeprefix(AUDITED_PREFIX).split("/")
    return {"object_type": PATH_OBJECT_TYPES.get(segments[0], segments[0][:32]),
            "object_id": "/".join(str(value) for value in params.values())}


def install_audit(app: FastAPI, db_url: str | None = None) -> None:
    """Add the middleware (default database: `app.state.settings.db_url`, read per request). Add it last,
    so it is the outermost of the app's middleware: every answer, a 413 or 429 too, carries X-Request-ID."""
    app.add_middleware(AuditMiddleware, db_url=db_url)


# --- GET /v1/audit ---------------------------------------------------------------------------------------

router = APIRouter(prefix="/v1/audit", tags=["audit"], dependencies=[Depends(caller)])


class AuditEntryOut(BaseModel):
    id: int
    at: UtcDatetime
    actor_id: str = Field(description="the principal's id; `cli` for a CLI command; `platform:<channel>/<shop>` "
                                      "for a webhook or callback")
    actor_name: str
    role: str
    action: str = Field(description="the operation id (the route's name), or what the route or command named")
    object_type: str | None
    object_id: str | None
    before: dict[str, Any] | None = Field(description="the changed fields as they were")
    after: dict[str, Any] | None = Field(description="the changed fields as they became")
    ip: str | None
    request_id: str | None
    outcome: Outcome = Field(description="ok (2xx), accepted (202), refused (4xx), failed (5xx)")


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    total: int = Field(description="entries matching the filters, over every page")
    page: int
    page_size: int


@router.get("", response_model=AuditPage)
async def list_audit_entries(
    request: Request,
    object_type: str | None = Query(default=None, max_length=32, description="order, ticket, stock, principal, ..."),
    object_id: str | None = Query(default=None, max_length=200),
    actor: str | None = Query(default=None, max_length=200, description="the actor's id or name"),
    since: datetime | None = Query(default=None, description="entries at or after (ISO 8601; no zone: UTC)"),
    until: datetime | None = Query(default=None, description="entries before (ISO 8601; no zone: UTC)"),
    page: int = Query(default=1, ge=1, le=1_000_000),
) -> Any:
    """The audit trail, newest first, 50 a page. Entries are never changed or deleted through the API; they
    are kept `audit_retention_days` (180 by default)."""
    query = AuditQuery(object_type=object_type, object_id=object_id, actor=actor, since=since, until=until,
                       page=page, page_size=PAGE_SIZE)
    rows, total = await query_audit(request.app.state.settings.db_url, query)
    return AuditPage(items=[AuditEntryOut.model_validate(row, from_attributes=True) for row in rows], total=total,
                     page=page, page_size=PAGE_SIZE)
