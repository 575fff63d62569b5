"""The demo program's purchases have bundles in them: what it suggests goes with what was
bought (a phone's case and charger, coffee's filters), as a person trying the demo reads it."""

from __future__ import annotations

from typing import Any

from app.accounts.demo import DEMO_PASSWORD
from app.accounts.models import Role, User
from app.demo import seed_demo
from tests.accounts.factories import sign_in
from tests.suggestions.factories import RELATED, SUGGESTIONS
from tests.support import Api

# The demo's phones and what goes with each.
ACCESSORIES = {
    "Phone X": {"Phone X case", "USB-C charger", "Screen protector"},
    "Phone X Pro": {"Phone X Pro case", "USB-C charger", "Screen protector"},
}

PRODUCTS = """
query Products {
  merchants(first: 10) {
    edges { node { products(first: 50) { edges { node { id name } } } } }
  }
}
"""
PURCHASES = """
query Purchases($first: Int!) {
  viewer { purchases(first: $first) { edges { node { id items { name } } } } }
}
"""


async def _product_ids(api: Api) -> dict[str, str]:
    answer = await api.gql(PRODUCTS)
    assert "errors" not in answer, answer
    return {
        product["node"]["name"]: product["node"]["id"]
        for merchant in answer["data"]["merchants"]["edges"]
        for product in merchant["node"]["products"]["edges"]
    }


async def _related(api: Api, product_id: str) -> list[str]:
    answer = await api.gql(RELATED, {"productId": product_id, "first": 3})
    assert "errors" not in answer, answer
    return [product["name"] for product in answer["data"]["product"]["related"]]


async def _purchases(api: Api, token: str, first: int = 50) -> list[dict[str, Any]]:
    answer = await api.gql(PURCHASES, {"first": first}, token=token)
    assert "errors" not in answer, answer
    return [edge["node"] for edge in answer["data"]["viewer"]["purchases"]["edges"]]


async def _suggestions(api: Api, token: str, purchase_id: str) -> list[dict[str, Any]]:
    answer = await api.gql(SUGGESTIONS, {"purchaseId": purchase_id}, token=token)
    assert "errors" not in answer, answer
    return list(answer["data"]["viewer"]["suggestions"])


def _names(purchase: dict[str, Any]) -> set[str]:
    return {item["name"] for item in purchase["items"]}


async def _phone_buyer(api: Api) -> tuple[str, list[dict[str, Any]]]:
    """The first demo customer (signed in with the demo's password) who bought a phone: their
    token and purchases, newest first."""
    for customer in await User.filter(role=Role.CUSTOMER).order_by("id"):
        signed_in = await sign_in(api, customer.email, DEMO_PASSWORD)
        token = signed_in["data"]["signIn"]["session"]["accessToken"]
        purchases = await _purchases(api, token)
        if any(ACCESSORIES.keys() & _names(purchase) for purchase in purchases):
            return token, purchases
    raise AssertionError("no demo customer bought a phone")


async def test_a_phone_is_related_to_its_accessories_and_coffee_to_its_filters(api: Api) -> None:
    await seed_demo(force=True)
    ids = await _product_ids(api)

    assert set(await _related(api, ids["Phone X"])) == ACCESSORIES["Phone X"]
    assert "Coffee filters" in await _related(api, ids["Coffee beans"])


async def test_who_bought_a_phone_is_suggested_what_goes_with_it_and_not_what_they_got(
    api: Api,
) -> None:
    await seed_demo(force=True)
    token, purchases = await _phone_buyer(api)
    with_phone = next(p for p in purchases if ACCESSORIES.keys() & _names(p))
    bought = _names(with_phone)
    goes_with = set().union(*(ACCESSORIES[phone] for phone in ACCESSORIES.keys() & bought))

    suggested = await _suggestions(api, token, with_phone["id"])
    names = {s["product"]["name"] for s in suggested}

    assert not names & bought
    assert (goes_with - bought) & names
    assert {s["reason"] for s in suggested} & {f"Often bought with {name}" for name in bought}
    # Whatever the purchase, what was in it is never suggested.
    [newest] = await _purchases(api, token, first=1)
    suggested = await _suggestions(api, token, newest["id"])
    assert not _names(newest) & {s["product"]["name"] for s in suggested}
