"""Admins register trusted documents beside the built-in ones, and remove them: a
registered document runs by its hash alone (and under TRUSTED_DOCUMENTS_ONLY), on every
process as soon as the registration commits, and stops when it is removed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.graphql.trusted import digest
from app.settings import Settings
from tests.factories import make_admin, make_customer
from tests.servers import running_servers
from tests.support import Api, error_codes
from tests.trusted_documents.support import (
    bearer,
    built_in,
    by_hash,
    by_text,
    client_of,
    registering,
)

EXTRA = "query ProgramCurrency { program { currencyCode } }"
REGISTER = built_in("RegisterTrustedDocument")[1]
REMOVE = built_in("RemoveTrustedDocument")[1]
LIST = built_in("TrustedDocuments")[1]


async def register(
    client: httpx.AsyncClient, token: str | None, document: str, name: str = "ProgramCurrency"
) -> dict[str, Any]:
    headers = bearer(token) if token else {}
    response = await client.post(
        "/graphql",
        json=by_text(REGISTER, {"input": {"name": name, "document": document}}),
        headers=headers,
    )
    return response.json()


async def remove(client: httpx.AsyncClient, token: str, sha256: str) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json=by_text(REMOVE, {"sha256Hash": sha256}), headers=bearer(token)
    )
    return response.json()


async def test_a_registered_document_runs_by_hash_until_it_is_removed(api: Api) -> None:
    admin_token = api.token_for(await make_admin())
    sha256 = digest(EXTRA)
    before = await api.client.post("/graphql", json=by_hash(sha256))
    assert error_codes(before.json()) == ["PERSISTED_QUERY_NOT_FOUND"]

    registered = await register(api.client, admin_token, EXTRA)
    after = await api.client.post("/graphql", json=by_hash(sha256))
    listed = await api.client.post("/graphql", json=by_text(LIST), headers=bearer(admin_token))
    removed = await remove(api.client, admin_token, sha256)
    gone = await api.client.post("/graphql", json=by_hash(sha256))

    assert registered["data"]["registerTrustedDocument"] == {
        "trustedDocument": {
            "sha256Hash": sha256,
            "name": "ProgramCurrency",
            "builtIn": False,
            "createdAt": registered["data"]["registerTrustedDocument"]["trustedDocument"][
                "createdAt"
            ],
        },
        "userErrors": [],
    }
    assert after.json() == {"data": {"program": {"currencyCode": "USD"}}}
    documents = listed.json()["data"]["trustedDocuments"]
    assert [d for d in documents if not d["builtIn"]] == [
        {
            "sha256Hash": sha256,
            "name": "ProgramCurrency",
            "document": EXTRA,
            "builtIn": False,
            "createdAt": documents[-1]["createdAt"],
        }
    ]
    assert {d["name"] for d in documents if d["builtIn"]} >= {"Home", "DashboardMetrics"}
    assert removed["data"]["removeTrustedDocument"] == {
        "removedSha256Hash": sha256,
        "userErrors": [],
    }
    assert error_codes(gone.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_registering_the_same_text_twice_keeps_the_first(api: Api) -> None:
    token = api.token_for(await make_admin())
    first = await register(api.client, token, EXTRA, name="First")
    second = await register(api.client, token, EXTRA, name="Second")
    assert second == first
    assert first["data"]["registerTrustedDocument"]["trustedDocument"]["name"] == "First"


async def test_with_the_option_a_registered_document_runs_and_stops_when_removed(
    api: Api,
) -> None:
    token = api.token_for(await make_admin())
    async with client_of(api, trusted_documents_only=True) as client:
        refused = await client.post("/graphql", json=by_text(EXTRA))
        # Registering uses the built-in RegisterTrustedDocument, trusted like the contract.
        await register(client, token, EXTRA)
        as_text = await client.post("/graphql", json=by_text(EXTRA))
        # Remembered by the process's persisted-query cache too.
        as_apq = await client.post("/graphql", json=registering(EXTRA))
        await remove(client, token, digest(EXTRA))
        after_text = await client.post("/graphql", json=by_text(EXTRA))
        after_hash = await client.post("/graphql", json=by_hash(digest(EXTRA)))

    assert (refused.status_code, error_codes(refused.json())) == (400, ["DOCUMENT_NOT_TRUSTED"])
    assert as_text.json() == as_apq.json() == {"data": {"program": {"currencyCode": "USD"}}}
    for response in (after_text, after_hash):
        assert (response.status_code, error_codes(response.json())) == (
            400,
            ["DOCUMENT_NOT_TRUSTED"],
        )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("query Broken { program { currencyCode }", "does not parse"),
        ("query Unknown { nothingHere }", "does not match the schema"),
        ("query A { program { currencyCode } } query A { program { terms } }", "does not match"),
    ],
)
async def test_a_document_that_does_not_parse_or_validate_is_refused(
    api: Api, document: str, message: str
) -> None:
    token = api.token_for(await make_admin())
    answer = await register(api.client, token, document)
    (error,) = answer["data"]["registerTrustedDocument"]["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", ["input", "document"])
    assert message in error["message"]
    assert answer["data"]["registerTrustedDocument"]["trustedDocument"] is None
    still_unknown = await api.client.post("/graphql", json=by_hash(digest(document)))
    assert error_codes(still_unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_document_past_the_size_limit_is_refused(api: Api) -> None:
    token = api.token_for(await make_admin())
    big = "query Big { program { currencyCode } }\n#" + "x" * 600
    async with client_of(api, max_document_bytes=600) as client:
        answer = await register(client, token, big)
        unknown = await client.post("/graphql", json=by_hash(digest(big)))
    (error,) = answer["data"]["registerTrustedDocument"]["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", ["input", "document"])
    assert "600 bytes" in error["message"]
    assert error_codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_an_empty_name_is_refused(api: Api) -> None:
    answer = await register(api.client, api.token_for(await make_admin()), EXTRA, name="  ")
    (error,) = answer["data"]["registerTrustedDocument"]["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", ["input", "name"])


async def test_a_built_in_document_cannot_be_removed_nor_an_unknown_one(api: Api) -> None:
    token = api.token_for(await make_admin())
    home, _ = built_in("Home")
    built = await remove(api.client, token, home)
    unknown = await remove(api.client, token, digest("query Nothing { __typename }"))

    (error,) = built["data"]["removeTrustedDocument"]["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", ["sha256Hash"])
    assert "built-in" in error["message"]
    still = await api.client.post(
        "/graphql", json=by_hash(home), headers=bearer(api.token_for(await make_customer()))
    )
    assert "errors" not in still.json()
    (missing,) = unknown["data"]["removeTrustedDocument"]["userErrors"]
    assert (missing["code"], missing["field"]) == ("NOT_FOUND", ["sha256Hash"])


async def test_only_admins_may_register_remove_or_list(api: Api) -> None:
    customer = api.token_for(await make_customer())
    partner = api.partner_token(["purchases:write"])
    for token, code in ((customer, "FORBIDDEN"), (partner, "FORBIDDEN"), (None, "UNAUTHENTICATED")):
        headers = bearer(token) if token else {}
        registered = await register(api.client, token, EXTRA)
        removed = await api.client.post(
            "/graphql", json=by_text(REMOVE, {"sha256Hash": digest(EXTRA)}), headers=headers
        )
        listed = await api.client.post("/graphql", json=by_text(LIST), headers=headers)
        for answer in (registered, removed.json(), listed.json()):
            assert error_codes(answer) == [code], answer
            assert answer["data"] is None
    # Nothing was registered.
    unknown = await api.client.post("/graphql", json=by_hash(digest(EXTRA)))
    assert error_codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_another_process_learns_a_registration_and_a_removal_at_once(
    api: Api, postgres_only: Settings
) -> None:
    token = api.token_for(await make_admin())
    sha256 = digest(EXTRA)
    env = {"TRUSTED_DOCUMENTS_ONLY": "true"}
    async with (
        running_servers(postgres_only, 2, env=env) as (one, other),
        httpx.AsyncClient(timeout=10) as client,
    ):
        # The other process has read the registered documents (none) and keeps them.
        before = await client.post(f"{other.url}/graphql", json=by_hash(sha256))
        registered = await client.post(
            f"{one.url}/graphql",
            json=by_text(REGISTER, {"input": {"name": "ProgramCurrency", "document": EXTRA}}),
            headers=bearer(token),
        )
        by_hash_there = await client.post(f"{other.url}/graphql", json=by_hash(sha256))
        as_text_there = await client.post(f"{other.url}/graphql", json=by_text(EXTRA))
        removed = await client.post(
            f"{one.url}/graphql",
            json=by_text(REMOVE, {"sha256Hash": sha256}),
            headers=bearer(token),
        )
        after = await client.post(f"{other.url}/graphql", json=by_hash(sha256))
    assert (before.status_code, error_codes(before.json())) == (400, ["DOCUMENT_NOT_TRUSTED"])
    assert registered.json()["data"]["registerTrustedDocument"]["userErrors"] == []
    assert by_hash_there.json() == {"data": {"program": {"currencyCode": "USD"}}}
    assert as_text_there.json() == by_hash_there.json()
    assert removed.json()["data"]["removeTrustedDocument"]["userErrors"] == []
    assert (after.status_code, error_codes(after.json())) == (400, ["DOCUMENT_NOT_TRUSTED"])
