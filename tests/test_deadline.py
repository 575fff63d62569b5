"""An operation has a deadline, and stops when its client leaves: past
REQUEST_TIMEOUT_SECONDS the client gets a TIMEOUT error (HTTP 503), a client that
disconnects stops the work, and in both cases nothing is left half-written."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import strawberry
from starlette.types import Message
from tortoise.transactions import in_transaction

from app.catalog.models import Merchant
from app.main import create_app
from tests.conftest import make_settings
from tests.support import error_codes

SLOW_SECONDS = 1.0
DEADLINE_SECONDS = 0.2


async def outlive_the_resolvers() -> None:
    """Wait until a resolver left running would have reached its end."""
    await asyncio.sleep(SLOW_SECONDS + 0.3)


class Progress(list[str]):
    """What the slow resolvers reached; `started` is set when one begins waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()

    def append(self, step: str) -> None:
        super().append(step)
        if step == "started":
            self.started.set()


def slow_schema(progress: Progress) -> strawberry.Schema:
    @strawberry.type
    class Query:
        @strawberry.field
        def fast(self) -> str:
            return "fast"

        @strawberry.field
        async def slow(self) -> str:
            progress.append("started")
            await asyncio.sleep(SLOW_SECONDS)
            progress.append("finished")
            return "slow"

    @strawberry.type
    class Mutation:
        @strawberry.mutation
        async def open_merchant(self, name: str) -> bool:
            async with in_transaction():
                await Merchant.create(
                    name=name, cashback_percent=Decimal("1"), created_at=datetime.now(UTC)
                )
                progress.append("started")
                await asyncio.sleep(SLOW_SECONDS)
                progress.append("finished")
            return True

    return strawberry.Schema(query=Query, mutation=Mutation)


@pytest.fixture
def progress() -> Progress:
    return Progress()


@pytest.fixture
def slow_app(db, progress: Progress, monkeypatch: pytest.MonkeyPatch):
    """The real app (middleware, routes, view) serving the slow schema."""

    def make(timeout: float) -> Any:
        monkeypatch.setattr("app.main.build_schema", lambda settings: slow_schema(progress))
        settings = make_settings(db.database_url, request_timeout_seconds=timeout)
        return create_app(settings, manage_db=False)

    return make


async def post(app: Any, query: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/graphql", json={"query": query})


async def test_given_an_operation_past_its_deadline_then_it_is_stopped_with_timeout(
    slow_app, progress: Progress
) -> None:
    started = time.monotonic()
    response = await post(slow_app(DEADLINE_SECONDS), "query Slow { slow }")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert error_codes(body) == ["TIMEOUT"]
    assert body["data"] is None
    assert elapsed < SLOW_SECONDS
    await outlive_the_resolvers()
    assert progress == ["started"]


async def test_given_an_operation_within_its_deadline_then_it_is_answered(
    slow_app, progress: Progress
) -> None:
    response = await post(slow_app(DEADLINE_SECONDS), "query Fast { fast }")
    assert response.status_code == 200
    assert response.json() == {"data": {"fast": "fast"}}


async def test_given_a_write_past_its_deadline_then_nothing_is_written(
    slow_app, progress: Progress
) -> None:
    response = await post(
        slow_app(DEADLINE_SECONDS), 'mutation Open { openMerchant(name: "Half") }'
    )
    assert response.status_code == 503
    assert error_codes(response.json()) == ["TIMEOUT"]
    await outlive_the_resolvers()
    assert progress == ["started"]
    assert not await Merchant.filter(name="Half").exists()


def http_scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }


async def call_and_leave(app: Any, query: str, progress: Progress) -> list[Message]:
    """Send the whole body, then disconnect once the resolver has started."""
    body = json.dumps({"query": query}).encode()
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await progress.started.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    # Past SLOW_SECONDS the work ran to its end; the assertions then say so.
    await asyncio.wait_for(app(http_scope(body), receive, send), timeout=SLOW_SECONDS + 3)
    return sent


async def test_given_a_client_that_leaves_then_the_operation_is_cancelled(
    slow_app, progress: Progress
) -> None:
    started = time.monotonic()
    sent = await call_and_leave(slow_app(30.0), "query Slow { slow }", progress)
    assert time.monotonic() - started < SLOW_SECONDS
    assert sent == []  # no one is left to answer
    await outlive_the_resolvers()
    assert progress == ["started"]


async def test_given_a_client_that_leaves_during_a_write_then_nothing_is_written(
    slow_app, progress: Progress
) -> None:
    await call_and_leave(slow_app(30.0), 'mutation Open { openMerchant(name: "Gone") }', progress)
    await outlive_the_resolvers()
    assert progress == ["started"]
    assert not await Merchant.filter(name="Gone").exists()
