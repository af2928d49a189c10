"""Money is integer fen inside OrderHub; platforms speak yuan strings. Convert only at the edge."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


def yuan_to_fen(value: str | int | float | Decimal) -> int:
    """"19.90" -> 1990. Floats are accepted only because some platforms send JSON numbers."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation as err:
        raise ValueError(f"not a money amount: {value!r}") from err
    if not amount.is_finite():
        raise ValueError(f"not a money amount: {value!r}")
    try:
        return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    except InvalidOperation as err:  # beyond Decimal's precision: no real price
        raise ValueError(f"not a money amount: {value!r}") from err


def fen_to_yuan(fen: int) -> str:
    """1990 -> "19.90"."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"
