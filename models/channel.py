"""Inputs of the channel activities that are not about one order's shipment."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from models.order import Channel, ShopName, SkuCode

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
