"""A document's worst-case number of objects is counted before anything runs: a list
multiplies what is under it by its `first`, aliases count separately, fragments are
followed, and a document over MAX_QUERY_COST is refused with QUERY_TOO_COMPLEX."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from graphql import (
    GraphQLSchema,
    NamedTypeNode,
    NonNullTypeNode,
    get_introspection_query,
    parse,
)

from app.catalog import service
from app.graphql.cost import CostLimit
from app.graphql.schema import build_schema
from app.main import create_app
from app.settings import Settings
from tests.catalog.factories import make_merchant, make_store
from tests.conftest import make_settings
from tests.ledger.statements import count_statements
from tests.support import Api, error_codes
from tests.test_contract import CONTRACT_DIR, _operations

PAGE = "edges { node { id } }"


def products(alias: str = "", first: str = "100", inner: str = PAGE) -> str:
    name = f"{alias}: products" if alias else "products"
    return f"{name}(first: {first}) {{ {inner} }}"


def merchants_with(inner: str, first: str = "100", args: str = "") -> str:
    query = f"merchants(first: {first}) {{ edges {{ node {{ {inner} }} }} }}"
    return f"query Shelf{args} {{ {query} }}"


# 100 merchants x 100 products x their merchant x 15 aliased pages of 100 products: the
# anonymous document that once ran for minutes, well within depth, alias and token limits.
ATTACK = merchants_with(
    products(
        inner="edges { node { merchant { "
        + " ".join(products(f"a{i}") for i in range(15))
        + " } } }"
    )
)
# 100 merchants with 100 products each: 100 + 100 x 100.
BIG_SHELF = merchants_with(products())


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(Settings(app_env="development"))._schema


def cost_of(schema: GraphQLSchema, query: str, **variables: object) -> int:
    return CostLimit(max_cost=20_000, max_page_size=100).cost(
        schema, parse(query), variables=variables
    )


async def stock(count: int, products_each: int) -> None:
    for i in range(count):
        merchant = await make_merchant(name=f"Shop {i:03}")
        await make_store(merchant)
        await service.upsert_products(
            merchant_id=merchant.id,
            products=[
                service.ProductData(
                    sku=f"S{i}-{n}",
                    name=f"Thing {n}",
                    category="Pantry",
                    price_amount=Decimal("1.00"),
                    price_currency="USD",
                )
                for n in range(products_each)
            ],
        )


@pytest.fixture
async def small_budget(db: Settings) -> AsyncIterator[Api]:
    """The same API with MAX_QUERY_COST=1000."""
    app = create_app(make_settings(db.database_url, max_query_cost=1_000), manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client, db)


# --- through the API -----------------------------------------------------------------


async def test_the_nested_merchant_product_attack_is_refused_before_any_sql(api: Api) -> None:
    await stock(3, products_each=3)

    with count_statements() as sent:
        response = await api.post(ATTACK)

    assert response.status_code == 400
    body = response.json()
    assert body["data"] is None
    assert error_codes(body) == ["QUERY_TOO_COMPLEX"]
    message = body["errors"][0]["message"]
    assert "15,010,100" in message
    assert "20,000" in message
    assert sent == []


async def test_a_hundred_merchants_with_a_hundred_products_each_is_allowed(api: Api) -> None:
    await stock(3, products_each=2)

    answer = await api.gql(BIG_SHELF)

    shelves = answer["data"]["merchants"]["edges"]
    assert [len(s["node"]["products"]["edges"]) for s in shelves] == [2, 2, 2]


async def test_each_alias_is_counted_so_two_big_shelves_are_refused(api: Api) -> None:
    twice = BIG_SHELF.replace(products(), products("one") + " " + products("two"))

    response = await api.post(twice)

    assert response.status_code == 400
    assert error_codes(response.json()) == ["QUERY_TOO_COMPLEX"]
    assert "20,100" in response.json()["errors"][0]["message"]


async def test_a_page_size_given_by_a_variable_is_counted_at_its_value(api: Api) -> None:
    await stock(2, products_each=1)
    # 100 merchants x two pages of $n products: 100 + 200 x $n.
    query = merchants_with(products("one", "$n") + " " + products("two", "$n"), args="($n: Int!)")

    allowed = await api.post(query, {"n": 99})
    refused = await api.post(query, {"n": 100})

    assert allowed.status_code == 200, allowed.text
    assert len(allowed.json()["data"]["merchants"]["edges"]) == 2
    assert refused.status_code == 400
    assert error_codes(refused.json()) == ["QUERY_TOO_COMPLEX"]
    assert "20,100" in refused.json()["errors"][0]["message"]


async def test_a_variables_default_counts_when_the_variable_is_not_sent(api: Api) -> None:
    query = merchants_with(
        products("one", "$n") + " " + products("two", "$n"), args="($n: Int = 100)"
    )

    assert (await api.post(query)).status_code == 400
    assert (await api.post(query, {"n": 10})).status_code == 200


async def test_fragments_are_followed_where_they_are_spread(api: Api) -> None:
    query = """
    query Shelf { merchants(first: 100) { edges { node { ...Shelf } } } }
    fragment Shelf on Merchant {
      products(first: 100) { edges { node { merchant { ...Pages ...Pages2 } } } }
    }
    fragment Pages on Merchant { products(first: 10) { edges { node { id } } } }
    fragment Pages2 on Merchant { ... on Merchant { more: products(first: 10) { ...Ids } } }
    fragment Ids on ProductConnection { edges { node { id } } }
    """

    response = await api.post(query)

    assert response.status_code == 400
    assert error_codes(response.json()) == ["QUERY_TOO_COMPLEX"]
    # 100 + 100 x (100 + 100 x (10 + 10)); without the fragments it would be 100.
    assert "210,100" in response.json()["errors"][0]["message"]


async def test_the_budget_is_a_setting(api: Api, small_budget: Api) -> None:
    await stock(2, products_each=1)
    # 10 merchants with their stores: 10 + 10 x 100 (a list without `first` is a full page).
    query = "{ merchants(first: 10) { edges { node { name stores { name } } } } }"

    refused = await small_budget.post(query)
    allowed = await api.post(query)

    assert refused.status_code == 400
    assert error_codes(refused.json()) == ["QUERY_TOO_COMPLEX"]
    assert "1,010" in refused.json()["errors"][0]["message"]
    assert "1,000" in refused.json()["errors"][0]["message"]
    assert allowed.status_code == 200
    cheap = await small_budget.post("{ merchants(first: 5) { edges { node { name } } } }")
    assert cheap.status_code == 200


async def test_the_page_size_setting_caps_the_count_as_it_caps_the_pages(db) -> None:
    # With pages of at most 10, first: 100 is a page of 10: 10 + 10 x 10 = 110 objects.
    settings = make_settings(db.database_url, max_query_cost=1_000, max_page_size=10)
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/graphql", json={"query": BIG_SHELF})

    assert response.status_code == 200, response.text


async def test_graphiqls_introspection_query_is_not_counted(api: Api) -> None:
    response = await api.post(get_introspection_query())

    assert response.status_code == 200, response.text[:300]
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


# --- the count itself ------------------------------------------------------------------


def test_a_first_above_the_largest_page_counts_as_the_largest_page(schema) -> None:
    assert cost_of(schema, merchants_with(products(first="5000"), first="5000")) == 10_100


def test_an_omitted_first_counts_the_fields_default(schema) -> None:
    # Merchant.products defaults to 20.
    assert cost_of(schema, merchants_with(f"products {{ {PAGE} }}", first="10")) == 10 + 10 * 20


def test_scalars_and_single_objects_cost_nothing_beyond_their_list(schema) -> None:
    query = merchants_with(
        "id name cashbackPercent " + products(inner="edges { node { id sku merchant { id } } }"),
        first="10",
    )
    assert cost_of(schema, query) == 10 + 10 * 100


def test_a_fragment_cycle_is_counted_without_looping(schema) -> None:
    # Validation refuses the cycle; the count must still end.
    query = """
    query Loop { merchants(first: 2) { edges { node { ...A } } } }
    fragment A on Merchant { stores { merchant { ...B } } }
    fragment B on Merchant { stores { merchant { ...A } } }
    """
    assert cost_of(schema, query) == 2 + 2 * 100 * (1 + 100)


def test_a_fragment_spread_many_times_is_costed_once(schema) -> None:
    # Each level spreads the next twice: 2^40 spreads of F0 if expanded naively.
    levels = 40
    fragments = "\n".join(
        f"fragment F{i} on Merchant {{ a: stores {{ merchant {{ ...F{i - 1} }} }} "
        f"b: stores {{ merchant {{ ...F{i - 1} }} }} }}"
        for i in range(1, levels + 1)
    )
    query = f"""query Wide {{ merchants(first: 1) {{ edges {{ node {{ ...F{levels} }} }} }} }}
    fragment F0 on Merchant {{ id }}
    {fragments}"""
    assert cost_of(schema, query) > 10**80


def test_only_the_named_operation_is_counted(schema) -> None:
    document = parse(f"query Cheap {{ merchants(first: 1) {{ {PAGE} }} }}\n{ATTACK}")
    limit = CostLimit(max_cost=20_000, max_page_size=100)
    assert limit.cost(schema, document, operation_name="Cheap") == 1
    assert limit.cost(schema, document, operation_name="Shelf") == 15_010_100


def _full_pages(document) -> dict[str, int]:
    """Every Int variable at the largest page: the most a client can ask for."""
    found = {}
    for definition in document.definitions:
        for variable in getattr(definition, "variable_definitions", None) or ():
            named = variable.type
            if isinstance(named, NonNullTypeNode):
                named = named.type
            if isinstance(named, NamedTypeNode) and named.name.value == "Int":
                found[variable.variable.name.value] = 100
    return found


@pytest.mark.skipif(not CONTRACT_DIR.is_dir(), reason=f"no contract folder at {CONTRACT_DIR}")
def test_every_contract_operation_is_within_the_budget(schema) -> None:
    limit = CostLimit(max_cost=Settings(app_env="development").max_query_cost, max_page_size=100)
    costs = {
        f"{file}:{name}": limit.cost(schema, document, variables=_full_pages(document))
        for file, name, document in _operations()
    }
    over = {name: cost for name, cost in costs.items() if cost > limit.max_cost}
    assert not over
    # The mobile app's activity and purchases, and the partners' merchant list, are
    # the largest: one full page with a full list inside each row.
    assert costs["mobile/activity.graphql:Activity"] == 10_100
    assert costs["partner/offers.graphql:Merchants"] == 10_100
