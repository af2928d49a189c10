"""Shops: one per channel account, with the credentials the hub calls the platform with.
Secrets are never answered in full."""

from __future__ import annotations

import hashlib
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlmodel import col, select
from temporalio.client import Client

from activities.clients.channel_sync import ensure_channel_sync, signal_channel_sync
from api.audit import note_change
from api.auth import caller
from api.deps import temporal_client
from api.errors import problem
from api.schemas import UtcDatetime
from models.channel_errors import ChannelError
from models.channel_sync import ChannelSyncMessage, CredentialsRenewed, SyncNow, SyncSettingsChanged, channel_sync_id
from models.config import Settings
from models.db import session_scope
from models.order import Channel, ShopName
from models.tables import Shop, utcnow

log = structlog.get_logger()
router = APIRouter(prefix="/v1/shops", tags=["shops"], dependencies=[Depends(caller)])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_key: str = Field(min_length=1, max_length=128)
    app_secret: str = Field(min_length=1, max_length=256)
    access_token: str = Field(min_length=1, max_length=512)


class ShopCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    shop: ShopName
    credentials: Credentials
    sync_interval_s: StrictInt | None = Field(default=None, ge=10, le=86_400,
                                        description="default ORDERHUB_SYNC_INTERVAL_S")


class ShopUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credentials: Credentials | None = None
    access_token: str | None = Field(default=None, min_length=1, max_length=512, description="new token only")
    sync_interval_s: StrictInt | None = Field(default=None, ge=10, le=86_400)


class ShopOut(BaseModel):
    channel: str
    shop: str
    app_key: str
    app_secret: str  # masked
    access_token: str  # masked
    sync_interval_s: int
    status: str  # ACTIVE, or PAUSED with the reason (e.g. the platform's expired-token error)
    status_reason: str | None
    sync_cursor: UtcDatetime | None  # orders modified up to here have been pulled
    last_synced_at: UtcDatetime | None
    last_sync_error: str | None
    orders_pulled: int
    created_at: UtcDatetime
    updated_at: UtcDatetime


def mask(secret: str) -> str:
    return "****" if len(secret) <= 8 else f"{secret[:2]}****{secret[-2:]}"


def shop_out(shop: Shop) -> ShopOut:
    return ShopOut(channel=shop.channel, shop=shop.shop, app_key=shop.app_key, app_secret=mask(shop.app_secret),
                   access_token=mask(shop.access_token), sync_interval_s=shop.sync_interval_s, status=shop.status,
                   status_reason=shop.status_reason, sync_cursor=shop.sync_cursor, last_synced_at=shop.last_synced_at,
                   last_sync_error=shop.last_sync_error, orders_pulled=shop.orders_pulled or 0,
                   created_at=shop.created_at, updated_at=shop.updated_at)


async def register_shop(settings: Settings, body: ShopCreate) -> Shop | None:
    """None when the shop is already registered (PUT changes it)."""
    async with session_scope(settings.db_url) as session:
        if await session.get(Shop, (body.channel, body.shop)) is not None:
            return None
        shop = Shop(channel=body.channel, shop=body.shop, sync_interval_s=body.sync_interval_s or settings.sync_interval_s,
                    **body.credentials.model_dump())
        session.add(shop)
    return shop


def _audited(shop: Shop) -> dict[str, object]:
    """What the audit keeps of a shop: never its secret or token, only that they changed."""
    return {"status": shop.status, "sync_interval_s": shop.sync_interval_s, "app_key": shop.app_key,
            "app_secret_sha256": fingerprint(shop.app_secret), "access_token_sha256": fingerprint(shop.access_token)}


def fingerprint(secret: str | None) -> str | None:
    return hashlib.sha256(secret.encode()).hexdigest()[:12] if secret else None


@router.post("", status_code=201, response_model=ShopOut)
async def create_shop(request: Request, body: ShopCreate,
                      client: Client = Depends(temporal_client)) -> Any:
    """Register a shop and start its ChannelSync workflow (the first pull runs at once)."""
    settings = request.app.state.settings
    shop = await register_shop(settings, body)
    if shop is None:
        return problem(ChannelError.SHOP_EXISTS, f"shop {body.channel}/{body.shop} is registered; PUT changes it")
    note_change(request, object_type="shop", object_id=f"{body.channel}/{body.shop}", after=_audited(shop))
    await ensure_channel_sync(client, settings, shop)
    log.info("shop registered", channel=body.channel, shop=body.shop)
    return shop_out(shop)


@router.get("", response_model=list[ShopOut])
async def list_shops(request: Request) -> Any:
    async with session_scope(request.app.state.settings.db_url) as session:
        shops = (await session.exec(select(Shop).order_by(col(Shop.channel), col(Shop.shop)))).all()
    return [shop_out(s) for s in shops]


@router.put("/{channel}/{shop}", response_model=ShopOut)
async def update_shop(request: Request, channel: Channel, shop: ShopName, body: ShopUpdate, client: Client = Depends(temporal_client)) -> Any:
    """New credentials or token: a shop paused for its credentials resumes its sync at once.
    A new interval takes effect from the next poll."""
    settings = request.app.state.settings
    async with session_scope(settings.db_url) as session:
        record = await session.get(Shop, (channel, shop))
        if record is None:
            return problem(ChannelError.SHOP_NOT_FOUND, f"no shop {channel}/{shop}")
        before = _audited(record)
        if body.credentials is not None:
            record.app_key, record.app_secret = body.credentials.app_key, body.credentials.app_secret
            record.access_token = body.credentials.access_token
        if body.access_token is not None:
            record.access_token = body.access_token
        if body.sync_interval_s is not None:
            record.sync_interval_s = body.sync_interval_s
        if body.credentials is not None or body.access_token is not None:
            record.status, record.status_reason = "ACTIVE", None
        record.updated_at = utcnow()
    note_change(request, object_type="shop", object_id=f"{channel}/{shop}", before=before, after=_audited(record))
    if body.credentials is not None or body.access_token is not None:
        await signal_channel_sync(client, settings, record, ChannelSyncMessage.CREDENTIALS_RENEWED, CredentialsRenewed())
    elif body.sync_interval_s is not None:
        await signal_channel_sync(client, settings, record, ChannelSyncMessage.SETTINGS_CHANGED,
                                  SyncSettingsChanged(sync_interval_s=body.sync_interval_s))
    log.info("shop updated", channel=channel, shop=shop)
    return shop_out(record)


@router.post("/{channel}/{shop}/sync", status_code=202)
async def sync_shop(request: Request, channel: Channel, shop: ShopName,
                    client: Client = Depends(temporal_client)) -> Any:
    """Pull now rather than at the next interval (a paused shop still waits for credentials)."""
    settings = request.app.state.settings
    async with session_scope(settings.db_url) as session:
        record = await session.get(Shop, (channel, shop))
    if record is None:
        return problem(ChannelError.SHOP_NOT_FOUND, f"no shop {channel}/{shop}")
    note_change(request, object_type="shop", object_id=f"{channel}/{shop}")
    await signal_channel_sync(client, settings, record, ChannelSyncMessage.SYNC_NOW, SyncNow())
    return {"accepted": True, "workflow_id": channel_sync_id(channel, shop)}
