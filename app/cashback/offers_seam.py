"""Where offers join earning: the offers feature (app/offers) answers.

- `offer_book` reads, once per batch of purchases, the offers they may use (audience,
  window, activation before the purchase, per-customer limit and budget are checked per
  purchase by `OfferBook.eligible`, as `earning.OfferTerms`); `earning.compute_cashback`
  matches them to the purchase's lines and picks the best.
- `record_offer_use` runs inside the purchase's transaction with what each offer gave, so
  limits and budgets are consumed exactly when the cashback is credited; it raises
  `OfferNotAvailable` when one ran out meanwhile (the purchase is then computed again).
- `give_back_offer_use` runs inside a refund's transaction.
"""

from __future__ import annotations

from app.offers.errors import OfferNotAvailable
from app.offers.usage import OfferBook, offer_book
from app.offers.usage import consume as record_offer_use
from app.offers.usage import give_back as give_back_offer_use

__all__ = [
    "OfferBook",
    "OfferNotAvailable",
    "give_back_offer_use",
    "offer_book",
    "record_offer_use",
]
