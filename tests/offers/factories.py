"""Offers made through the admin's mutation, and the customer's and partner's reads."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from app.core import clock
from tests.factories import make_admin
from tests.support import Api

_numbers = itertools.count(1)

CREATE = """
mutation CreateOffer($input: CreateOfferInput!) {
  createOffer(input: $input) {
    offer { id title kind exclusive requiresActivation }
    userErrors { code field message }
  }
}
"""

VIEWER_OFFERS = """
query Offers($first: Int!, $after: String, $merchantId: ID, $category: String) {
  viewer {
    offers(first: $first, after: $after, merchantId: $merchantId, category: $category) {
      edges { cursor node { id title description terms kind percent bonus { amount }
              exclusive requiresActivation activated category channels merchant { id } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

PUBLIC_OFFERS = """
query PublicOffers($first: Int!, $after: String, $merchantId: ID, $category: String) {
  offers(first: $first, after: $after, merchantId: $merchantId, category: $category) {
    edges { cursor node { id title exclusive } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

ACTIVATE = """
mutation ActivateOffer($offerId: ID!) {
  activateOffer(offerId: $offerId) {
    offer { id activated }
    userErrors { code field message }
  }
}
"""


def offer_input(**overrides: Any) -> dict[str, Any]:
    now = clock.now()
    data: dict[str, Any] = {
        "title": f"Offer {next(_numbers)}",
        "description": "More cashback.",
        "kind": "BOOSTED_CASHBACK",
        "percent": "10",
        "startsAt": (now - timedelta(days=1)).isoformat(),
        "endsAt": (now + timedelta(days=30)).isoformat(),
        "terms": "Terms apply.",
    }
    data.update(overrides)
    return data


async def admin_token(api: Api) -> str:
    return api.token_for(await make_admin())


async def create_offer(api: Api, token: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The createOffer payload (its userErrors included)."""
    token = token or await admin_token(api)
    answer = await api.gql(CREATE, {"input": offer_input(**overrides)}, token=token)
    assert "errors" not in answer, answer
    return answer["data"]["createOffer"]


async def make_offer(api: Api, token: str | None = None, **overrides: Any) -> str:
    """A new offer's id."""
    payload = await create_offer(api, token, **overrides)
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["offer"]["id"]


async def viewer_offers(api: Api, customer: Any, **variables: Any) -> list[dict[str, Any]]:
    answer = await api.gql(VIEWER_OFFERS, {"first": 50, **variables}, token=api.token_for(customer))
    assert "errors" not in answer, answer
    return [edge["node"] for edge in answer["data"]["viewer"]["offers"]["edges"]]


async def seen_ids(api: Api, customer: Any, **variables: Any) -> list[str]:
    return [node["id"] for node in await viewer_offers(api, customer, **variables)]


async def activate(api: Api, customer: Any, offer_id: str) -> dict[str, Any]:
    answer = await api.gql(ACTIVATE, {"offerId": offer_id}, token=api.token_for(customer))
    assert "errors" not in answer, answer
    return answer["data"]["activateOffer"]
