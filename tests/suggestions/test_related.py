"""`product(id) { related }`: bought-together order from a history with known answers, the
category fallback, what is never listed, refunds, the rebuild, and bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.cashback.baskets import rebuild_co_purchases
from app.core import clock
from app.core.ids import encode_id
from app.suggestions.models import BasketLine, ProductPair, ProductStats
from tests.cashback.factories import refund
from tests.factories import make_admin
from tests.ledger.statements import count_statements
from tests.suggestions.factories import RELATED, Shop, customers, make_shop, related
from tests.support import Api, error_codes

CATALOGUE = {
    "phone": "Phones",
    "case": "Cases",
    "charger": "Chargers",
    "cable": "Chargers",
    "bestseller": "Cases",
    "rare": "Phones",
    "stand": "Cases",
}


async def _history(api: Api, shop: Shop) -> None:
    """Each purchase by its own customer (no follow-ups): phone with case 3 times and with
    charger twice; the best-seller is in 10 purchases, 3 of them with the phone; the cable
    once with the phone (below the minimum support)."""
    baskets = [
        ("phone", "case"),
        ("phone", "case", "bestseller"),
        ("phone", "case", "charger"),
        ("phone", "charger", "bestseller"),
        ("phone", "bestseller"),
        ("phone", "cable"),
        *[("bestseller",)] * 7,
        ("stand",),
    ]
    for basket, customer in zip(baskets, await customers(len(baskets)), strict=True):
        await shop.buy(api, customer, *basket)


async def test_related_products_rank_by_association_not_by_sales(api: Api) -> None:
    shop = await make_shop(CATALOGUE)
    await _history(api, shop)

    # phone (6 purchases) with: case 3 together (3 purchases): 3/sqrt(6*3) = 0.71;
    # charger 2 (2 purchases): 2/sqrt(6*2) = 0.58; bestseller 3 (10 purchases):
    # 3/sqrt(6*10) = 0.39 - sold most, bought with the phone as often as the case, yet last.
    # The cable (once together) is below the minimum support: the phone's category
    # (Phones) completes the list, with the products bought in it, most bought first.
    assert await related(api, shop.gid("phone")) == ["case", "charger", "bestseller"]
    assert await related(api, shop.gid("phone"), first=2) == ["case", "charger"]
    assert await related(api, shop.gid("phone"), first=0) == []
    # The case's neighbours: the phone in each of its purchases.
    assert (await related(api, shop.gid("case")))[0] == "phone"


async def test_a_product_without_history_falls_back_to_its_categorys_most_bought(
    api: Api,
) -> None:
    shop = await make_shop(CATALOGUE)
    await _history(api, shop)
    # Cases: bestseller (10 purchases), case (3), stand (1); never the product itself.
    assert await related(api, shop.gid("stand")) == ["bestseller", "case"]
    new = await make_shop({"new-case": "cases"})  # categories compare without case
    assert await related(api, new.gid("new-case")) == ["bestseller", "case", "stand"]


async def test_products_no_longer_sold_are_never_related(api: Api) -> None:
    shop = await make_shop(CATALOGUE)
    await _history(api, shop)
    admin = api.token_for(await make_admin())
    answer = await api.gql(
        """mutation($m: ID!, $p: [ProductInput!]!) { upsertProducts(merchantId: $m, products: $p) {
             products { sku active } userErrors { code } } }""",
        {
            "m": encode_id("Merchant", shop.merchant.id),
            "p": [
                {
                    "sku": "case",
                    "name": "Product case",
                    "category": "Cases",
                    "price": {"amount": "10.00", "currencyCode": "USD"},
                    "active": False,
                }
            ],
        },
        token=admin,
    )
    assert answer["data"]["upsertProducts"] == {
        "products": [{"sku": "case", "active": False}],
        "userErrors": [],
    }
    assert await related(api, shop.gid("phone")) == ["charger", "bestseller"]
    # Still a product one can look at.
    assert (await api.gql(RELATED, {"productId": shop.gid("case")}))["data"]["product"]["name"]


async def _statistics() -> dict[str, Any]:
    return {
        "lines": sorted(
            await BasketLine.all().values_list("purchase_id", "customer_id", "product_id", "day")
        ),
        "products": sorted(
            await ProductStats.all().values_list("product_id", "category", "purchases")
        ),
        "pairs": sorted(
            (a, b, t, f)
            for a, b, t, f in await ProductPair.all().values_list(
                "product_id", "related_id", "together", "follow_ups"
            )
            if t or f
        ),
    }


async def test_purchases_by_the_same_customer_within_30_days_strengthen_a_pair(
    api: Api,
) -> None:
    shop = await make_shop(CATALOGUE)
    now = clock.now()
    first, second, third, fourth = await customers(4)
    # The phone, then its case a week later (twice); the charger 40 days later: too late.
    for customer in (first, second):
        await shop.buy(api, customer, "phone", occurred_at=now - timedelta(days=50))
        await shop.buy(api, customer, "case", occurred_at=now - timedelta(days=43))
    await shop.buy(api, first, "charger", occurred_at=now - timedelta(days=3))
    # Another customer's purchases never link with theirs.
    await shop.buy(api, third, "phone", occurred_at=now - timedelta(days=60))

    pairs = (await _statistics())["pairs"]
    phone, case = shop.products["phone"].id, shop.products["case"].id
    assert (phone, case, 0, 2) in pairs and (case, phone, 0, 2) in pairs
    assert not [p for p in pairs if shop.products["charger"].id in p[:2]]
    # Follow-ups alone never make a pair (visits to two shops in a month are too often a
    # coincidence): the phone has no related product yet.
    assert await related(api, shop.gid("phone")) == []

    # Bought together once, the follow-ups count with it: 1 + 2/2 over 4 and 3 purchases.
    await shop.buy(api, fourth, "phone", "case")
    assert await related(api, shop.gid("phone")) == ["case"]
    assert (phone, case, 1, 2) in (await _statistics())["pairs"]


async def test_a_full_refund_takes_its_counts_back_and_a_partial_one_does_not(
    api: Api,
) -> None:
    shop = await make_shop(CATALOGUE)
    await _history(api, shop)
    before = await _statistics()
    [customer] = await customers(1)
    bought = await shop.buy(api, customer, "phone", "cable")
    # Twice with the phone now: the cable is related (2/sqrt(7*2), level with the charger,
    # which came first in the catalogue).
    assert await related(api, shop.gid("phone")) == ["case", "charger", "cable", "bestseller"]

    partial = await refund(api, shop.store, bought["externalId"], "5.00", "partial-1")
    assert partial["purchase"]["status"] == "PARTIALLY_REFUNDED"
    assert "cable" in await related(api, shop.gid("phone"))
    full = await refund(api, shop.store, bought["externalId"], "15.00", "full-1")
    assert full["purchase"]["status"] == "REFUNDED"
    assert await related(api, shop.gid("phone")) == ["case", "charger", "bestseller"]
    assert await _statistics() == before


async def test_the_rebuild_finds_what_the_purchases_and_refunds_left(api: Api) -> None:
    shop = await make_shop(CATALOGUE)
    await _history(api, shop)
    now = clock.now()
    one, two = await customers(2)
    # Reported out of order: the later purchase first.
    await shop.buy(api, one, "case", "charger", occurred_at=now - timedelta(days=5))
    await shop.buy(api, one, "phone", occurred_at=now - timedelta(days=20))
    back = await shop.buy(api, one, "cable", "case", occurred_at=now - timedelta(days=1))
    await shop.buy(api, two, "phone", "not-in-the-catalogue")
    await refund(api, shop.store, back["externalId"], "20.00", "full-2")
    incremental = await _statistics()

    # The history's 14, and 3 of these 4 (the fourth is fully refunded).
    assert await rebuild_co_purchases() == 17
    assert await _statistics() == incremental
    assert await related(api, shop.gid("phone")) == ["case", "charger", "bestseller"]


async def test_unknown_products_and_pages_out_of_range_are_refused(api: Api) -> None:
    shop = await make_shop(CATALOGUE)
    for product_id in (
        encode_id("Product", 999_999),
        encode_id("Merchant", shop.merchant.id),
        "not an id",
    ):
        answer = await api.gql(RELATED, {"productId": product_id})
        assert answer["data"] == {"product": None}
        assert error_codes(answer) == ["UNKNOWN_PRODUCT"]
    for first in (-1, 51):
        answer = await api.gql(RELATED, {"productId": shop.gid("phone"), "first": first})
        assert answer["data"] == {"product": None}, answer
        assert error_codes(answer) == ["INVALID_INPUT"]


async def test_a_list_of_products_with_their_related_ones_costs_a_fixed_number_of_statements(
    api: Api,
) -> None:
    shop = await make_shop(CATALOGUE)
    await _history(api, shop)
    query = """query($m: ID!, $n: Int!) { node(id: $m) { ... on Merchant {
        products(first: $n) { edges { node { sku related(first: 2) { sku } } } } } } }"""
    merchant = encode_id("Merchant", shop.merchant.id)
    counted = {}
    for n in (1, len(CATALOGUE)):
        with count_statements() as sent:
            answer = await api.gql(query, {"m": merchant, "n": n})
        assert "errors" not in answer, answer
        edges = answer["data"]["node"]["products"]["edges"]
        counted[n] = sent
    assert len(counted[1]) == len(counted[len(CATALOGUE)]), counted[len(CATALOGUE)]
    related_of = {e["node"]["sku"]: [r["sku"] for r in e["node"]["related"]] for e in edges}
    assert related_of["phone"] == ["case", "charger"]
    assert related_of["stand"] == ["bestseller", "case"]
    assert all(sku not in found for sku, found in related_of.items())
