"""Hostile JSON gets a clean 400 (never a 500), and a GraphQL document is bounded in bytes
before it is parsed, over POST, GET and persisted-query registrations alike."""

from __future__ import annotations

import httpx
import pytest

from tests.support import Api, error_codes

# --- Hostile JSON ---------------------------------------------------------------------------

HOSTILE_BODIES = {
    "invalid-utf8": b'{"query": "{ __typename }", "operationName": "\xff\xfe"}',
    "nested-100000-deep": b'{"query": "{ __typename }", "variables": {"v": '
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}}",
    "5000-digit-number": b'{"query": "{ __typename }", "variables": {"n": ' + b"9" * 5_000 + b"}}",
    # JSON, but not a request: strawberry would call `.get` on it.
    "a-string": b'"{ __typename }"',
    "a-number": b"42",
    "null": b"null",
}


def assert_bad_request(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert error_codes(response.json()) == ["BAD_REQUEST"]
    assert "Traceback" not in response.text
    assert "Error" not in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
async def test_given_hostile_json_in_a_body_then_a_clean_400(api: Api, body: bytes) -> None:
    response = await api.client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert_bad_request(response)


@pytest.mark.parametrize("param", ["variables", "extensions"])
@pytest.mark.parametrize(
    "value",
    ["[" * 5_000 + "]" * 5_000, '{"n": ' + "9" * 5_000 + "}", "{not json"],
    ids=["nested-5000-deep", "5000-digit-number", "malformed"],
)
async def test_given_hostile_json_in_get_parameters_then_a_clean_400(
    api: Api, param: str, value: str
) -> None:
    response = await api.client.get("/graphql", params={"query": "{ __typename }", param: value})
    assert_bad_request(response)


async def test_given_sound_json_with_numbers_and_nesting_then_it_is_answered(api: Api) -> None:
    body = {"query": "{ __typename }", "variables": {"n": int("9" * 300), "v": [[[[1]]]]}}
    response = await api.client.post("/graphql", json=body)
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


async def test_given_a_lone_surrogate_in_a_persisted_document_then_a_clean_400(api: Api) -> None:
    body = (
        '{"query": "{ __typename } # \\ud800", "extensions": {"persistedQuery": '
        '{"version": 1, "sha256Hash": "' + "0" * 64 + '"}}}'
    )
    response = await api.client.post(
        "/graphql", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_REQUEST"]


# --- Document size --------------------------------------------------------------------------


def document_of(size: int, pad: str = "#") -> str:
    """A valid document of exactly `size` UTF-8 bytes, padded with a comment."""
    head = "{ __typename }\n#"
    room = size - len(head.encode())
    step = len(pad.encode())
    return head + pad * (room // step) + "x" * (room % step)


async def test_given_a_document_at_the_limit_then_it_runs(api: Api) -> None:
    document = document_of(api.settings.max_document_bytes)
    assert len(document.encode()) == api.settings.max_document_bytes
    response = await api.post(document)
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize("pad", ["#", "é"], ids=["ascii", "two-byte-characters"])
async def test_given_a_document_one_byte_past_the_limit_when_posted_then_refused_before_parsing(
    api: Api, pad: str
) -> None:
    document = document_of(api.settings.max_document_bytes + 1, pad)
    assert len(document) <= api.settings.max_document_bytes or pad == "#"
    response = await api.post(document)
    assert response.status_code == 400
    assert error_codes(response.json()) == ["QUERY_TOO_COMPLEX"]
    assert response.json()["data"] is None


async def test_given_a_document_past_the_limit_over_get_then_refused(api: Api) -> None:
    document = document_of(api.settings.max_document_bytes + 1)
    response = await api.client.get("/graphql", params={"query": document})
    assert response.status_code == 400
    assert error_codes(response.json()) == ["QUERY_TOO_COMPLEX"]
