"""Platform webhooks: verify the signature, count each event once, hand off durably, answer fast.

The hand-off is a signal-with-start of the order's workflow: once Temporal has accepted it the
order is safe, so the answer is 202 without waiting for stock. A delivery that fails before the
hand-off answers 5xx and the platform delivers it again; a webhook that never arrives is caught
by the next pull.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import ColumnElement, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from starlette.datastructures import Headers
from temporalio.client import Client

from activities.channels.signing import verify_hex_hmac, verify_shopify_webhook
from activities.intake import hand_off_channel_order
from api.audit import note_actor, note_change
from api.deps import temporal_client
from api.errors import Rejected, describe, problem, quarantine
from models.api_errors import ApiError
from models.channel_errors import ChannelError
from models.config import Settings
from models.db import session_scope
from models.order import Channel, ShopName
from models.tables import Shop, WebhookEvent

log = structlog.get_logger()
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _shopify(raw: bytes, headers: Headers, secret: str) -> bool:
    return verify_shopify_webhook(raw, headers.get("x-shopify-hmac-sha256"), secret)


def _own_store(raw: bytes, headers: Headers, secret: str) -> bool:
    return verify_hex_hmac(raw, headers.get("x-ownstore-hmac-sha256"), secret)


_NO_SHOP_SECRET = secrets.token_hex(32)

# Channels that push, with how each signs its deliveries and names the event.
VERIFY: dict[str, Callable[[bytes, Headers, str], bool]] = {"shopify": _shopify, "own_store": _own_store}
EVENT_ID_HEADERS = ("x-shopify-event-id", "x-shopify-webhook-id", "x-ownstore-event-id")
TOPIC_HEADERS = ("x-shopify-topic", "x-ownstore-topic")


@router.post("/{channel}/{shop}", status_code=202)
async def receive_webhook(request: Request, channel: Channel, shop: ShopName,
                          client: Client = Depends(temporal_client)) -> Any:
    settings: Settings = request.app.state.settings
    raw = await request.body()
    verify = VERIFY.get(channel)
    if verify is None:
        return problem(ChannelError.NO_WEBHOOKS, f"{channel} delivers orders by pull, not by webhook")
    async with session_scope(settings.db_url) as session:
        registered = await session.get(Shop, (channel, shop))
    # An unknown shop is answered as a bad signature, after the same check against a secret nobody
    # holds: which shops exist cannot be probed with unsigned deliveries.
    if not verify(raw, request.headers, registered.app_secret if registered else _NO_SHOP_SECRET) \
            or registered is None:
        return problem(ApiError.BAD_SIGNATURE, f"the {channel} webhook signature does not match the body")
    note_actor(request, actor_id=f"platform:{channel}/{shop}", actor_name=f"{channel} webhook")

    event_id = next((request.headers[h] for h in EVENT_ID_HEADERS if h in request.headers), None) \
        or hashlib.sha256(raw).hexdigest()
    topic = next((request.headers[h] for h in TOPIC_HEADERS if h in request.headers), "")
    if not await _first_delivery(settings.db_url, channel, shop, event_id, topic):
        log.info("duplicate webhook", channel=channel, shop=shop, event_id=event_id)
        return JSONResponse(status_code=200, content={"duplicate": True, "event_id": event_id})

    source = f"webhook:{channel}/{shop}"
    try:
        payload = json.loads(raw)
    except ValueError as err:
        return await _quarantined(settings, source, raw, event_id, [{"field": "body", "reason": f"not JSON: {err}"}],
                                  channel, shop)
    try:
        order_id, outcome = await ingest(settings, client, channel, shop, payload, event_id)
    except Rejected as rejected:
        return await _quarantined(settings, source, raw, event_id, rejected.errors, channel, shop)
    except Exception:
        await _forget(settings.db_url, channel, shop, event_id)  # the platform's retry must get through
        raise
    await _set_status(settings.db_url, channel, shop, event_id, order_id)
    note_change(request, object_type="order", object_id=order_id, after={"event_id": event_id, "outcome": outcome})
    log.info("webhook handed off", channel=channel, shop=shop, event_id=event_id, order_id=order_id, outcome=outcome)
    return JSONResponse(status_code=202, content={"accepted": True, "order_id": order_id, "outcome": outcome})


async def ingest(settings: Settings, client: Client, channel: str, shop: str, payload: Any,
                 event_id: str | None) -> tuple[str, str]:
    """Map and hand off one webhook payload; raises Rejected naming the field."""
    return await hand_off_channel_order(settings, client, channel, shop, payload, event_id)


async def _first_delivery(db_url: str, channel: str, shop: str, event_id: str, topic: str) -> bool:
    async with session_scope(db_url) as session:
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        result = await session.exec(
            insert(WebhookEvent).values(channel=channel, shop=shop, event_id=event_id, topic=topic[:64])
            .on_conflict_do_nothing(index_elements=["channel", "shop", "event_id"]))
        if result.rowcount == 0:
            await session.exec(update(WebhookEvent).where(*_event(channel, shop, event_id))
                               .values(deliveries=col(WebhookEvent.deliveries) + 1))
        return result.rowcount == 1


def _event(channel: str, shop: str, event_id: str) -> tuple[ColumnElement[bool], ...]:
    return (col(WebhookEvent.channel) == channel, col(WebhookEvent.shop) == shop,
            col(WebhookEvent.event_id) == event_id)


async def _set_status(db_url: str, channel: str, shop: str, event_id: str, order_id: str | None, *,
                      status: str = "HANDED_OFF") -> None:
    async with session_scope(db_url) as session:
        await session.exec(update(WebhookEvent).where(*_event(channel, shop, event_id))
                           .values(status=status, order_id=order_id))


async def _forget(db_url: str, channel: str, shop: str, event_id: str) -> None:
    async with session_scope(db_url) as session:
        await session.exec(delete(WebhookEvent).where(*_event(channel, shop, event_id)))


async def _quarantined(settings: Settings, source: str, raw: bytes, event_id: str, errors: list[dict[str, str]],
                       channel: str, shop: str) -> JSONResponse:
    qid = await quarantine(settings.db_url, source, raw, describe(errors))
    await _set_status(settings.db_url, channel, shop, event_id, None, status="QUARANTINED")
    log.info("webhook quarantined", channel=channel, shop=shop, event_id=event_id, quarantine_id=qid)
    return problem(ApiError.VALIDATION_FAILED, "the webhook payload cannot be processed", errors=errors,
                   quarantine_id=qid)
