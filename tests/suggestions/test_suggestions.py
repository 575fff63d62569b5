"""`viewer.suggestions`: after a purchase and from the customer's history, without consent,
what is never suggested, the estimate against the credit, the ranking's advantages, the
statements a screen costs, and bad input."""

from __future__ import annotations

from typing import Any

from app.catalog.values import Channel
from app.core.ids import encode_id
from app.program.service import update_program
from tests.cashback.factories import make_rule, purchase_input, record
from tests.catalog.factories import make_merchant, make_product, make_store
from tests.ledger.statements import count_statements
from tests.offers.factories import activate, make_offer
from tests.suggestions.factories import (
    SUGGESTIONS,
    Shop,
    customers,
    make_shop,
    skus,
    suggestions,
)
from tests.support import Api, error_codes

CATALOGUE = {
    "phone": "Phones",
    "case": "Cases",
    "charger": "Chargers",
    "bestseller": "Cases",
    "cable": "Chargers",
    "stand": "Stands",
}


async def _history(api: Api, shop: Shop) -> None:
    """Each purchase by its own customer: the phone with the case 3 times, with the charger
    twice and the best-seller 3 times; the best-seller alone 7 more times; the cable and the
    stand once each."""
    baskets = [
        ("phone", "case"),
        ("phone", "case", "bestseller"),
        ("phone", "case", "charger"),
        ("phone", "charger", "bestseller"),
        ("phone", "bestseller"),
        *[("bestseller",)] * 7,
        ("cable",),
        ("stand",),
    ]
    for basket, customer in zip(baskets, await customers(len(baskets)), strict=True):
        await shop.buy(api, customer, *basket)


def _reasons(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(s["product"]["sku"], s["reason"]) for s in found]


async def test_after_a_purchase_what_is_bought_with_it_comes_first(api: Api) -> None:
    shop = await make_shop(CATALOGUE)
    await _history(api, shop)
    [customer] = await customers(1, consent_personalization=True)
    purchase = await shop.buy(api, customer, "phone")

    found = await suggestions(api, customer, purchase_id=purchase["id"])
    assert _reasons(found) == [
        ("case", "Often bought with Product phone"),
        ("charger", "Often bought with Product phone"),
        ("bestseller", "Often bought with Product phone"),
        ("cable", "Popular with members"),
        ("stand", "Popular with members"),
    ]
    first = found[0]
    assert first["product"]["merchant"]["name"] == shop.merchant.name
    assert first["product"]["price"] == {"amount": "10.00", "currencyCode": "USD"}
    # 2 % of 10.00 at the merchant; nothing available yet (credits are pending 30 days).
    assert first["estimatedCashback"] == {"amount": "0.20", "currencyCode": "USD"}
    assert first["affordableWithBalance"] is False
    assert skus(await suggestions(api, customer, first=2, purchase_id=purchase["id"])) == [
        "case",
        "charger",
    ]


async def test_without_a_purchase_the_recent_ones_and_the_favourite_category_lead(
    api: Api,
) -> None:
    shop = await make_shop(CATALOGUE)
    await _history(api, shop)
    [customer] = await customers(1, consent_personalization=True)
    await shop.buy(api, customer, "phone")
    await shop.buy(api, customer, "cable")

    found = _reasons(await suggestions(api, customer))
    # Neither the phone nor the cable (just bought); the phone's companions, then the
    # favourite category (Chargers, level with Phones and first by name) is all bought.
    assert found[:3] == [
        ("case", "Often bought with Product phone"),
        ("charger", "Often bought with Product phone"),
        ("bestseller", "Often bought with Product phone"),
    ]
    assert "phone" not in dict(found) and "cable" not in dict(found)


async def test_without_consent_the_customers_history_is_never_read(api: Api) -> None:
    shop = await make_shop(CATALOGUE)
    await _history(api, shop)
    bought, newcomer = await customers(2, consent_personalization=False)
    purchase = await shop.buy(api, bought, "phone")

    # What everyone is shown: the program's most bought products (the phone included).
    popular = _reasons(await suggestions(api, newcomer))
    assert popular[:3] == [
        ("bestseller", "Popular with members"),
        ("phone", "Popular with members"),
        ("case", "Popular with members"),
    ]
    assert _reasons(await suggestions(api, bought)) == popular
    # The purchase they name is used, and nothing else of theirs.
    after = _reasons(await suggestions(api, bought, purchase_id=purchase["id"]))
    assert after[0] == ("case", "Often bought with Product phone")
    assert "phone" not in dict(after)


async def test_the_estimate_is_what_recording_that_purchase_credits(api: Api) -> None:
    shop = await make_shop(CATALOGUE, percent="2")
    await _history(api, shop)
    await make_rule(percent="5", category="Cases")
    offer_title = "Charge week"
    await make_offer(api, title=offer_title, percent="10", category="Chargers")
    [customer] = await customers(1, consent_personalization=True)
    # 1,000 spent: SILVER (x1.25) from now on.
    await record(api, shop.store, purchase_input(shop.store, customer, "1000.00"))
    purchase = await shop.buy(api, customer, "phone")

    found = {
        s["product"]["sku"]: s for s in await suggestions(api, customer, purchase_id=purchase["id"])
    }
    # Cases: 5 % x 1.25 of 10.00 = 0.625, rounded down; the charger's offer is 10 % (offers
    # are not multiplied); the stand only the merchant's 2 % x 1.25.
    assert {sku: s["estimatedCashback"]["amount"] for sku, s in found.items()} == {
        "case": "0.62",
        "charger": "1.00",
        "bestseller": "0.62",
        "cable": "1.00",
        "stand": "0.25",
    }
    for sku, suggestion in found.items():
        bought = await shop.buy(api, customer, sku)
        assert bought["cashback"] == suggestion["estimatedCashback"], sku


async def test_an_estimate_counts_the_offers_of_the_customers_audience_and_activations(
    api: Api,
) -> None:
    shop = await make_shop(CATALOGUE, percent="2")
    await _history(api, shop)
    await make_offer(
        api, title="Silver chargers", percent="10", category="Chargers",
        audience={"tiers": ["SILVER"]},
    )  # fmt: skip
    stand_week = await make_offer(
        api, title="Stand week", percent="8", category="Stands", requiresActivation=True
    )
    silver, bronze = await customers(2, consent_personalization=True)
    await record(api, shop.store, purchase_input(shop.store, silver, "1000.00"))
    await activate(api, silver, stand_week)
    estimates = {}
    for customer in (silver, bronze):
        purchase = await shop.buy(api, customer, "phone")
        found = await suggestions(api, customer, purchase_id=purchase["id"])
        estimates[customer.id] = {s["product"]["sku"]: s["estimatedCashback"] for s in found}
    # Only the silver member gets the chargers' offer, and the stands' once activated.
    assert estimates[silver.id]["charger"]["amount"] == "1.00"
    assert estimates[silver.id]["stand"]["amount"] == "0.80"
    assert estimates[bronze.id]["charger"]["amount"] == "0.20"
    assert estimates[bronze.id]["stand"]["amount"] == "0.20"
    for customer in (silver, bronze):
        for sku in ("charger", "stand"):
            bought = await shop.buy(api, customer, sku)
            assert bought["cashback"] == estimates[customer.id][sku], (customer.id, sku)


async def test_a_better_percent_moves_a_product_up_and_says_so(api: Api) -> None:
    shop = await make_shop(CATALOGUE)
    await _history(api, shop)
    [customer] = await customers(1, consent_personalization=True)
    purchase = await shop.buy(api, customer, "phone")
    before = skus(await suggestions(api, customer, purchase_id=purchase["id"]))
    assert before[:3] == ["case", "charger", "bestseller"]

    # 10 % on Cases: the best-seller (third) passes the charger (an advantage is worth 1.5
    # places); the case was first anyway and keeps its reason.
    await make_offer(api, title="Case week", percent="10", category="Cases")
    found = _reasons(await suggestions(api, customer, purchase_id=purchase["id"]))
    assert found[:3] == [
        ("case", "Often bought with Product phone"),
        ("bestseller", "10% back with Case week"),
        ("charger", "Often bought with Product phone"),
    ]
    # Without consent the order is the plain one.
    [plain] = await customers(1, consent_personalization=False)
    other = await shop.buy(api, plain, "phone")
    assert skus(await suggestions(api, plain, purchase_id=other["id"]))[:3] == before[:3]


async def test_credits_that_pay_for_a_product_move_it_up_and_say_so(api: Api) -> None:
    await update_program(pending_days=0)
    shop = await make_shop(CATALOGUE, price="150.00", prices={"phone": "10.00", "charger": "10.00"})
    await _history(api, shop)
    [customer] = await customers(1, consent_personalization=True)
    purchase = await shop.buy(api, customer, "phone")  # 0.20 available
    assert skus(await suggestions(api, customer, purchase_id=purchase["id"]))[:2] == [
        "case",
        "charger",
    ]

    # An offer on everything is an advantage none has over another: the order stays.
    await make_offer(api, title="All week", percent="10")
    assert skus(await suggestions(api, customer, purchase_id=purchase["id"]))[:2] == [
        "case",
        "charger",
    ]

    await record(api, shop.store, purchase_input(shop.store, customer, "1000.00"))  # 100.00
    found = await suggestions(api, customer, purchase_id=purchase["id"])
    assert _reasons(found)[:2] == [
        ("charger", "You can pay for it with your credits"),
        ("case", "Often bought with Product phone"),
    ]
    assert {s["product"]["sku"]: s["affordableWithBalance"] for s in found} == {
        "charger": True,
        "case": False,
        "bestseller": False,
        "cable": False,
        "stand": False,
    }


async def test_a_screen_of_suggestions_costs_the_same_statements_for_any_first(
    api: Api,
) -> None:
    # Products of three merchants, so that their estimates need each merchant's store,
    # rules and catalogue.
    shops = [await make_shop({f"p{i}": f"Category {i % 3}" for i in range(20)}) for _ in range(3)]
    for n, customer in enumerate(await customers(12)):
        for shop in shops:
            await shop.buy(api, customer, *[f"p{(n * 5 + k) % 20}" for k in range(6)])
    [customer] = await customers(1, consent_personalization=True)
    await shops[0].buy(api, customer, "p0", "p1", "p2")
    token = api.token_for(customer)

    counted = {}
    for first in (1, 6, 50):
        with count_statements() as sent:
            answer = await api.gql(SUGGESTIONS, {"first": first}, token=token)
        found = answer["data"]["viewer"]["suggestions"]
        assert len(found) == first
        counted[first] = sent
    assert len({s["product"]["merchant"]["id"] for s in found}) == 3
    assert len(counted[1]) == len(counted[6]) == len(counted[50]), counted[50]


async def test_another_customers_purchase_and_bad_pages_are_refused(api: Api) -> None:
    shop = await make_shop(CATALOGUE)
    mine, theirs = await customers(2, consent_personalization=True)
    other = await shop.buy(api, theirs, "phone")
    for purchase_id in (
        other["id"],
        encode_id("Purchase", 999_999),
        shop.gid("phone"),
        "not an id",
    ):
        answer = await api.gql(SUGGESTIONS, {"purchaseId": purchase_id}, token=api.token_for(mine))
        assert error_codes(answer) == ["UNKNOWN_PURCHASE"], purchase_id
        assert answer["data"] is None or answer["data"]["viewer"] is None
    for first in (-1, 51):
        answer = await api.gql(SUGGESTIONS, {"first": first}, token=api.token_for(mine))
        assert error_codes(answer) == ["INVALID_INPUT"]
    partner = api.partner_token(["offers:read"], merchant_id=shop.merchant.id)
    assert error_codes(await api.gql(SUGGESTIONS, {}, token=partner)) == ["FORBIDDEN"]
    assert error_codes(await api.gql(SUGGESTIONS, {})) == ["UNAUTHENTICATED"]


async def test_a_merchant_selling_only_in_store_has_its_products_estimated_there(
    api: Api,
) -> None:
    online = await make_shop({"a": "Cases"}, percent="3")
    merchant = await make_merchant(percent="3")
    store = await make_store(merchant, channel=Channel.IN_STORE)
    in_store = Shop(merchant, store, {"b": await make_product(merchant, sku="b", category="Cases")})
    await make_rule(percent="9", channels=[Channel.IN_STORE])
    [buyer, viewer] = await customers(2, consent_personalization=True)
    await online.buy(api, buyer, "a")
    await in_store.buy(api, buyer, "b")

    found = await suggestions(api, viewer)
    # The online shop's product earns its merchant's 3 %; the in-store rule applies where
    # the other merchant sells.
    assert {s["product"]["sku"]: s["estimatedCashback"]["amount"] for s in found} == {
        "a": "0.30",
        "b": "0.90",
    }
    assert (await in_store.buy(api, viewer, "b"))["cashback"]["amount"] == "0.90"
