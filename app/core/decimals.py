"""Decimals as clients read them."""

from __future__ import annotations

from decimal import Decimal


def plain_decimal(value: Decimal | int | str) -> Decimal:
    """The plain form of a decimal, the same text on every database: 5.5000 -> 5.5,
    5.0000 -> 5, 1E+1 -> 10."""
    value = Decimal(value)
    return value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()
