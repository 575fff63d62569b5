"""What the endpoint refuses, and how: limits checked before any resolver runs, clean 4xx
for malformed requests, masked internals, and production's closed introspection."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from app.graphql.context import Context
from app.graphql.schema import VALIDATION_CACHE_SIZE
from app.main import create_app
from tests.conftest import make_settings
from tests.factories import make_customer
from tests.support import Api, error_codes

VIEWER = "query Me { viewer { id email } }"


async def test_a_signed_in_customer_reads_the_viewer(api: Api) -> None:
    customer = await make_customer(email="Ana@Example.com")
    answer = await api.gql(VIEWER, token=api.token_for(customer))
    assert answer["data"]["viewer"]["email"] == "ana@example.com"


async def test_viewer_without_a_token_is_unauthenticated(api: Api) -> None:
    answer = await api.gql(VIEWER)
    assert error_codes(answer) == ["UNAUTHENTICATED"]
    assert answer["data"] is None


async def test_a_malformed_authorization_header_is_unauthenticated(api: Api) -> None:
    response = await api.post(VIEWER, headers={"Authorization": "Token abc"})
    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


def _nested(levels: int) -> str:
    """A valid query `levels` fields deep that asks for one object per level, through the
    Merchant -> Product -> Merchant cycle (deep, yet well within the cost budget)."""
    # From the outside in: a merchant's first product, its merchant, ...
    cycle = ["products(first: 1)", "edges", "node", "merchant"]
    names = [cycle[n % len(cycle)] for n in range(levels - 3)]
    inner = "__typename"
    for name in reversed(names):
        inner = f"{name} {{ __typename {inner} }}"
    return f"query Deep {{ merchants(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"


async def test_too_deep_a_query_is_refused_before_any_resolver_runs(api: Api) -> None:
    assert (await api.post(_nested(10))).status_code == 200
    response = await api.post(_nested(11))
    assert response.status_code == 400
    body = response.json()
    assert set(error_codes(body)) == {"QUERY_TOO_COMPLEX"}
    assert body["data"] is None


async def test_too_many_aliases_are_refused_before_any_resolver_runs(api: Api) -> None:
    aliases = " ".join(f"a{i}: viewer {{ id }}" for i in range(16))
    response = await api.post(f"query Many {{ {aliases} }}")
    assert response.status_code == 400
    assert set(error_codes(response.json())) == {"QUERY_TOO_COMPLEX"}


async def test_fifteen_aliases_are_allowed(api: Api) -> None:
    customer = await make_customer()
    aliases = " ".join(f"a{i}: viewer {{ id }}" for i in range(15))
    answer = await api.gql(f"query Many {{ {aliases} }}", token=api.token_for(customer))
    assert len(answer["data"]) == 15


async def test_too_many_tokens_are_refused(api: Api) -> None:
    fields = " ".join("__typename" for _ in range(2_100))
    response = await api.post(f"query Big {{ {fields} }}")
    assert response.status_code == 400
    assert error_codes(response.json()) == ["QUERY_TOO_COMPLEX"]


async def test_a_batch_is_refused_without_executing(api: Api) -> None:
    batch = [{"query": VIEWER}, {"query": VIEWER}]
    response = await api.client.post("/graphql", json=batch)
    assert response.status_code == 400
    assert "UNAUTHENTICATED" not in response.text


async def test_a_mutation_over_get_is_refused(api: Api) -> None:
    response = await api.client.get(
        "/graphql",
        params={"query": 'mutation M { signOut(refreshToken: "x") { userErrors { code } } }'},
    )
    assert 400 <= response.status_code < 500


async def test_a_query_over_get_is_answered(api: Api) -> None:
    response = await api.client.get("/graphql", params={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", "{ __typename }"),
        ("application/x-www-form-urlencoded", "query=%7B__typename%7D"),
        ("application/json", "this is not json"),
        ("application/json", "[1, 2"),
        ("application/json", json.dumps({"variables": {}})),
        ("application/json", json.dumps({"query": 42})),
    ],
)
async def test_malformed_requests_get_a_clean_4xx(api: Api, content_type: str, body: str) -> None:
    response = await api.client.post(
        "/graphql", content=body.encode(), headers={"Content-Type": content_type}
    )
    assert 400 <= response.status_code < 500, response.text
    assert "Traceback" not in response.text


async def test_a_syntax_error_is_a_400_with_a_stable_code(api: Api) -> None:
    response = await api.post("query { viewer { id ")
    assert response.status_code == 400
    assert error_codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_an_unknown_field_is_a_400_with_a_stable_code(api: Api) -> None:
    response = await api.post("query { nothingHere }")
    assert response.status_code == 400
    assert error_codes(response.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_too_large_a_body_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        content=b"{" + b" " * 1_100_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_an_unexpected_fault_is_masked_and_logged_with_the_request_id(
    api: Api, monkeypatch, caplog
) -> None:
    customer = await make_customer()

    def broken(context: Context) -> None:
        raise RuntimeError("secret internals: connection string postgres://user:pw@db")

    monkeypatch.setattr(Context, "caller_account", property(broken))
    with caplog.at_level(logging.ERROR, logger="app.errors"):
        response = await api.post(
            VIEWER, token=api.token_for(customer), headers={"X-Request-Id": "req-42"}
        )
    assert response.status_code == 200
    body = response.json()
    assert "secret internals" not in response.text
    assert body["errors"][0]["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "requestId": "req-42",
    }
    assert any(r.request_id == "req-42" and r.exc_info for r in caplog.records)


async def test_the_validation_cache_is_hit_on_repeated_documents(api: Api) -> None:
    from strawberry.extensions.validation_cache import _get_validate_cache

    cache = _get_validate_cache(VALIDATION_CACHE_SIZE)
    await api.post("query Repeated { __typename }")
    hits = cache.cache_info().hits
    await api.post("query Repeated { __typename }")
    assert cache.cache_info().hits == hits + 1


async def test_graphiql_is_served_in_development_only(db) -> None:
    pages = {}
    for env in ("development", "production"):
        settings = make_settings(db.database_url).model_copy(update={"app_env": env})
        app = create_app(settings, manage_db=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            pages[env] = await client.get("/graphql", headers={"Accept": "text/html"})
    assert pages["development"].status_code == 200
    assert "graphiql" in pages["development"].text.lower()
    assert pages["production"].status_code == 404
    assert "graphiql" not in pages["production"].text.lower()


async def test_production_hides_introspection_and_suggestions(db) -> None:
    settings = make_settings(db.database_url).model_copy(update={"app_env": "production"})
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        introspection = await client.post(
            "/graphql", json={"query": "{ __schema { types { name } } }"}
        )
        typo = await client.post("/graphql", json={"query": "{ viewr { id } }"})
    assert introspection.status_code == 400
    assert set(error_codes(introspection.json())) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "Did you mean" not in typo.text
    assert error_codes(typo.json()) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_development_suggests_fields(api: Api) -> None:
    typo = await api.post("{ viewr { id } }")
    assert "Did you mean" in typo.text
