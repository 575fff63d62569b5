"""The operator builds the catalogue: merchants, their stores and products, in bulk."""

from __future__ import annotations

from app.catalog.models import Merchant, Product, Store
from app.core.ids import encode_id
from tests.cashback.factories import make_rule
from tests.catalog.factories import make_merchant, make_product, make_store
from tests.factories import make_admin, make_customer
from tests.ledger.statements import count_statements
from tests.support import Api, error_codes

CREATE_MERCHANT = """
mutation CreateMerchant($input: CreateMerchantInput!) {
  createMerchant(input: $input) {
    merchant { id name logoUrl cashbackPercent }
    userErrors { code field message }
  }
}
"""

CREATE_STORE = """
mutation CreateStore($input: CreateStoreInput!) {
  createStore(input: $input) {
    store { id name channel merchant { id } }
    userErrors { code field message }
  }
}
"""

UPSERT_PRODUCTS = """
mutation UpsertProducts($merchantId: ID!, $products: [ProductInput!]!) {
  upsertProducts(merchantId: $merchantId, products: $products) {
    products { id sku name category price { amount currencyCode } }
    userErrors { code field message }
  }
}
"""

MERCHANTS = """
query Merchants($first: Int!, $after: String) {
  merchants(first: $first, after: $after) {
    edges {
      cursor
      node { id name logoUrl cashbackPercent stores { id name channel } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def product(sku: str, price: str = "9.90", **extra: object) -> dict[str, object]:
    return {
        "sku": sku,
        "name": f"Product {sku}",
        "category": "Pantry",
        "price": {"amount": price, "currencyCode": "USD"},
        **extra,
    }


async def test_an_admin_creates_a_merchant_and_its_stores(api: Api) -> None:
    token = api.token_for(await make_admin())

    created = await api.gql(
        CREATE_MERCHANT,
        {
            "input": {
                "name": "  Green Grocer ",
                "logoUrl": "https://cdn.example.com/green.png",
                "cashbackPercent": "3.50",
            }
        },
        token=token,
    )
    merchant = created["data"]["createMerchant"]["merchant"]
    assert created["data"]["createMerchant"]["userErrors"] == []
    assert merchant["name"] == "Green Grocer"
    assert merchant["logoUrl"] == "https://cdn.example.com/green.png"
    assert merchant["cashbackPercent"] == "3.5"

    online = await api.gql(
        CREATE_STORE,
        {"input": {"merchantId": merchant["id"], "name": "Web shop", "channel": "ONLINE"}},
        token=token,
    )
    store = online["data"]["createStore"]["store"]
    assert store["channel"] == "ONLINE"
    assert store["merchant"] == {"id": merchant["id"]}
    assert await Store.filter(merchant__name="Green Grocer").count() == 1


async def test_invalid_merchants_and_stores_are_refused(api: Api) -> None:
    token = api.token_for(await make_admin())
    bad = await api.gql(
        CREATE_MERCHANT,
        {"input": {"name": "", "logoUrl": "ftp://x", "cashbackPercent": "-1"}},
        token=token,
    )
    errors = bad["data"]["createMerchant"]["userErrors"]
    assert {tuple(e["field"]): e["code"] for e in errors} == {
        ("input", "name"): "INVALID_INPUT",
        ("input", "logoUrl"): "INVALID_INPUT",
        ("input", "cashbackPercent"): "INVALID_INPUT",
    }
    too_precise = await api.gql(
        CREATE_MERCHANT, {"input": {"name": "A", "cashbackPercent": "1.23456"}}, token=token
    )
    assert too_precise["data"]["createMerchant"]["userErrors"][0]["field"] == [
        "input",
        "cashbackPercent",
    ]

    no_merchant = await api.gql(
        CREATE_STORE,
        {"input": {"merchantId": encode_id("Merchant", 404), "name": "S", "channel": "ONLINE"}},
        token=token,
    )
    assert [(e["code"], e["field"]) for e in no_merchant["data"]["createStore"]["userErrors"]] == [
        ("UNKNOWN_MERCHANT", ["input", "merchantId"])
    ]
    assert await Merchant.all().count() == 0
    assert await Store.all().count() == 0


async def test_only_admins_set_up_the_catalogue(api: Api) -> None:
    variables = {"input": {"name": "A", "cashbackPercent": "1"}}
    customer = api.token_for(await make_customer())
    assert error_codes(await api.gql(CREATE_MERCHANT, variables, token=customer)) == ["FORBIDDEN"]
    partner = api.partner_token(["purchases:write"])
    assert error_codes(await api.gql(CREATE_MERCHANT, variables, token=partner)) == ["FORBIDDEN"]
    assert await Merchant.all().count() == 0


async def test_a_thousand_products_are_upserted_in_one_request_with_few_statements(
    api: Api,
) -> None:
    merchant = await make_merchant()
    await make_product(merchant, sku="SKU-0", price="1.00")
    token = api.token_for(await make_admin())
    products = [product(f"SKU-{i}", price=f"{i % 50 + 1}.25") for i in range(1_000)]

    with count_statements() as statements:
        answer = await api.gql(
            UPSERT_PRODUCTS,
            {"merchantId": encode_id("Merchant", merchant.id), "products": products},
            token=token,
        )

    payload = answer["data"]["upsertProducts"]
    assert payload["userErrors"] == []
    assert [p["sku"] for p in payload["products"]] == [f"SKU-{i}" for i in range(1_000)]
    assert payload["products"][0]["price"] == {"amount": "1.25", "currencyCode": "USD"}
    assert len(statements) <= 8, "\n".join(s[:120] for s in statements)
    assert await Product.filter(merchant_id=merchant.id).count() == 1_000
    updated = await Product.get(merchant_id=merchant.id, sku="SKU-0")
    assert updated.price_minor == 125


async def test_products_are_updated_by_sku_and_other_merchants_keep_theirs(api: Api) -> None:
    mine, theirs = await make_merchant(), await make_merchant()
    await make_product(theirs, sku="SAME", price="5.00")
    token = api.token_for(await make_admin())
    variables = {
        "merchantId": encode_id("Merchant", mine.id),
        "products": [product("SAME", "7.00", imageUrl="https://img.example.com/same.jpg")],
    }

    first = await api.gql(UPSERT_PRODUCTS, variables, token=token)
    variables["products"][0]["name"] = "Renamed"
    second = await api.gql(UPSERT_PRODUCTS, variables, token=token)

    assert (
        first["data"]["upsertProducts"]["products"][0]["id"]
        == (second["data"]["upsertProducts"]["products"][0]["id"])
    )
    assert second["data"]["upsertProducts"]["products"][0]["name"] == "Renamed"
    assert (await Product.get(merchant_id=theirs.id, sku="SAME")).price_minor == 500
    assert await Product.all().count() == 2


async def test_invalid_products_are_refused_with_their_index_and_nothing_is_written(
    api: Api,
) -> None:
    merchant = await make_merchant()
    token = api.token_for(await make_admin())
    products = [
        product("OK"),
        product("OK"),
        product("NEG", price="-1.00"),
        {**product("EUR"), "price": {"amount": "1.00", "currencyCode": "EUR"}},
        {**product("NOCAT"), "category": " "},
    ]

    answer = await api.gql(
        UPSERT_PRODUCTS,
        {"merchantId": encode_id("Merchant", merchant.id), "products": products},
        token=token,
    )

    payload = answer["data"]["upsertProducts"]
    assert payload["products"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID_INPUT", ["products", "1", "sku"]),
        ("INVALID_AMOUNT", ["products", "2", "price"]),
        ("CURRENCY_MISMATCH", ["products", "3", "price"]),
        ("INVALID_INPUT", ["products", "4", "category"]),
    ]
    assert await Product.all().count() == 0

    unknown = await api.gql(
        UPSERT_PRODUCTS,
        {"merchantId": encode_id("Merchant", 404), "products": [product("A")]},
        token=token,
    )
    assert [(e["code"], e["field"]) for e in unknown["data"]["upsertProducts"]["userErrors"]] == [
        ("UNKNOWN_MERCHANT", ["merchantId"])
    ]


async def test_more_than_a_thousand_products_are_refused(api: Api) -> None:
    merchant = await make_merchant()
    answer = await api.gql(
        UPSERT_PRODUCTS,
        {
            "merchantId": encode_id("Merchant", merchant.id),
            "products": [product(f"S{i}") for i in range(1_001)],
        },
        token=api.token_for(await make_admin()),
    )
    errors = answer["data"]["upsertProducts"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("TOO_MANY_ITEMS", ["products"])]
    assert await Product.all().count() == 0


async def test_partners_page_through_merchants_with_their_stores(api: Api) -> None:
    for name in ["Cafe", "Books", "Atlas"]:
        merchant = await make_merchant(name=name, percent="2.5")
        await make_store(merchant, name=f"{name} online")
        await make_store(merchant, name=f"{name} downtown")
    token = api.partner_token(["offers:read"])

    first = (await api.gql(MERCHANTS, {"first": 2}, token=token))["data"]["merchants"]
    rest = (
        await api.gql(MERCHANTS, {"first": 2, "after": first["pageInfo"]["endCursor"]}, token=token)
    )["data"]["merchants"]

    names = [e["node"]["name"] for e in first["edges"] + rest["edges"]]
    assert names == ["Atlas", "Books", "Cafe"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert rest["pageInfo"]["hasNextPage"] is False
    atlas = first["edges"][0]["node"]
    assert atlas["cashbackPercent"] == "2.5"
    assert [s["name"] for s in atlas["stores"]] == ["Atlas online", "Atlas downtown"]


async def test_the_merchants_page_costs_the_same_however_long(api: Api) -> None:
    for i in range(12):
        merchant = await make_merchant(name=f"M{i:02}")
        await make_store(merchant)
    token = api.partner_token(["offers:read"])
    await api.gql(MERCHANTS, {"first": 1}, token=token)  # the stores are now in memory

    with count_statements() as two:
        await api.gql(MERCHANTS, {"first": 2}, token=token)
    with count_statements() as ten:
        answer = await api.gql(MERCHANTS, {"first": 10}, token=token)

    # The partner client is still enabled; the merchants (their stores from memory).
    assert len(two) == len(ten) == 2
    assert not [s for s in two + ten if "catalog_stores" in s]
    edges = answer["data"]["merchants"]["edges"]
    assert [len(e["node"]["stores"]) for e in edges] == [1] * 10


async def test_catalogue_objects_are_found_by_id(api: Api) -> None:
    merchant = await make_merchant(name="Node shop")
    store = await make_store(merchant, name="Node store")
    item = await make_product(merchant, sku="N-1")
    query = """query($m: ID!, $s: ID!, $p: ID!) {
      m: node(id: $m) { ... on Merchant { name } }
      s: node(id: $s) { ... on Store { name merchant { name } } }
      p: node(id: $p) { ... on Product { sku merchant { name } cashbackPercent } }
    }"""
    data = (
        await api.gql(
            query,
            {
                "m": encode_id("Merchant", merchant.id),
                "s": encode_id("Store", store.id),
                "p": encode_id("Product", item.id),
            },
        )
    )["data"]
    assert data["m"] == {"name": "Node shop"}
    assert data["s"] == {"name": "Node store", "merchant": {"name": "Node shop"}}
    assert data["p"] == {"sku": "N-1", "merchant": {"name": "Node shop"}, "cashbackPercent": "2"}


async def test_a_merchants_products_are_listed_by_category_with_their_best_percent(
    api: Api,
) -> None:
    merchant = await make_merchant(name="Toy town", percent="2")
    await make_product(merchant, sku="KITE", category="Toys", price="30.00")
    await make_product(merchant, sku="SOAP", category="Home", price="3.00")
    await make_product(merchant, sku="TRAIN", category="toys", price="80.00")
    await make_rule(percent="6", category="Toys", minimum_spend="50.00")
    await make_rule(percent="4", category="TOYS")
    query = """query($id: ID!) { node(id: $id) { ... on Merchant {
      products(first: 10, category: "TOYS") { edges { node { sku cashbackPercent } } }
    } } }"""

    answer = await api.gql(query, {"id": encode_id("Merchant", merchant.id)})
    categories = (await api.gql("{ categories }"))["data"]["categories"]

    products = [e["node"] for e in answer["data"]["node"]["products"]["edges"]]
    # The 6 % rule needs 50.00 of spend: the train alone reaches it, the kite does not.
    assert products == [
        {"sku": "KITE", "cashbackPercent": "4"},
        {"sku": "TRAIN", "cashbackPercent": "6"},
    ]
    assert categories == ["Home", "Toys"]
