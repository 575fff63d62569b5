"""The graphql-cop probes against a production app, then the document limits at their
boundary: the last document a limit accepts runs, one more is refused before any SQL.

Probes already proven elsewhere are not repeated here:

| Probe                                   | Proven in (module: test)                        |
|-----------------------------------------|-------------------------------------------------|
| `__schema` introspection in production  | test_graphql_transport: production_hides_intro. |
| "Did you mean" on a mistyped field      | test_graphql_transport: production_hides_intro. |
| GraphiQL at GET /graphql (text/html)    | test_graphql_transport: graphiql_is_served_...  |
| validation messages naming schema types | test_hostile_input: production_validation_...   |
| 16 aliases, depth 11, 2,100 tokens      | test_graphql_transport (without counting SQL)   |
| the nested merchant/product cost attack | test_query_cost: the_nested_merchant_product... |
| documents past MAX_DOCUMENT_BYTES       | test_request_json: a_document_one_byte_past...  |
| bodies past MAX_BODY_BYTES, chunked     | test_request_bounds                             |
| queries and mutations over the socket   | test_websocket: queries_and_mutations_over...   |
| persisted-query hash mismatch           | test_persisted_queries                          |
| an unexpected fault masked              | test_graphql_transport: an_unexpected_fault...  |
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import Lexer, Source, TokenKind, parse
from graphql.validation.rules.overlapping_fields_can_be_merged import (
    OverlappingFieldsCanBeMergedRule,
)

from app.accounts.models import User
from app.graphql.cost import CostLimit
from app.graphql.limits import MAX_FIELD_REPEATS
from app.graphql.schema import build_schema
from app.main import create_app
from app.settings import Settings
from tests.accounts.factories import SIGN_UP, sign_up_input
from tests.cashback.factories import item, purchase_input, writer
from tests.catalog.factories import make_product, make_store
from tests.factories import make_customer
from tests.ledger.statements import count_statements
from tests.offers.factories import make_offer
from tests.redemptions.factories import gid, give_credits
from tests.redemptions.operations import started
from tests.support import Api, error_codes
from tests.test_graphql_transport import _nested

SIGN_UP_BODY = {"query": SIGN_UP, "variables": {"input": sign_up_input(email="csrf@example.com")}}


@pytest.fixture
async def production(api: Api) -> AsyncIterator[Api]:
    """The same database behind an app configured for production."""
    settings = api.settings.model_copy(update={"app_env": "production"})
    transport = httpx.ASGITransport(app=create_app(settings, manage_db=False))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client, settings)


def refused_as(response: httpx.Response, code: str) -> list[dict[str, Any]]:
    """The errors of a request refused as a whole before it ran."""
    assert response.status_code == 400, response.text[:500]
    body = response.json()
    assert body["data"] is None
    assert set(error_codes(body)) == {code}, body
    return list(body["errors"])


async def nobody_signed_up() -> bool:
    return not await User.filter(email="csrf@example.com").exists()


# --- introspection and suggestions ------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        '{ __type(name: "Purchase") { name fields { name } } }',
        "query { ...Peek } fragment Peek on Query { __schema { queryType { name } } }",
        '{ viewer { __type(name: "Viewer") { name } } }',
    ],
    ids=["type", "schema-in-a-fragment", "type-under-a-field"],
)
async def test_introspection_in_any_disguise_is_refused_in_production(
    api: Api, production: Api, document: str
) -> None:
    # The same document is answered outside production: the probe itself is sound.
    if "viewer" not in document:
        assert (await api.post(document)).status_code == 200
    with count_statements() as sent:
        response = await production.post(document)
    errors = refused_as(response, "GRAPHQL_VALIDATION_FAILED")
    assert "Purchase" not in response.text and "queryType" not in response.text
    assert all(e["message"] == "The operation does not match the schema." for e in errors)
    assert sent == []


async def test_introspection_over_get_is_refused_in_production(production: Api) -> None:
    response = await production.client.get(
        "/graphql", params={"query": "{ __schema { types { name } } }"}
    )
    refused_as(response, "GRAPHQL_VALIDATION_FAILED")
    assert "Viewer" not in response.text


async def test_typename_stays_answered_in_production(production: Api) -> None:
    # Clients need __typename for their caches; it reveals only the type they asked for.
    answer = await production.gql("{ __typename }")
    assert answer == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    "typo",
    [
        "{ merchants(frist: 1) { edges { cursor } } }",
        "{ merchants(first: 1) { edges { node { ... on Merchnt { id } } } } }",
        "{ programOffers(first: 1, filter: {status: ACTIV}) { edges { cursor } } }",
        "{ program { currencyCod } }",
        "{ program { currencyCode @include(iff: true) } }",
        "query Q($n: Itn) { merchants(first: $n) { edges { cursor } } }",
        '{ cashbackPreview(storeId: "x", total: {amount: "1", currencyCod: "USD"}) '
        "{ cashback { amount } } }",
    ],
    ids=[
        "argument",
        "type",
        "enum-value",
        "field",
        "directive-argument",
        "variable-type",
        "input-field",
    ],
)
async def test_no_suggestion_names_the_schema_in_production(
    api: Api, production: Api, typo: str
) -> None:
    assert "Did you mean" in (await api.post(typo)).text
    response = await production.post(typo)
    refused_as(response, "GRAPHQL_VALIDATION_FAILED")
    assert "Did you mean" not in response.text


# --- the IDE, GET, batching and cross-site requests ---------------------------------------


@pytest.mark.parametrize("path", ["/graphiql", "/playground", "/altair", "/graphql/graphiql", "/"])
async def test_no_ide_is_served_anywhere_in_production(production: Api, path: str) -> None:
    response = await production.client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert "graphiql" not in response.text.lower()
    assert "<html" not in response.text.lower()


async def test_a_mutation_over_get_is_refused_in_production_and_writes_nothing(
    production: Api,
) -> None:
    response = await production.client.get(
        "/graphql",
        params={"query": SIGN_UP, "variables": json.dumps(SIGN_UP_BODY["variables"])},
    )
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_REQUEST"]
    assert await nobody_signed_up()


async def test_a_json_array_batch_is_refused_in_production_and_writes_nothing(
    production: Api,
) -> None:
    batch = [SIGN_UP_BODY] + [{"query": "{ __typename }"}] * 9
    response = await production.client.post("/graphql", json=batch)
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_REQUEST"]
    assert await nobody_signed_up()


@pytest.mark.parametrize(
    "send",
    [
        {"content": json.dumps(SIGN_UP_BODY), "headers": {"Content-Type": "text/plain"}},
        {"data": {"query": SIGN_UP, "variables": json.dumps(SIGN_UP_BODY["variables"])}},
        {
            "files": {
                "operations": (None, json.dumps(SIGN_UP_BODY)),
                "map": (None, "{}"),
            }
        },
    ],
    ids=["text-plain", "form-urlencoded", "multipart"],
)
async def test_a_cross_site_form_post_is_refused_in_production_and_writes_nothing(
    production: Api, send: dict[str, Any]
) -> None:
    # A browser sends these three without a CORS preflight: a page on another site could
    # make a signed-in visitor's browser post them.
    response = await production.client.post("/graphql", **send)
    assert 400 <= response.status_code < 500, response.text
    assert await nobody_signed_up()


async def test_tracing_and_debug_extensions_are_not_exposed_in_production(
    production: Api,
) -> None:
    body = {"query": "{ __typename viewer { id } }", "extensions": {"tracing": True}}
    answered = await production.client.post(
        "/graphql", json=body, headers={"Apollo-Tracing": "1", "X-Debug": "1"}
    )
    invalid = await production.post("{ nothingHere }")
    for response in (answered, invalid):
        payload = response.json()
        assert "extensions" not in payload
        for error in payload["errors"]:
            # A code and, for a fault, the request id: never a trace or an exception.
            assert set(error.get("extensions", {})) <= {"code", "requestId"}
        assert "Traceback" not in response.text and "tracing" not in response.text
    assert error_codes(answered.json()) == ["UNAUTHENTICATED"]


# --- aliases, duplicates, directives and cycles -----------------------------------------


async def test_a_hundred_and_one_aliases_are_refused_in_production_before_any_sql(
    production: Api,
) -> None:
    aliases = " ".join(f"a{n}: __typename" for n in range(101))
    with count_statements() as sent:
        response = await production.post(f"query cop {{ {aliases} }}")
    refused_as(response, "QUERY_TOO_COMPLEX")
    assert sent == []


@pytest.mark.parametrize(
    "document",
    [
        "query cop { " + "__typename " * 500 + "}",
        "{ " + "viewer { id } " * 499 + "}",
        "{ ...Twice } fragment Twice on Query { "
        + "__typename " * 6
        + "... on Query { "
        + "__typename " * 6
        + "} }",
    ],
    ids=["500-typenames", "499-viewers", "through-fragments"],
)
async def test_duplicated_fields_are_refused_before_the_overlap_check_and_any_sql(
    production: Api, monkeypatch: pytest.MonkeyPatch, document: str
) -> None:
    # graphql-core compares every pair of same-named fields: 499 `viewer { id }` held the
    # event loop for about a second before this limit.
    compared: list[object] = []
    original = OverlappingFieldsCanBeMergedRule.enter_selection_set

    def spy(self: Any, *args: Any) -> Any:
        compared.append(args[0])
        return original(self, *args)

    monkeypatch.setattr(OverlappingFieldsCanBeMergedRule, "enter_selection_set", spy)
    with count_statements() as sent:
        response = await production.post(document)
    [error] = refused_as(response, "QUERY_TOO_COMPLEX")
    assert f"at most {MAX_FIELD_REPEATS}" in error["message"]
    assert compared == []
    assert sent == []


async def test_a_field_repeated_up_to_the_limit_is_answered(production: Api) -> None:
    customer = await make_customer()
    at_limit = "{ " + "viewer { id } " * MAX_FIELD_REPEATS + "}"
    one_more = "{ " + "viewer { id } " * (MAX_FIELD_REPEATS + 1) + "}"
    token = production.token_for(customer)

    answer = await production.gql(at_limit, token=token)
    with count_statements() as sent:
        refused = await production.post(one_more, token=token)

    assert answer["data"]["viewer"]["id"]
    refused_as(refused, "QUERY_TOO_COMPLEX")
    assert sent == []


@pytest.mark.parametrize(
    "document",
    [
        "query cop { __typename " + "@aa" * 900 + " }",
        "query cop { __typename " + "@include(if: true)" * 250 + " }",
        "query cop { viewer { id " + "@skip(if: false)" * 250 + " } }",
    ],
    ids=["unknown-directive", "include", "skip"],
)
async def test_directive_overloading_is_refused_before_any_sql(
    production: Api, document: str
) -> None:
    with count_statements() as sent:
        response = await production.post(document)
    errors = refused_as(response, "GRAPHQL_VALIDATION_FAILED")
    # graphql-core stops at 100 errors: the answer does not grow with the attack.
    assert len(errors) <= 101
    assert sent == []


@pytest.mark.parametrize(
    "document",
    [
        "query cop { ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        "query cop { ...A } fragment A on Query { __typename ...A }",
        "query cop { merchants(first: 1) { edges { node { ...M } } } }"
        " fragment M on Merchant { products(first: 1) { edges { node { merchant { ...M } } } } }",
    ],
    ids=["two-fragments", "itself", "through-a-field"],
)
async def test_circular_fragments_are_refused_before_any_sql(
    production: Api, document: str
) -> None:
    with count_statements() as sent:
        response = await production.post(document)
    refused_as(response, "GRAPHQL_VALIDATION_FAILED")
    assert sent == []


def circular_introspection(levels: int) -> str:
    inner = "name"
    for _ in range(levels):
        inner = f"ofType {{ {inner} }}"
    return f"query cop {{ __schema {{ types {{ fields {{ type {{ {inner} }} }} }} }} }}"


async def test_circular_introspection_is_refused_in_production(production: Api) -> None:
    with count_statements() as sent:
        response = await production.post(circular_introspection(30))
    refused_as(response, "GRAPHQL_VALIDATION_FAILED")
    assert sent == []


# --- the limits at their boundary --------------------------------------------------------


async def test_the_depth_limit_runs_a_document_at_it_and_refuses_one_more_before_any_sql(
    api: Api,
) -> None:
    await make_store()
    assert api.settings.max_query_depth == 10
    with count_statements() as at_limit:
        allowed = await api.post(_nested(10))
    with count_statements() as over:
        response = await api.post(_nested(11))

    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["data"]["merchants"]["edges"]
    assert at_limit != []  # the document at the limit did reach the database
    refused_as(response, "QUERY_TOO_COMPLEX")
    assert over == []


async def test_the_alias_limit_runs_a_document_at_it_and_refuses_one_more_before_any_sql(
    api: Api,
) -> None:
    customer = await make_customer()
    token = api.token_for(customer)
    limit = api.settings.max_aliases

    def aliased(count: int) -> str:
        return "query Many { " + " ".join(f"a{n}: viewer {{ id }}" for n in range(count)) + " }"

    with count_statements() as at_limit:
        answer = await api.gql(aliased(limit), token=token)
    with count_statements() as over:
        response = await api.post(aliased(limit + 1), token=token)

    assert len(answer["data"]) == limit
    assert at_limit != []
    refused_as(response, "QUERY_TOO_COMPLEX")
    assert over == []


def tokens_in(document: str) -> int:
    """Tokens as graphql-core's `max_tokens` counts them: lexical tokens and comments."""
    lexer = Lexer(Source(document))
    count = 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    comments = sum(1 for line in document.splitlines() if line.lstrip().startswith("#"))
    return count + comments


def padded(tokens: int) -> str:
    """A document of exactly `tokens` tokens that reads the viewer: comments fill it up
    (two bytes a token, far below the document size limit)."""
    head = "query Padded { viewer { id email } }\n"
    return head + "#\n" * (tokens - tokens_in(head))


async def test_the_token_limit_runs_a_document_at_it_and_refuses_one_more_before_any_sql(
    api: Api,
) -> None:
    customer = await make_customer(email="tokens@example.com")
    token = api.token_for(customer)
    limit = api.settings.max_tokens
    assert tokens_in(padded(limit)) == limit
    parse(padded(limit), max_tokens=limit)  # the parser agrees with the count

    with count_statements() as at_limit:
        answer = await api.gql(padded(limit), token=token)
    with count_statements() as over:
        response = await api.post(padded(limit + 1), token=token)

    assert answer["data"]["viewer"]["email"] == "tokens@example.com"
    assert at_limit != []
    [error] = refused_as(response, "QUERY_TOO_COMPLEX")
    assert f"more than {limit} tokens" in error["message"]
    assert over == []


# --- the cost limit: the costliest document accepted, and what it costs the database -----

# The mobile app's screens at once, every list at its largest page; `devices` takes up
# what is left of the budget, so the document costs exactly MAX_QUERY_COST.
COSTLIEST = """
query Everything($devices: Int!) {
  viewer {
    id email
    balance { available { amount } pending { amount } nextExpiry { expiresAt } }
    tier { code spend { amount } nextTier { code } }
    purchases(first: 50) { edges { node {
      id externalId total { amount } cashback { amount } store { name merchant { name } }
      items { sku quantity unitPrice { amount } }
    } } pageInfo { hasNextPage } }
    activity(first: 21) { edges { node {
      id kind status amount { amount } description merchant { name } purchase { id }
      explanation { label amount { amount } }
    } } }
    offers(first: 100) { edges { node {
      id title percent merchant { name stores { name channel } }
    } } }
    suggestions(first: 50) {
      reason estimatedCashback { amount }
      product { id name price { amount } related(first: 50) { id name } }
    }
    redemptions(first: 100) { edges { node { id status amount { amount } merchant { name } } } }
    devices(first: $devices) { edges { node { id current } } }
  }
}
"""


def cost_of(document: str, settings: Settings, **variables: Any) -> int:
    schema = build_schema(settings)._schema  # type: ignore[attr-defined]
    limit = CostLimit(max_cost=settings.max_query_cost, max_page_size=settings.max_page_size)
    return limit.cost(schema, parse(document), variables=variables)


def objects_in(value: Any) -> int:
    """The objects of an answer (every JSON object, as the cost counts them and more)."""
    if isinstance(value, dict):
        return 1 + sum(objects_in(v) for v in value.values())
    if isinstance(value, list):
        return sum(objects_in(v) for v in value)
    return 0


async def a_customer_with_a_full_history(api: Api) -> User:
    """Fifty purchases of three products each, offers, credits and redemptions."""
    customer = await make_customer()
    store = await make_store()
    merchant = await store.merchant
    skus = [f"SKU-{n}" for n in range(12)]
    for sku in skus:
        await make_product(merchant, sku=sku, price="5.00")
    inputs = [
        purchase_input(
            store,
            customer,
            "15.00",
            items=[item(skus[(n + k) % len(skus)], "5.00") for k in range(3)],
        )
        for n in range(50)
    ]
    recorded = await api.gql(
        "mutation R($inputs: [RecordPurchaseInput!]!) { recordPurchases(inputs: $inputs) "
        "{ results { purchase { id } } userErrors { code } } }",
        {"inputs": inputs},
        token=writer(api, store),
    )
    assert all(r["purchase"] for r in recorded["data"]["recordPurchases"]["results"])
    for _ in range(12):
        await make_offer(api)
    await give_credits(customer, 10_000)
    token = api.token_for(customer)
    for n in range(5):
        await started(api, token, gid("Merchant", merchant), "1.00", key=f"k{n}")
    return customer


@pytest.mark.slow
async def test_the_costliest_document_accepted_stays_within_its_budget_of_sql_and_time(
    api: Api,
) -> None:
    settings = api.settings
    fill = settings.max_query_cost - cost_of(COSTLIEST, settings, devices=0)
    assert 0 < fill <= settings.max_page_size
    assert cost_of(COSTLIEST, settings, devices=fill) == settings.max_query_cost
    customer = await a_customer_with_a_full_history(api)
    token = api.token_for(customer)

    # The same document with every list at one item: the time of the work that does not
    # grow with the pages (the session, the balance, the tier).
    small = COSTLIEST.replace("first: 50", "first: 1").replace("first: 100", "first: 1")
    small = small.replace("first: 21", "first: 1")
    baseline = time.perf_counter()
    assert "errors" not in await api.gql(small, {"devices": 1}, token=token)
    baseline = time.perf_counter() - baseline

    with count_statements() as sent:
        started_at = time.perf_counter()
        response = await api.post(COSTLIEST, {"devices": fill}, token=token)
        elapsed = time.perf_counter() - started_at
    with count_statements() as over:
        refused = await api.post(COSTLIEST, {"devices": fill + 1}, token=token)

    assert response.status_code == 200, response.text[:500]
    answer = response.json()
    assert "errors" not in answer, answer["errors"]
    viewer = answer["data"]["viewer"]
    assert len(viewer["purchases"]["edges"]) == 50
    assert len(viewer["activity"]["edges"]) == 21
    assert len(viewer["offers"]["edges"]) == 12
    assert len(viewer["redemptions"]["edges"]) == 5
    assert viewer["suggestions"]
    # Rows: the answer holds no more objects than the cost allowed (the cost counts
    # objects in lists; the extra factor covers money and other single objects, at most
    # six per listed object in this document).
    assert objects_in(answer) <= 7 * settings.max_query_cost
    # Statements: every list is read in batches (data loaders), so the count is a small
    # constant, whatever the page sizes. Each of the ~20 object fields may take a
    # statement or two; 60 is far above what it needs and far below one per row.
    assert len(sent) <= 60, "\n".join(sent)
    # Time: generous, so it cannot flake: within half the request deadline, and within
    # a hundred times the same document at one item per list (plus a second for a slow
    # machine). A per-row statement or an unbatched loop would break both.
    assert elapsed < settings.request_timeout_seconds / 2
    assert elapsed < 100 * baseline + 1.0
    refused_as(refused, "QUERY_TOO_COMPLEX")
    assert over == []
