"""Where offers join earning. The offers feature answers these; until it does, no customer
has an offer and recording a purchase uses none.

- `eligible_offers` returns the offers a purchase may use (audience, window, activation
  before the purchase, per-customer limit and budget already checked), as
  `earning.OfferTerms`; `earning.compute_cashback` matches them to the purchase's lines and
  picks the best (boosted percent per line; one bonus per purchase).
- `record_offer_use` runs inside the purchase's transaction with the offers the credit used,
  so limits and budgets are consumed exactly when the cashback is credited.
"""

from __future__ import annotations

from datetime import datetime

from app.cashback.earning import OfferTerms


async def eligible_offers(
    *, customer_id: int | None, merchant_id: int, channel: str, occurred_at: datetime
) -> list[OfferTerms]:
    return []


async def record_offer_use(
    *, purchase_id: int, customer_id: int, offer_ids: tuple[int, ...], amounts: dict[int, int]
) -> None:
    return None
