"""Inputs of the channel activities that are not about one order's shipment."""

from __future__ import annotations

from pydantic import BaseModel, Field

from models.order import Channel, ShopName, SkuCode


class PushStockInput(BaseModel):
    """Show `quantity` (absolute, available to sell) of the seller's sku at one shop."""

    channel: Channel
    shop: ShopName
    sku: SkuCode
    quantity: int = Field(ge=0)
