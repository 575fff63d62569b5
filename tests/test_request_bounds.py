"""Request bodies are bounded as they stream, on every route, whatever the headers say;
the token endpoint reads no more than its own small form and looks up no impossible
client id."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.middleware import RequestContextMiddleware
from tests.accounts.factories import make_partner_client
from tests.support import Api, error_codes

CHUNK = 64 * 1024


class Sender:
    """A chunked request body (no Content-Length) that counts what was taken from it."""

    def __init__(self, total: int, first: bytes = b"") -> None:
        self.total = total
        self.first = first
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.first:
            self.taken += len(self.first)
            yield self.first
        while self.taken < self.total:
            self.taken += CHUNK
            yield b" " * CHUNK


def assert_payload_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert error_codes(response.json()) == ["PAYLOAD_TOO_LARGE"]
    assert response.headers["x-content-type-options"] == "nosniff"


# --- Bodies -------------------------------------------------------------------------------


async def test_given_a_chunked_body_past_the_limit_when_posted_then_413_before_the_rest_is_read(
    api: Api,
) -> None:
    limit = api.settings.max_body_bytes
    body = Sender(total=300 * limit, first=b'{"query": "{ __typename }", "pad": "')
    response = await api.client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_payload_too_large(response)
    assert body.taken <= limit + 2 * CHUNK


async def test_given_a_chunked_body_within_the_limit_when_posted_then_it_is_answered(
    api: Api,
) -> None:
    async def small() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }",'
        yield b' "variables": {}}'

    response = await api.client.post(
        "/graphql", content=small(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


async def test_given_a_body_longer_than_its_content_length_then_413(api: Api) -> None:
    # A lying header does not buy a bigger body.
    limit = api.settings.max_body_bytes
    body = Sender(total=3 * limit)
    response = await api.client.post(
        "/graphql",
        content=body,
        headers={"Content-Type": "application/json", "Content-Length": "10"},
    )
    assert_payload_too_large(response)
    assert body.taken <= limit + 2 * CHUNK


async def test_given_a_declared_content_length_past_the_limit_then_413_without_reading(
    api: Api,
) -> None:
    declared = api.settings.max_body_bytes + 10
    body = Sender(total=declared)
    response = await api.client.post(
        "/graphql",
        content=body,
        headers={"Content-Type": "application/json", "Content-Length": str(declared)},
    )
    assert_payload_too_large(response)
    assert body.taken == 0


def greedy_app(*, swallow: bool) -> RequestContextMiddleware:
    """Any route that reads its whole body, inside the middleware every route is behind;
    one that swallows every error and answers 200 anyway, when `swallow`."""

    async def read_all(request: Request) -> Response:
        try:
            body = await request.body()
        except Exception:
            if not swallow:
                raise
            return PlainTextResponse("read it all, honest")
        return PlainTextResponse(f"{len(body)} bytes")

    return RequestContextMiddleware(
        Starlette(routes=[Route("/upload", read_all, methods=["POST"])]),
        production=False,
        max_body_bytes=1_024 * 1_024,
    )


@pytest.mark.parametrize("swallow", [False, True], ids=["route-reads-all", "route-swallows"])
async def test_given_any_route_that_reads_its_body_then_a_chunked_body_is_cut_at_the_limit(
    swallow: bool,
) -> None:
    limit = 1_024 * 1_024
    transport = httpx.ASGITransport(app=greedy_app(swallow=swallow))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        small = await client.post("/upload", content=b"x" * 1_000)
        body = Sender(total=300 * limit)
        large = await client.post("/upload", content=body)
    assert (small.status_code, small.text) == (200, "1000 bytes")
    assert_payload_too_large(large)
    assert body.taken <= limit + 2 * CHUNK


async def test_given_a_form_past_eight_kilobytes_then_the_token_endpoint_stops_reading(
    api: Api,
) -> None:
    body = Sender(total=10 * CHUNK, first=b"grant_type=client_credentials&pad=")
    response = await api.client.post(
        "/oauth/token",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert body.taken <= 8_192 + CHUNK


@pytest.mark.parametrize(
    "client_id",
    ["pc_\x00abc", "pc_tab\there", "pc_\x7f", "pc_" + "a" * 38],
    ids=["nul", "tab", "del", "41-characters"],
)
async def test_given_a_client_id_no_client_can_have_then_invalid_client_before_any_lookup(
    api: Api, monkeypatch: pytest.MonkeyPatch, client_id: str
) -> None:
    import app.accounts.routes as routes

    looked_up: list[str] = []
    real = routes.grant_client_credentials

    async def spy(**kwargs: object) -> object:
        looked_up.append(str(kwargs["client_id"]))
        return await real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(routes, "grant_client_credentials", spy)
    response = await api.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": "pcs_whatever",
        },
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert looked_up == []


async def test_given_a_genuine_client_id_then_the_token_endpoint_still_grants(api: Api) -> None:
    issued = await make_partner_client(["offers:read"])
    response = await api.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
        },
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "offers:read"
