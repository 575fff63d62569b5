"""The harness: every database test runs on SQLite and on PostgreSQL, each through the
real ASGI app with real JWTs, on a schema made by the real migrations."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection

from app import cache
from app import db as app_db
from app.core import clock
from app.main import create_app
from app.settings import Settings
from tests.support import Api

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"
TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def postgres_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL)


async def _postgres_reachable(url: str) -> str | None:
    """None when PostgreSQL answers at `url`, else why not."""
    try:
        conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1), timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        return f"{type(error).__name__}: {error}"
    await conn.close()
    return None


async def _reset_postgres_schema(url: str) -> None:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


def make_settings(database_url: str, **overrides: object) -> Settings:
    return Settings(
        app_env="test",
        database_url=database_url,
        jwt_secret=TEST_SECRET,
        db_pool_max=20,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest) -> AsyncIterator[Settings]:
    """A migrated database of each kind, opened once per session."""
    if request.param == "sqlite":
        folder = tempfile.mkdtemp(prefix="cashback-test-")
        url = f"sqlite://{Path(folder) / 'test.db'}"
    else:
        url = postgres_url()
        problem = await _postgres_reachable(url)
        if problem:
            message = f"PostgreSQL at {url} is not reachable ({problem})"
            if IN_CI:
                pytest.fail(f"{message}; under CI=true this is a failure, not a skip")
            pytest.skip(f"{message}; set TEST_DATABASE_URL to run the PostgreSQL half")
        await _reset_postgres_schema(url)
    settings = make_settings(url)
    # Tortoise caches INSERT statements per connection name, in the last dialect used.
    EXECUTOR_CACHE.clear()
    await app_db.migrate_db(settings)
    await Tortoise.close_connections()
    await app_db.init_db(settings)
    yield settings
    await app_db.close_db()


async def truncate_tables(keep: frozenset[str] = frozenset(), *, quick: bool = False) -> None:
    """Empty every table but those in `keep` (none of which may reference a table that is
    emptied: PostgreSQL's TRUNCATE ... CASCADE would empty it too).

    `quick`, on PostgreSQL: DELETE, referencing tables first, instead of TRUNCATE, which
    makes new files for every table (some 0.4 s for all of them); for the few rows a test
    leaves, deleting takes milliseconds. Ids then go on from where they were."""
    conn = get_connection("default")
    models = [
        model._meta.db_table
        for app in Tortoise.apps.values()
        for model in app.values()
        if model._meta.db_table not in keep
    ]
    if app_db.dialect() == "postgres":
        _, rows = await conn.execute_query(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
        existing = {row["tablename"] for row in rows}
        tables = [t for t in models if t in existing]
        if tables and quick:
            ordered = await _referencing_first(tables)
            await conn.execute_script("".join(f'DELETE FROM "{t}";' for t in ordered))
        elif tables:
            names = ", ".join(f'"{t}"' for t in tables)
            await conn.execute_script(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    else:
        _, rows = await conn.execute_query("SELECT name FROM sqlite_master WHERE type = 'table'")
        existing = {row["name"] for row in rows}
        tables = [t for t in models if t in existing]
        await conn.execute_script(
            "PRAGMA foreign_keys=OFF;"
            + "".join(f'DELETE FROM "{t}";' for t in tables)
            + "PRAGMA foreign_keys=ON;"
        )


async def _referencing_first(tables: list[str]) -> list[str]:
    """PostgreSQL: `tables` ordered so that each comes before every table it references."""
    _, rows = await get_connection("default").execute_query(
        "SELECT c.relname AS child, p.relname AS parent FROM pg_constraint f"
        " JOIN pg_class c ON c.oid = f.conrelid JOIN pg_class p ON p.oid = f.confrelid"
        " WHERE f.contype = 'f' AND f.connamespace = current_schema()::regnamespace"
    )
    referenced_by: dict[str, set[str]] = {t: set() for t in tables}
    for row in rows:
        if row["parent"] in referenced_by and row["child"] != row["parent"]:
            referenced_by[row["parent"]].add(row["child"])
    ordered: list[str] = []
    while referenced_by:
        free = [t for t, children in referenced_by.items() if not children - set(ordered)]
        if not free:
            raise AssertionError(f"tables that reference each other: {sorted(referenced_by)}")
        for t in free:
            ordered.append(t)
            del referenced_by[t]
    return ordered


@pytest.fixture
async def db(database: Settings) -> AsyncIterator[Settings]:
    """An empty database (every table truncated) and a clock at the real time."""
    await truncate_tables()
    await cache.changed_everything()  # TRUNCATE announces no change
    clock.reset()
    yield database
    clock.reset()


@pytest.fixture
def is_postgres(db: Settings) -> bool:
    return app_db.is_postgres(db.database_url)


@pytest.fixture
def postgres_only(db: Settings) -> Settings:
    """Tests of concurrency and money races: production runs on PostgreSQL."""
    if not app_db.is_postgres(db.database_url):
        pytest.skip("concurrency is tested on PostgreSQL, where production runs")
    return db


@pytest.fixture(scope="session")
def app_cache() -> dict[str, object]:
    return {}


@pytest.fixture
async def api(db: Settings, app_cache: dict[str, object]) -> AsyncIterator[Api]:
    """A client of the real ASGI app on the test database."""
    key = db.database_url
    if key not in app_cache:
        app_cache[key] = create_app(db, manage_db=False)
    transport = httpx.ASGITransport(app=app_cache[key])  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Api(client, db)


# Two real server processes on the PostgreSQL test database (tests/servers.py).
from tests.servers import servers  # noqa: E402, F401
