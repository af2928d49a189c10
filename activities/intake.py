"""Order intake shared by every way an order arrives: the API, a platform webhook, a pull, and the
retry of a quarantined payload.

A payload that cannot be processed is kept raw with its reason in the quarantine table, never
dropped; so is an order for a shop the hub has not registered (its ship-back would fail once the
goods have left). A channel order is handed to its workflow with signal-with-start: one workflow per
order id ({channel}:{shop}:{external_id}) however often it arrives (webhook duplicates, overlapping
pull windows), and the platform-side state (paid, cancelled, refunding) reaches the running order
as a signal. A webhook's order id carries the shop whose secret signed it, so it reaches that
shop's orders only.
"""

from __future__ import annotations

from sqlalchemy import literal
from sqlmodel import col, select
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.channels import adapter_for
from activities.channels.base import ChannelOrder, MappingError
from activities.clients.order import OrderClient
from models.config import Settings
from models.db import read_scope, session_scope
from models.order import Order
from models.order_workflow import ChannelUpdate, order_policy
from models.tables import QuarantinedPayload, Shop, Sku


class Rejected(Exception):
    """Input that cannot be processed, with each field and reason."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(describe(errors))
        self.errors = errors


def describe(errors: list[dict[str, str]]) -> str:
    return "; ".join(f"{e['field']}: {e['reason']}" for e in errors)


# Stands for "the shop is registered" among the known SKU codes: no SKU code starts with '/'.
_SHOP_REGISTERED = "/shop"


async def intake_errors(db_url: str, order: Order) -> list[dict[str, str]]:
    """What the schema cannot see: a shop the hub has not registered, lines naming SKUs it does not
    know. One statement: this runs for every order that arrives."""
    skus = {line.sku for line in order.lines}
    known_skus = select(col(Sku.code)).where(col(Sku.code).in_(skus))
    shop = select(literal(_SHOP_REGISTERED)).select_from(Shop).where(col(Shop.channel) == order.channel,
                                                                     col(Shop.shop) == order.shop)
    async with read_scope(db_url) as session:
        conn = await session.connection()  # a Core UNION of two columns: no entity for session.exec to return
        known = set((await conn.execute(known_skus.union_all(shop))).scalars())
    errors = [] if _SHOP_REGISTERED in known else [
        {"field": "shop", "reason": f"no shop {order.channel}/{order.shop} is registered (POST /v1/shops)"}]
    return errors + [{"field": f"lines[{i}].sku", "reason": f"unknown sku {line.sku}"}
                     for i, line in enumerate(order.lines) if line.sku not in known]


async def quarantine(db_url: str, source: str, payload: bytes | str, reason: str, *, once: bool = False) -> int:
    """Keep the raw payload with its reason. `once`: a payload already waiting in quarantine from
    the same source is not stored again (a pull sees the same bad order in every overlap)."""
    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
    async with session_scope(db_url) as session:
        if once:
            existing = (await session.exec(select(QuarantinedPayload.id).where(
                col(QuarantinedPayload.source) == source, col(QuarantinedPayload.status) == "QUARANTINED",
                col(QuarantinedPayload.payload) == text).limit(1))).first()
            if existing is not None:
                return existing
        record = QuarantinedPayload(source=source, payload=text, reason=reason[:2000])
        session.add(record)
        await session.flush()
        return record.id or 0


def map_channel_order(channel: str, shop: str, payload: object) -> ChannelOrder:
    """The adapter's mapping, with a MappingError turned into Rejected naming the platform field."""
    try:
        if not isinstance(payload, dict):
            raise MappingError("body", "not a JSON object")
        return adapter_for(channel).map_order(payload, shop=shop)
    except MappingError as err:
        raise Rejected([{"field": err.field, "reason": err.reason}]) from err


async def hand_off_channel_order(settings: Settings, client: Client, channel: str, shop: str, payload: object,
                                 event_id: str | None) -> tuple[str, str]:
    """Map a channel's order payload and hand it to the order's workflow (signal-with-start).
    Returns (order_id, "handed_off" | "order_closed"); raises Rejected when it cannot be mapped."""
    mapped = map_channel_order(channel, shop, payload)
    order = mapped.order
    if errors := await intake_errors(settings.db_url, order):
        raise Rejected(errors)
    update = ChannelUpdate(state=mapped.state.value, raw_status=mapped.raw_status, event_id=event_id,
                           modified_at=mapped.modified_at)
    try:
        await OrderClient(client, settings.task_queue).start_from_channel(order, order_policy(settings), update)
    except WorkflowAlreadyStartedError:
        return order.order_id, "order_closed"  # a late event for an order already completed or cancelled
    return order.order_id, "handed_off"

