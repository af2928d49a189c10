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


def apportion(total: int, weights: list[int]) -> list[int]:
    """Split `total` fen across parts in proportion to `weights` (e.g. each line's list price), so that
    the shares add up to `total` exactly: each part takes the floor of its exact share and the fen left
    over go one each to the largest remainders (ties: the earlier part). All weights 0: split evenly the
    same way. Never negative, for total >= 0 and weights >= 0."""
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("apportion takes a total and weights of at least 0")
    if not weights:
        if total:
            raise ValueError(f"nothing to apportion {total} fen over")
        return []
    if not any(weights):
        weights = [1] * len(weights)
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    left = total - sum(shares)
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[i] += 1
    return shares


def split_paid(goods: int, shipping: int, discount: int) -> tuple[int, int]:
    """What the buyer paid for the goods and for shipping: the discount comes off the goods first and
    only what exceeds them off shipping (a free-shipping coupon on a cheap order)."""
    off_goods = min(discount, goods)
    return goods - off_goods, max(shipping - (discount - off_goods), 0)


def unit_share(share: int, quantity: int, units: int, *, last: bool, taken: int) -> int:
    """The part of a line's paid `share` that `units` of its `quantity` carry: pro rata, rounded down,
    except that the units completing the line (`last`) take what the line's earlier claims (`taken`
    fen) left, so every unit of the line together comes to exactly `share`."""
    if last:
        return max(share - taken, 0)
    return share * units // quantity
