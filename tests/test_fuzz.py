"""Schemathesis fuzzes every query and mutation of the committed schema against a real
server process in production mode (introspection off), as a signed-in customer, as a partner
system and as an admin, on a seeded program. Whatever it sends, the answer is a clean one:
no 5xx, no INTERNAL_SERVER_ERROR, nothing of the server's insides, a refused document is a
400 with a stable code, every userError has a code, and the server logs no traceback."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor

import graphql
import httpx
import pytest

from app.db import is_postgres
from app.settings import Settings
from tests.fuzzing import CALLERS, SCHEMA_FILE, LogWatch, fuzz_as, problems_with, seed
from tests.servers import Server, running_servers

_sdl = graphql.build_schema(SCHEMA_FILE.read_text())
FIELDS = [
    f"{root.name}.{name}"
    for root in (_sdl.query_type, _sdl.mutation_type)
    if root is not None
    for name in root.fields
]


@pytest.fixture(scope="module")
async def production_server(database: Settings) -> AsyncIterator[Server]:
    """One `python -m app serve` in production mode on the PostgreSQL test database; it
    accepts the test tokens (same secret)."""
    if not is_postgres(database.database_url):
        pytest.skip("the fuzzing runs on PostgreSQL, where production runs")
    async with running_servers(database, 1, env={"APP_ENV": "production"}) as [server]:
        async with httpx.AsyncClient(base_url=server.url) as client:
            introspection = {"query": "{ __schema { types { name } } }"}
            answer = (await client.post("/graphql", json=introspection)).json()
        assert answer.get("data") is None and answer["errors"], "introspection must be off"
        yield server


@pytest.fixture(scope="module")
def generators() -> Iterator[ProcessPoolExecutor]:
    """A process per caller: generating documents takes more CPU than answering them, and
    one process would use one core only."""
    context = multiprocessing.get_context("spawn")  # no copy of the test's event loop
    with ProcessPoolExecutor(len(CALLERS), mp_context=context) as pool:
        yield pool


@pytest.mark.slow
@pytest.mark.parametrize("field", FIELDS)
async def test_every_answer_to_generated_operations_is_clean(
    field: str,
    postgres_only: Settings,
    production_server: Server,
    generators: ProcessPoolExecutor,
) -> None:
    seeded = await seed(postgres_only, production_server.url)
    log = LogWatch(production_server.log)
    loop = asyncio.get_running_loop()
    failures = await asyncio.gather(
        *(
            loop.run_in_executor(
                generators,
                fuzz_as,
                field,
                caller,
                seeded,
                production_server.url,
                production_server.log,
            )
            for caller in CALLERS
        )
    )
    assert not any(failures), "\n\n".join(f for f in failures if f)
    logged = log.new_text()
    assert "Traceback" not in logged, logged[-4000:]


# The checks themselves: each refuses what it is for, so a clean fuzz run means something.


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, '{"errors": [{"message": "x", "extensions": {"code": "BAD_REQUEST"}}]}'),
        (200, '{"data": null, "errors": [{"extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}'),
        (200, '{"data": null, "errors": [{"message": "asyncpg.exceptions.DataError"}]}'),
        (200, '{"data": {"x": {"userErrors": [{"code": "KeyError: 3", "message": ""}]}}}'),
        (200, '{"data": {"x": {"userErrors": [{"code": "SOMETHING", "message": ""}]}}}'),
        (400, '{"data": null, "errors": [{"message": "x", "extensions": {"code": "FORBIDDEN"}}]}'),
        (400, '{"data": {"x": 1}, "errors": []}'),
        (200, "<html>Internal Server Error</html>"),
    ],
    ids=[
        "5xx",
        "internal",
        "driver",
        "exception-name",
        "unknown-code",
        "400-forbidden",
        "400-data",
        "not-json",
    ],
)
def test_the_checks_refuse_a_server_fault(status: int, body: str) -> None:
    assert problems_with(status, body)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (
            400,
            '{"data": null, "errors": [{"message": "The operation does not match the '
            'schema.", "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}',
        ),
        (
            400,
            '{"data": null, "errors": [{"message": "Too complex.", "extensions": '
            '{"code": "QUERY_TOO_COMPLEX", "cost": 30000, "maxCost": 20000}}]}',
        ),
        (
            200,
            '{"data": null, "errors": [{"message": "No store has this id.", '
            '"extensions": {"code": "UNKNOWN_STORE"}, "path": ["purchase"]}]}',
        ),
        (
            200,
            '{"data": {"recordPurchase": {"purchase": null, "userErrors": [{"code": '
            '"INVALID_AMOUNT", "field": ["input", "total"], "message": "Too precise."}]}}}',
        ),
    ],
    ids=["validation", "too-complex", "domain-error", "user-error"],
)
def test_the_checks_accept_a_clean_refusal(status: int, body: str) -> None:
    assert problems_with(status, body) == []
