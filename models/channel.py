"""Inputs of the channel activities that are not about one order's shipment."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from models.order import Channel, ShopName, SkuCode


def aware_utc(value: datetime) -> datetime:
    """A platform's time as aware UTC; a naive one is refused (its zone would be a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must be timezone-aware")
    return value.astimezone(UTC)


AwareUtc = Annotated[datetime, AfterValidator(aware_utc)]

RefundOutcome = Literal["REFUNDED", "REJECTED"]


class PushStockInput(BaseModel):
    """Show `quantity` (absolute, available to sell) of the seller's sku at one shop."""

    channel: Channel
    shop: ShopName
    sku: SkuCode
    quantity: int = Field(ge=0)


class PushRefundInput(BaseModel):
    """Tell the order's platform that an after-sales refund was made (or refused)."""

    channel: Channel
    shop: ShopName
    external_id: str
    refund_id: str = Field(min_length=1)  # the after-sales ticket id: the platform-side idempotency key
    amount: int = Field(ge=0)  # fen; converted to the platform's unit at the edge
    status: RefundOutcome
    reason: str = Field(default="", max_length=200)
    # The buyer's own request at the platform, when the ticket came from one: the platform is answered by
    # this id (agreed or refused) instead of the ticket id.
    platform_request_id: str | None = Field(default=None, min_length=1, max_length=64)


# --- after-sales requests the buyer opens on a platform ---------------------------------------------

PlatformAfterSaleType = Literal["refund_only", "return_and_refund"]


class PlatformRequestStatus(StrEnum):
    """Where a platform after-sales request stands, through each platform's status table."""

    PENDING = "pending"  # waiting for the seller: this is what opens a ticket
    AGREED = "agreed"  # the seller agreed; a return or the payout is under way
    REFUNDED = "refunded"
    REFUSED = "refused"
    CLOSED = "closed"  # withdrawn by the buyer, or closed by the platform


class PlatformAfterSaleLine(BaseModel):
    sku: SkuCode
    quantity: int = Field(gt=0)


class PlatformAfterSale(BaseModel):
    """One refund or return request a buyer opened on a marketplace, mapped from the platform's payload."""

    request_id: str = Field(min_length=1, max_length=64)  # the platform's own id: it is answered by this
    channel: Channel
    shop: ShopName
    external_id: str = Field(min_length=1)
    type: PlatformAfterSaleType
    reason: str = Field(min_length=1, max_length=64)  # the hub's reason code (no_reason, quality, ...)
    amount: int | None = Field(default=None, gt=0)  # fen asked; None: what the lines (or the whole order) cost
    lines: list[PlatformAfterSaleLine] | None = None  # None: the whole order
    status: PlatformRequestStatus
    raw_status: str
    modified_at: AwareUtc
