"""Inputs and results of the inventory activities."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class StockRequest(BaseModel):
    sku: str
    quantity: int = Field(gt=0)


class Allocation(BaseModel):
    """Units of one sku locked in one warehouse for one order."""

    sku: str
    warehouse: str
    quantity: int


class ShortLine(BaseModel):
    sku: str
    requested: int
    available: int  # sellable across all warehouses when the decision was made


class ReservationResult(BaseModel):
    status: Literal["reserved", "short"]
    allocations: list[Allocation] = Field(default_factory=list)
    short: list[ShortLine] = Field(default_factory=list)

    @property
    def warehouses(self) -> list[str]:
        return sorted({a.warehouse for a in self.allocations})

    def reason(self) -> str:
        return "out_of_stock: " + ", ".join(
            f"{s.sku} needs {s.requested}, {s.available} available" for s in self.short
        )


class ReserveStockInput(BaseModel):
    order_id: str
    lines: list[StockRequest]
    buyer_province: str


class ReleaseStockInput(BaseModel):
    order_id: str
    reason: str


class CommitStockInput(BaseModel):
    """Goods of one shipment left the warehouse: reserved units leave on_hand too."""

    order_id: str
    warehouse: str


class StockChange(BaseModel):
    """What an idempotent release/commit actually changed (empty on a repeat)."""

    order_id: str
    units: int
    skus: list[str] = Field(default_factory=list)
