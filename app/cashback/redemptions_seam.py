"""Where redemptions join earning: cashback is not earned on credits, including credits of a
redemption captured for the same order (its orderReference is the purchase's externalId at
the same store). The redemptions feature answers this.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.redemptions.service import credits_captured_for_orders


async def redeemed_for_orders(orders: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """For (store id, order reference) pairs, the credits (minor units) captured by
    redemptions with `orderReference` equal to that reference at that store. Pairs with
    nothing captured may be left out."""
    return await credits_captured_for_orders(orders)
