"""Inputs and messages of the channel workflows (one pydantic model per message).

ChannelSyncWorkflow pulls one shop's orders; StockSyncWorkflow pushes one sku's available-to-sell
quantity to every shop. Credentials never appear here: activities read them from the `shops` table,
so no secret lands in a workflow history.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

# --- ChannelSyncWorkflow ---------------------------------------------------------------------

CHANNEL_SYNC_WORKFLOW = "ChannelSyncWorkflow"


class ChannelSyncMessage(StrEnum):
    SYNC_NOW = "sync_now"
    CREDENTIALS_RENEWED = "credentials_renewed"
    SETTINGS_CHANGED = "settings_changed"
    STATE = "state"



class ChannelSyncInput(BaseModel):
    channel: str
    shop: str
    sync_interval_s: int = Field(ge=1)
    # Each pull starts this far before the cursor: platforms make modifications visible late.
    overlap_s: int = Field(ge=0)
    # Where the first pull of a new shop starts (the platform's recent history).
    initial_lookback_s: int = Field(ge=0)
    # Carried across continue-as-new: the checkpoint, and a pause still waiting for credentials.
    cursor: datetime | None = None
    paused_reason: str | None = None
    polls_per_run: int = Field(default=100, ge=1)
    windows_per_poll: int = Field(default=48, ge=1)


class PullOrdersInput(BaseModel):
    channel: str
    shop: str
    start: datetime
    end: datetime


class PullOrdersResult(BaseModel):
    pages: int = 0
    seen: int = 0
    handed_off: int = 0
    closed: int = 0  # already completed or cancelled in the hub: nothing to do
    quarantined: int = 0


class PullAfterSalesInput(BaseModel):
    """The refunds and returns buyers opened at the platform in one window (after that window's orders)."""

    channel: str
    shop: str
    start: datetime
    end: datetime


class PullAfterSalesResult(BaseModel):
    pages: int = 0
    seen: int = 0
    opened: int = 0  # new tickets
    known: int = 0  # a ticket has the request already (a repeat pull): its platform status is refreshed
    not_pending: int = 0  # answered or withdrawn before the hub saw it: nothing to open
    quarantined: int = 0  # refused by the hub (unknown order, more than was paid, ...) or unmappable


class SyncCheckpoint(BaseModel):
    channel: str
    shop: str
    cursor: datetime
    pulled: int = 0
    error: str | None = None  # the last poll's failure, shown at GET /v1/shops


class SetShopStatus(BaseModel):
    channel: str
    shop: str
    status: Literal["ACTIVE", "PAUSED"]
    reason: str | None = None


class SyncNow(BaseModel):
    """Poll now instead of at the next interval."""

    requested_by: str = "api"


class CredentialsRenewed(BaseModel):
    """PUT /v1/shops gave the shop a new token: a paused sync resumes."""

    requested_by: str = "api"


class SyncSettingsChanged(BaseModel):
    sync_interval_s: int = Field(ge=1)


class ChannelSyncState(BaseModel):
    channel: str
    shop: str
    cursor: datetime | None
    paused_reason: str | None
    polls: int
    last_result: PullOrdersResult | None
    last_error: str | None
    last_after_sales: PullAfterSalesResult | None = None


def channel_sync_id(channel: str, shop: str) -> str:
    return f"channel-sync-{channel}-{shop}"


# --- StockSyncWorkflow -----------------------------------------------------------------------


class StockSyncInput(BaseModel):
    sku: str
    # Changes arriving within this window are pushed once: a flash sale is thousands of changes.
    debounce_s: float = Field(default=1.0, ge=0)
    pushes_per_run: int = Field(default=200, ge=1)
    pending: bool = True  # started by a change (or carried over continue-as-new with one pending)


class StockChanged(BaseModel):
    sku: str
    reason: str = ""


class AvailableToSellInput(BaseModel):
    sku: str


class AvailableToSell(BaseModel):
    sku: str
    quantity: int  # what every shop shows: 0 at or below the safety stock
    shops: list[ShopKey]


class ShopKey(BaseModel):
    channel: str
    shop: str


class StockSyncState(BaseModel):
    sku: str
    pushes: int
    last_quantity: int | None
    failed_shops: list[str]


STOCK_SYNC_WORKFLOW = "StockSyncWorkflow"


class StockSyncMessage(StrEnum):
    STOCK_CHANGED = "stock_changed"
    STATE = "state"


def stock_sync_id(sku: str) -> str:
    return f"stock-sync-{sku}"


AvailableToSell.model_rebuild()
