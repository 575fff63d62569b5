"""Automatic persisted queries, as Apollo clients use them."""

from __future__ import annotations

import hashlib
import json

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
