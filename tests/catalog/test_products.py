"""A customer browses merchants with their products: every merchant's page of products
comes in one statement, however many merchants are on the page, and keyset cursors page
through each merchant's products."""

from __future__ import annotations

from decimal import Decimal

from app.catalog import service
from app.catalog.models import Merchant
from app.core.ids import encode_id
from tests.catalog.factories import make_merchant, make_store
from tests.ledger.statements import count_statements
from tests.support import Api, error_codes

SHELF = """
query Shelf($merchants: Int!, $products: Int!) {
  merchants(first: $merchants) {
    edges {
      node {
        name
        stores { name }
        products(first: $products) {
          edges { node { sku cashbackPercent merchant { name } } }
          pageInfo { hasNextPage endCursor }
        }
      }
    }
  }
}
"""

PRODUCTS_OF = """
query ProductsOf($id: ID!, $first: Int!, $after: String, $category: String) {
  node(id: $id) {
    ... on Merchant {
      products(first: $first, after: $after, category: $category) {
        edges { cursor node { sku } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}
"""


async def stock(merchant: Merchant, skus: list[str], category: str = "Pantry") -> None:
    await service.upsert_products(
        merchant_id=merchant.id,
        products=[
            service.ProductData(
                sku=sku,
                name=f"Product {sku}",
                category=category,
                price_amount=Decimal("4.50"),
                price_currency="USD",
            )
            for sku in skus
        ],
    )


async def test_each_merchant_shows_its_own_first_products(api: Api) -> None:
    for name in ("Atlas", "Books", "Cafe"):
        merchant = await make_merchant(name=name)
        await make_store(merchant, name=f"{name} online")
        await stock(merchant, [f"{name}-{n}" for n in range(1, 4)])

    answer = await api.gql(SHELF, {"merchants": 10, "products": 2})

    shelves = {
        e["node"]["name"]: e["node"]["products"] for e in answer["data"]["merchants"]["edges"]
    }
    assert {name: [e["node"]["sku"] for e in s["edges"]] for name, s in shelves.items()} == {
        "Atlas": ["Atlas-1", "Atlas-2"],
        "Books": ["Books-1", "Books-2"],
        "Cafe": ["Cafe-1", "Cafe-2"],
    }
    assert all(s["pageInfo"]["hasNextPage"] for s in shelves.values())
    first = shelves["Books"]["edges"][0]["node"]
    assert first == {"sku": "Books-1", "cashbackPercent": "2", "merchant": {"name": "Books"}}


async def test_a_nested_products_page_costs_the_same_statements_for_2_or_20_merchants(
    api: Api,
) -> None:
    for i in range(20):
        merchant = await make_merchant(name=f"M{i:02}")
        await make_store(merchant)
        await stock(merchant, [f"M{i:02}-{n}" for n in range(6)])
    await api.gql(SHELF, {"merchants": 1, "products": 1})  # the rules in memory

    with count_statements() as two:
        few = await api.gql(SHELF, {"merchants": 2, "products": 5})
    with count_statements() as twenty:
        many = await api.gql(SHELF, {"merchants": 20, "products": 5})

    assert len(few["data"]["merchants"]["edges"]) == 2
    shelves = [e["node"]["products"] for e in many["data"]["merchants"]["edges"]]
    assert len(shelves) == 20
    assert all(len(s["edges"]) == 5 and s["pageInfo"]["hasNextPage"] for s in shelves)
    # Merchants, their stores, their products, the products' merchants, and what the
    # best percent needs: each once for the whole page.
    assert len(twenty) == len(two), "\n".join(twenty)
    assert len(twenty) <= 6, "\n".join(twenty)


async def test_a_cursor_pages_through_one_merchants_products(api: Api) -> None:
    merchant = await make_merchant(name="Pager")
    other = await make_merchant(name="Other")
    await stock(merchant, ["P-1", "P-2", "P-3"])
    await stock(other, ["O-1", "O-2"])
    await stock(merchant, ["P-4", "P-5"])
    merchant_id = encode_id("Merchant", merchant.id)

    first = await api.gql(PRODUCTS_OF, {"id": merchant_id, "first": 3})
    page = first["data"]["node"]["products"]
    rest = await api.gql(
        PRODUCTS_OF, {"id": merchant_id, "first": 3, "after": page["pageInfo"]["endCursor"]}
    )
    after = rest["data"]["node"]["products"]

    assert [e["node"]["sku"] for e in page["edges"]] == ["P-1", "P-2", "P-3"]
    assert page["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["sku"] for e in after["edges"]] == ["P-4", "P-5"]
    assert after["pageInfo"] == {"hasNextPage": False, "endCursor": after["edges"][-1]["cursor"]}


async def test_aliases_may_ask_each_merchant_for_a_different_page(api: Api) -> None:
    merchant = await make_merchant(name="Mixed")
    await stock(merchant, ["TOY-1", "TOY-2"], category="Toys")
    await stock(merchant, ["SOAP-1"], category="Home")
    query = """query($id: ID!) { node(id: $id) { ... on Merchant {
      toys: products(first: 1, category: " toys ") { edges { node { sku } } }
      home: products(first: 5, category: "HOME") { edges { node { sku } } }
      all: products(first: 0) { edges { node { sku } } pageInfo { hasNextPage } }
    } } }"""

    answer = await api.gql(query, {"id": encode_id("Merchant", merchant.id)})

    data = answer["data"]["node"]
    assert [e["node"]["sku"] for e in data["toys"]["edges"]] == ["TOY-1"]
    assert [e["node"]["sku"] for e in data["home"]["edges"]] == ["SOAP-1"]
    assert data["all"] == {"edges": [], "pageInfo": {"hasNextPage": True}}


async def test_a_forged_cursor_is_invalid_input(api: Api) -> None:
    merchant = await make_merchant(name="Forged")
    await stock(merchant, ["F-1"])
    merchant_id = encode_id("Merchant", merchant.id)

    for forged in ("not a cursor", "WyJ4Il0", "WzFlMzBd"):  # junk, ["x"], [1e30]
        answer = await api.gql(PRODUCTS_OF, {"id": merchant_id, "first": 5, "after": forged})

        assert error_codes(answer) == ["INVALID_INPUT"]
        assert answer["errors"][0]["path"] == ["node", "products"]
