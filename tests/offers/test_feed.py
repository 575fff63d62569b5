"""What customers and visitors see: a customer's live offers, ordered for them only with
their consent; the public feed with nothing restricted; texts in the reader's language;
pages; a fixed number of statements however many offers are asked for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.accounts.service import update_consents
from app.core import clock
from app.core.ids import encode_id
from tests.cashback.factories import item, purchase_input, record
from tests.catalog.factories import make_merchant, make_product, make_store
from tests.factories import make_customer
from tests.ledger.statements import count_statements
from tests.offers.factories import (
    ACTIVATE,
    PUBLIC_OFFERS,
    VIEWER_OFFERS,
    activate,
    admin_token,
    make_offer,
    seen_ids,
    viewer_offers,
)
from tests.support import Api, error_codes


async def _public(api: Api, token: str | None = None, **variables: Any) -> dict[str, Any]:
    answer = await api.gql(PUBLIC_OFFERS, {"first": 50, **variables}, token=token)
    return answer


async def test_the_public_feed_shows_only_offers_open_to_everyone(api: Api) -> None:
    token = await admin_token(api)
    open_offer = await make_offer(api, token, title="For all")
    await make_offer(api, token, title="Members", membersOnly=True)
    await make_offer(api, token, title="Gold", audience={"tiers": ["GOLD"]})
    await make_offer(api, token, title="Birthday", audience={"birthdayMonth": True})
    await make_offer(
        api,
        token,
        title="Later",
        startsAt=(clock.now() + timedelta(days=2)).isoformat(),
    )
    partner = api.partner_token(["offers:read"])

    for caller in (None, partner, api.token_for(await make_customer())):
        answer = await _public(api, caller)
        assert "errors" not in answer, answer
        nodes = [e["node"] for e in answer["data"]["offers"]["edges"]]
        assert [(n["id"], n["title"], n["exclusive"]) for n in nodes] == [
            (open_offer, "For all", False)
        ]


async def test_a_partner_without_offers_read_is_refused(api: Api) -> None:
    await make_offer(api, title="For all")
    answer = await _public(api, api.partner_token(["purchases:write"]))
    assert error_codes(answer) == ["FORBIDDEN"]
    assert answer["data"] is None


async def test_a_customer_sees_exclusive_offers_with_their_own_activation(api: Api) -> None:
    token = await admin_token(api)
    members = await make_offer(api, token, title="Members", membersOnly=True)
    needs = await make_offer(api, token, title="Needs", requiresActivation=True)
    a, b = await make_customer(), await make_customer()

    await activate(api, a, needs)

    seen_a = {o["id"]: o for o in await viewer_offers(api, a)}
    seen_b = {o["id"]: o for o in await viewer_offers(api, b)}
    assert seen_a[members]["exclusive"] is True
    assert seen_a[needs]["activated"] is True
    assert seen_b[needs]["activated"] is False
    assert seen_b[needs]["requiresActivation"] is True


async def test_ended_paused_and_future_offers_are_not_listed(api: Api) -> None:
    token = await admin_token(api)
    live = await make_offer(api, token, title="Live")
    paused = await make_offer(api, token, title="Paused")
    ended = await make_offer(api, token, title="Ended")
    await make_offer(api, token, startsAt=(clock.now() + timedelta(days=1)).isoformat())
    await api.gql(
        "mutation($id: ID!) { pauseOffer(id: $id) { offer { id } } }", {"id": paused}, token=token
    )
    await api.gql(
        "mutation($id: ID!) { endOffer(id: $id) { offer { id } } }", {"id": ended}, token=token
    )
    customer = await make_customer()

    assert await seen_ids(api, customer) == [live]
    clock.advance(timedelta(days=31))
    assert await seen_ids(api, customer) == []


async def test_offers_narrow_to_a_merchant_or_a_category(api: Api) -> None:
    coffee_shop = await make_merchant()
    await make_product(coffee_shop, sku="bean", category="Coffee")
    other = await make_merchant()
    token = await admin_token(api)
    everywhere = await make_offer(api, token, title="Everywhere")
    at_shop = await make_offer(
        api, token, title="At the shop", merchantId=encode_id("Merchant", coffee_shop.id)
    )
    coffee = await make_offer(api, token, title="Coffee", category="coffee")
    customer = await make_customer()

    at_other = await seen_ids(api, customer, merchantId=encode_id("Merchant", other.id))
    assert sorted(at_other) == sorted([everywhere, coffee])
    at_coffee_shop = await seen_ids(api, customer, merchantId=encode_id("Merchant", coffee_shop.id))
    assert sorted(at_coffee_shop) == sorted([everywhere, at_shop, coffee])
    in_tea = await seen_ids(api, customer, category="Tea")
    assert sorted(in_tea) == sorted([everywhere, at_shop])


async def test_pages_follow_each_other_without_gaps(api: Api) -> None:
    token = await admin_token(api)
    made = [await make_offer(api, token, title=f"Offer {n}") for n in range(5)]
    customer = await make_customer()
    viewer = api.token_for(customer)

    seen: list[str] = []
    after = None
    while True:
        answer = await api.gql(VIEWER_OFFERS, {"first": 2, "after": after}, token=viewer)
        offers = answer["data"]["viewer"]["offers"]
        seen += [e["node"]["id"] for e in offers["edges"]]
        if not offers["pageInfo"]["hasNextPage"]:
            break
        after = offers["pageInfo"]["endCursor"]
    assert sorted(seen) == sorted(made) and len(seen) == 5


@pytest.mark.parametrize("cursor", ["nonsense", "W10", "WyJ4Il0", "WzEwMDAwMDAwMF0", "WzBd"])
async def test_a_forged_cursor_is_invalid_input(api: Api, cursor: str) -> None:
    await make_offer(api)
    customer = await make_customer()
    answer = await api.gql(
        VIEWER_OFFERS, {"first": 2, "after": cursor}, token=api.token_for(customer)
    )
    assert error_codes(answer) == ["INVALID_INPUT"]
    answer = await _public(api, None, first=2, after=cursor)
    assert error_codes(answer) == ["INVALID_INPUT"]


async def _coffee_lover(api: Api, store: Any, consent: bool) -> Any:
    customer = await make_customer()
    await update_consents(user_id=customer.id, personalization=consent, marketing=False)
    for _ in range(3):
        data = purchase_input(store, customer, "40.00", items=[item("bean", "40.00")])
        assert (await record(api, store, data))["userErrors"] == []
    return customer


async def test_without_consent_the_order_never_uses_the_customers_history(api: Api) -> None:
    shop = await make_merchant(percent="1")
    await make_product(shop, sku="bean", category="Coffee")
    await make_product(shop, sku="leaf", category="Tea")
    store = await make_store(shop)
    # Both have a history; only one consents to personalization.
    consenting = await _coffee_lover(api, store, consent=True)
    declining = await _coffee_lover(api, store, consent=False)
    stranger = await make_customer()
    token = await admin_token(api)
    soon = clock.now() + timedelta(days=5)
    # Program-wide order: the offer ending soonest first (none was used yet).
    tea = await make_offer(api, token, title="Tea", category="tea", endsAt=soon.isoformat())
    coffee = await make_offer(api, token, title="Coffee", category="coffee")

    assert await seen_ids(api, consenting) == [coffee, tea]
    program_order = await seen_ids(api, stranger)
    assert program_order == [tea, coffee]
    assert await seen_ids(api, declining) == program_order


async def test_texts_come_in_the_readers_language(api: Api) -> None:
    arabic = "استرداد نقدي مضاعف"
    await make_offer(
        api,
        title="Double cashback",
        description="On everything.",
        translations=[
            {"locale": "fr", "title": "Remboursement doublé", "description": "Sur tout."},
            {"locale": "ar", "title": arabic},
        ],
    )
    french = await make_customer(locale="fr-CA")
    nobody = await make_customer()
    titles = "{ viewer { offers(first: 5) { edges { node { title description } } } } }"

    def first_node(answer: dict[str, Any]) -> dict[str, Any]:
        return answer["json"]["data"]["viewer"]["offers"]["edges"][0]["node"]

    async def ask(customer: Any, language: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {api.token_for(customer)}"}
        if language:
            headers["Accept-Language"] = language
        response = await api.client.post("/graphql", json={"query": titles}, headers=headers)
        return {"json": response.json()}

    # The customer's own locale first (fr-CA finds fr), whatever the request says.
    assert first_node(await ask(french, "ar")) == {
        "title": "Remboursement doublé",
        "description": "Sur tout.",
    }
    # Then the request's language; a text not translated stays as written.
    assert first_node(await ask(nobody, "de, ar;q=0.8")) == {
        "title": arabic,
        "description": "On everything.",
    }
    assert first_node(await ask(nobody)) == {
        "title": "Double cashback",
        "description": "On everything.",
    }


async def test_listing_offers_costs_the_same_statements_for_1_10_and_50(api: Api) -> None:
    token = await admin_token(api)
    merchants = [await make_merchant(), await make_merchant()]
    for n in range(60):
        await make_offer(
            api,
            token,
            title=f"Offer {n}",
            merchantId=encode_id("Merchant", merchants[n % 2].id),
            requiresActivation=n % 3 == 0,
        )
    customer = await make_customer()
    viewer = api.token_for(customer)
    await api.gql(VIEWER_OFFERS, {"first": 1}, token=viewer)

    counts = []
    for first in (1, 10, 50):
        with count_statements() as sent:
            answer = await api.gql(VIEWER_OFFERS, {"first": first}, token=viewer)
        assert len(answer["data"]["viewer"]["offers"]["edges"]) == first
        counts.append(len(sent))
    assert counts[0] == counts[1] == counts[2], counts
    # The session, the viewer, the tier (program, tiers, spend), the profile, the offers
    # and their merchants.
    assert counts[0] <= 8, counts


async def test_activating_an_offer_not_open_to_the_customer_is_refused(api: Api) -> None:
    token = await admin_token(api)
    gold = await make_offer(api, token, title="Gold", audience={"tiers": ["GOLD"]})
    paused = await make_offer(api, token, title="Paused")
    ended = await make_offer(api, token, title="Ended")
    later = await make_offer(
        api, token, title="Later", startsAt=(clock.now() + timedelta(days=1)).isoformat()
    )
    await api.gql(
        "mutation($id: ID!) { pauseOffer(id: $id) { offer { id } } }", {"id": paused}, token=token
    )
    await api.gql(
        "mutation($id: ID!) { endOffer(id: $id) { offer { id } } }", {"id": ended}, token=token
    )
    customer = await make_customer()

    def refusal(payload: dict[str, Any]) -> tuple[str, list[str]]:
        [error] = payload["userErrors"]
        assert payload["offer"] is None
        return error["code"], error["field"]

    assert refusal(await activate(api, customer, gold)) == ("OFFER_NOT_ELIGIBLE", ["offerId"])
    assert refusal(await activate(api, customer, paused)) == ("OFFER_NOT_ELIGIBLE", ["offerId"])
    assert refusal(await activate(api, customer, later)) == ("OFFER_NOT_ELIGIBLE", ["offerId"])
    assert refusal(await activate(api, customer, ended)) == ("OFFER_EXPIRED", ["offerId"])
    store_id = encode_id("Store", 1)
    assert refusal(await activate(api, customer, store_id)) == ("NOT_FOUND", ["offerId"])
    assert refusal(await activate(api, customer, encode_id("Offer", 10**9))) == (
        "NOT_FOUND",
        ["offerId"],
    )
    # Nothing was activated.
    assert all(not o["activated"] for o in await viewer_offers(api, customer))


async def test_activation_needs_a_signed_in_customer(api: Api) -> None:
    offer = await make_offer(api)
    for token in (None, api.partner_token(["offers:read"]), await admin_token(api)):
        answer = await api.gql(ACTIVATE, {"offerId": offer}, token=token)
        assert error_codes(answer) in (["UNAUTHENTICATED"], ["FORBIDDEN"])


async def test_an_offer_is_fetched_by_id_only_where_it_may_be_seen(api: Api) -> None:
    token = await admin_token(api)
    public = await make_offer(api, token, title="For all")
    gold = await make_offer(api, token, title="Gold", audience={"tiers": ["GOLD"]})
    query = "query($id: ID!) { node(id: $id) { id ... on Offer { title exclusive } } }"

    for caller in (None, api.token_for(await make_customer())):
        answer = await api.gql(query, {"id": public}, token=caller)
        assert answer["data"]["node"] == {"id": public, "title": "For all", "exclusive": False}
        assert (await api.gql(query, {"id": gold}, token=caller))["data"]["node"] is None
    answer = await api.gql(query, {"id": gold}, token=token)
    assert answer["data"]["node"] == {"id": gold, "title": "Gold", "exclusive": True}
