"""Automatic persisted queries, as Apollo clients use them."""

from __future__ import annotations

import hashlib
import json

import httpx

from app.graphql.persisted_queries import PersistedQueries
from app.main import create_app
from tests.conftest import make_settings
from tests.factories import make_customer
from tests.support import Api, error_codes

QUERY = "query Me { viewer { email } }"
HASH = hashlib.sha256(QUERY.encode()).hexdigest()


def persisted(digest: str = HASH) -> dict[str, object]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def test_an_unknown_hash_asks_for_the_document_then_the_hash_alone_works(api: Api) -> None:
    customer = await make_customer(email="apq@example.com")
    headers = {"Authorization": f"Bearer {api.token_for(customer)}"}

    miss = await api.client.post("/graphql", json={"extensions": persisted()}, headers=headers)
    assert miss.status_code == 200
    assert miss.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert error_codes(miss.json()) == ["PERSISTED_QUERY_NOT_FOUND"]

    register = await api.client.post(
        "/graphql", json={"query": QUERY, "extensions": persisted()}, headers=headers
    )
    assert register.json()["data"]["viewer"]["email"] == "apq@example.com"

    by_hash = await api.client.post("/graphql", json={"extensions": persisted()}, headers=headers)
    assert by_hash.json()["data"]["viewer"]["email"] == "apq@example.com"

    over_get = await api.client.get(
        "/graphql", params={"extensions": json.dumps(persisted())}, headers=headers
    )
    assert over_get.json()["data"]["viewer"]["email"] == "apq@example.com"


async def test_a_document_that_does_not_match_its_hash_is_refused(api: Api) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    response = await api.client.post(
        "/graphql", json={"query": QUERY, "extensions": persisted(wrong)}
    )
    assert error_codes(response.json()) == ["BAD_REQUEST"]
    retry = await api.client.post("/graphql", json={"extensions": persisted(wrong)})
    assert error_codes(retry.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


def register(query: str) -> dict[str, object]:
    digest = hashlib.sha256(query.encode()).hexdigest()
    return {"query": query, "extensions": persisted(digest)}


def by_hash(query: str) -> dict[str, object]:
    return {"extensions": persisted(hashlib.sha256(query.encode()).hexdigest())}


async def test_given_a_document_that_does_not_parse_then_it_is_never_remembered(api: Api) -> None:
    broken = "query Broken { __typename " + "#" * 900
    registered = await api.client.post("/graphql", json=register(broken))
    assert registered.status_code == 400
    assert error_codes(registered.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    again = await api.client.post("/graphql", json=by_hash(broken))
    assert error_codes(again.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_given_a_document_that_does_not_validate_then_it_is_never_remembered(
    api: Api,
) -> None:
    unknown_field = "query Unknown { nothingHere }"
    registered = await api.client.post("/graphql", json=register(unknown_field))
    assert error_codes(registered.json()) == ["GRAPHQL_VALIDATION_FAILED"]
    again = await api.client.post("/graphql", json=by_hash(unknown_field))
    assert error_codes(again.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_given_a_valid_document_whose_resolvers_fail_then_it_is_remembered(
    api: Api,
) -> None:
    # Valid, and refused only when it runs (no token): the document itself is sound.
    registered = await api.client.post("/graphql", json=register(QUERY))
    assert error_codes(registered.json()) == ["UNAUTHENTICATED"]
    again = await api.client.post("/graphql", json=by_hash(QUERY))
    assert error_codes(again.json()) == ["UNAUTHENTICATED"]


async def test_given_a_document_past_the_size_limit_then_its_registration_is_refused(
    api: Api,
) -> None:
    huge = "query Huge { __typename }\n#" + "x" * api.settings.max_document_bytes
    registered = await api.client.post("/graphql", json=register(huge))
    assert registered.status_code == 400
    assert error_codes(registered.json()) == ["QUERY_TOO_COMPLEX"]
    again = await api.client.post("/graphql", json=by_hash(huge))
    assert error_codes(again.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_given_documents_past_the_cache_budget_then_the_least_recently_used_go_first(
    db,
) -> None:
    # Three ~5 KB documents in a 12 KB budget: the third pushes out the least recently used.
    first, second, third = (f"query Q{n} {{ __typename }}\n#" + "x" * 5_000 for n in range(3))
    settings = make_settings(db.database_url, persisted_query_cache_bytes=12_000)
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for document in (first, second):
            assert (await client.post("/graphql", json=register(document))).status_code == 200
        # `first` is used again, so `second` is now the least recently used.
        assert (await client.post("/graphql", json=by_hash(first))).status_code == 200
        assert (await client.post("/graphql", json=register(third))).status_code == 200
        answers = {
            name: error_codes((await client.post("/graphql", json=by_hash(document))).json())
            for name, document in (("first", first), ("second", second), ("third", third))
        }
    assert answers == {"first": [], "second": ["PERSISTED_QUERY_NOT_FOUND"], "third": []}


def test_the_cache_holds_no_more_bytes_than_its_budget_and_never_an_oversized_document() -> None:
    cache = PersistedQueries(max_bytes=10_000)
    for n in range(50):
        document = f"query Q{n} {{ __typename }} # " + "é" * 700
        resolved = cache.resolve(document, register(document)["extensions"]["persistedQuery"])
        assert resolved is not None
        cache.remember(resolved)
        assert cache.total_bytes <= 10_000
    kept, kept_bytes = len(cache), cache.total_bytes
    assert 0 < kept < 50
    oversized = "query Big { __typename } # " + "x" * 10_000
    resolved = cache.resolve(oversized, register(oversized)["extensions"]["persistedQuery"])
    assert resolved is not None
    cache.remember(resolved)
    assert resolved.digest not in cache
    # Nor does it push out what was kept.
    assert (len(cache), cache.total_bytes) == (kept, kept_bytes)
