"""Stock levels set through the API."""

from __future__ import annotations

from models.errors import ErrorCode


class StockError(ErrorCode):
    SKU_NOT_FOUND = "sku_not_found", 404
    BELOW_RESERVED = "below_reserved", 409  # on_hand below what orders hold
