"""The two documents the Home benchmarks send, and their request bodies.

`HOME` is the contract's `Home` query (shared/contract/mobile/home.graphql) with the two
fragments it spreads, as a mobile client sends it; `BALANCE` is `viewer { balance }` alone.
The baseline recognises a request by its exact query text, so both servers are sent these
very strings. `contract_drift()` tells whether the contract's text has changed since.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT.parent / "shared" / "contract" / "mobile" / "home.graphql"

HOME_OPERATION = """query Home($offers: Int = 10, $suggestions: Int = 6) {
  viewer {
    id
    displayName
    memberCode
    tier {
      code
      name
      cashbackMultiplier
      nextTier { code name }
      spendToNextTier { amount currencyCode }
    }
    balance {
      available { amount currencyCode }
      pending { amount currencyCode }
      reserved { amount currencyCode }
      lifetimeEarned { amount currencyCode }
      nextExpiry { amount { amount currencyCode } expiresAt }
    }
    offers(first: $offers) {
      edges { cursor node { ...OfferCard } }
      pageInfo { hasNextPage endCursor }
    }
    suggestions(first: $suggestions) {
      product { ...ProductCard }
      reason
      affordableWithBalance
      estimatedCashback { amount currencyCode }
    }
  }
}"""

OFFER_CARD = """fragment OfferCard on Offer {
  id
  title
  description
  kind
  percent
  bonus { amount currencyCode }
  minimumSpend { amount currencyCode }
  merchant { id name logoUrl }
  category
  channels
  startsAt
  endsAt
  terms
  exclusive
  requiresActivation
  activated
}"""

PRODUCT_CARD = """fragment ProductCard on Product {
  id
  sku
  name
  imageUrl
  category
  price { amount currencyCode }
  merchant { id name }
  cashbackPercent
}"""

HOME = f"{HOME_OPERATION}\n\n{OFFER_CARD}\n\n{PRODUCT_CARD}\n"

# The built-in trusted `Balance` (app/ledger/documents.graphql): `viewer { balance }` alone.
BALANCE = next(
    entry["document"]
    for entry in orjson.loads(
        (ROOT / "app" / "graphql" / "trusted_documents.json").read_bytes()
    ).values()
    if entry["name"] == "Balance"
)

HOME_DEFAULT_OFFERS = 10
HOME_DEFAULT_SUGGESTIONS = 6


def home_body(offers: int | None = None, suggestions: int | None = None) -> bytes:
    """A Home request; a count left out takes the document's default."""
    variables: dict[str, Any] = {}
    if offers is not None:
        variables["offers"] = offers
    if suggestions is not None:
        variables["suggestions"] = suggestions
    return orjson.dumps({"query": HOME, "operationName": "Home", "variables": variables})


def balance_body() -> bytes:
    return orjson.dumps({"query": BALANCE, "operationName": "Balance", "variables": {}})


def contract_drift() -> str | None:
    """Why the contract's Home differs from `HOME`, or None (also when it is not here)."""
    if not CONTRACT.exists():
        return None
    text = CONTRACT.read_text()
    for part, name in ((HOME_OPERATION, "Home"), (OFFER_CARD, "OfferCard"),
                       (PRODUCT_CARD, "ProductCard")):  # fmt: skip
        if part not in text:
            return f"the contract's {name} is not the bench's copy ({CONTRACT})"
    return None
