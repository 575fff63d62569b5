"""Schemathesis fuzzes every query and mutation of the committed schema against a real
server process in production mode (introspection off), as a signed-in customer, as a partner
system and as an admin, on a seeded program. Whatever it sends, the answer is a clean one:
no 5xx, no INTERNAL_SERVER_ERROR, nothing of the server's insides, a refused document is a
400 with a stable code, every userError has a code, and the server logs no traceback."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from traceback import format_exception

import graphql
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.schemas import APIOperation
from schemathesis.specs.graphql.schemas import GraphQLSchema

from app.db import is_postgres
from app.settings import Settings
from tests.fuzzing import CALLERS, LogWatch, problems_with, scalars_reaching, seed
from tests.servers import Server, running_servers

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"
EXAMPLES = 100  # per root field and caller

_sdl = graphql.build_schema(SCHEMA_FILE.read_text())
FIELDS = [
    f"{root.name}.{name}"
    for root in (_sdl.query_type, _sdl.mutation_type)
    if root is not None
    for name in root.fields
]

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same documents on every run
    database=None,
    deadline=timedelta(seconds=15),  # past the server's own 10 s request timeout
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
    report_multiple_bugs=False,
)


@pytest.fixture(scope="module")
async def production_server(database: Settings) -> AsyncIterator[Server]:
    """One `python -m app serve` in production mode on the PostgreSQL test database; it
    accepts the test tokens (same secret)."""
    if not is_postgres(database.database_url):
        pytest.skip("the fuzzing runs on PostgreSQL, where production runs")
    async with running_servers(database, 1, env={"APP_ENV": "production"}) as [server]:
        async with httpx.AsyncClient(base_url=server.url) as client:
            answer = (
                await client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
            ).json()
        assert answer.get("data") is None and answer["errors"], "introspection must be off"
        yield server


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return schemathesis.graphql.from_path(SCHEMA_FILE)


def _fuzz(operation: APIOperation, server: Server, caller: str, headers: dict[str, str]) -> None:
    """Hypothesis's run of one operation as one caller; raises on the first bad answer."""
    log = LogWatch(server.log)
    numbers = itertools.count(1)
    with httpx.Client(base_url=server.url, headers=headers, timeout=30.0) as client:

        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def answers_cleanly(case: schemathesis.Case) -> None:
            # Our own request id finds this request's log lines among the other callers'.
            request_id = f"fuzz-{caller}-{next(numbers)}"
            response = client.post(
                "/graphql", json={"query": case.body}, headers={"X-Request-Id": request_id}
            )
            problems = problems_with(response.status_code, response.text)
            problems += [f"the server logged:\n{line}" for line in log.tracebacks_of(request_id)]
            assert not problems, (
                f"as the {caller}: {problems}\n--- document:\n{case.body}\n--- answer "
                f"(HTTP {response.status_code}):\n{response.text[:2000]}"
            )

        answers_cleanly()


@pytest.mark.slow
@pytest.mark.parametrize("field", FIELDS)
async def test_every_answer_to_generated_operations_is_clean(
    field: str, postgres_only: Settings, production_server: Server, schema: GraphQLSchema
) -> None:
    seeded = await seed(postgres_only, production_server.url)
    root, name = field.split(".")
    operation = schema[root][name]
    log = LogWatch(production_server.log)
    loop = asyncio.get_running_loop()
    # The three callers at once: while one waits for the server, another generates.
    with scalars_reaching(seeded), ThreadPoolExecutor(len(CALLERS)) as pool:
        outcomes = await asyncio.gather(
            *(
                loop.run_in_executor(
                    pool, _fuzz, operation, production_server, caller, seeded.headers[caller]
                )
                for caller in CALLERS
            ),
            return_exceptions=True,
        )
    failures = ["".join(format_exception(o)) for o in outcomes if isinstance(o, BaseException)]
    assert not failures, "\n\n".join(failures)
    logged = log.new_text()
    assert "Traceback" not in logged, logged[-4000:]
