"""Tortoise configuration built from settings, transaction helpers, and raw SQL on either
database (statements written once with `?` placeholders, numbered for PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from tortoise import Tortoise
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError, OperationalError, TransactionManagementError

from app.features import feature_names
from app.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")


def feature_apps() -> dict[str, list[str]]:
    """Each feature with models is a Tortoise app, migrated from app/migrations/<feature>/."""
    return {
        name: [f"app.{name}.models"]
        for name in feature_names()
        if (Path(__file__).parent / name / "models.py").exists()
    }


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://", "asyncpg://"))


def connection_config(settings: Settings) -> dict[str, Any]:
    url = settings.database_url
    config = expand_db_url(url)
    credentials = config["credentials"]
    if is_postgres(url):
        credentials.setdefault("minsize", settings.db_pool_min)
        credentials.setdefault("reset", _keep_session)
        credentials.setdefault("maxsize", settings.db_pool_max)
        server_settings = dict(credentials.get("server_settings") or {})
        server_settings.setdefault("statement_timeout", str(settings.db_statement_timeout_ms))
        server_settings.setdefault("application_name", "cashback")
        credentials["server_settings"] = server_settings
    elif config["engine"] == "tortoise.backends.sqlite":
        path = credentials["file_path"]
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        credentials.setdefault("busy_timeout", 5_000)
    return config


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to undo when a connection goes back to the pool. asyncpg has already rolled
    back a transaction left open; the app takes only transaction-scoped locks and settings
    (pg_advisory_xact_lock, SET LOCAL) and listens on a connection of its own. The default
    reset (unlock all, close cursors, unlisten, reset all) costs a round trip per query."""


def tortoise_config(settings: Settings) -> dict[str, Any]:
    return {
        "connections": {"default": connection_config(settings)},
        "apps": {
            label: {
                "models": modules,
                "migrations": f"app.migrations.{label}",
                "default_connection": "default",
            }
            for label, modules in feature_apps().items()
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def init_db(settings: Settings) -> None:
    # The global fallback lets request tasks see the context that the lifespan task made.
    await Tortoise.init(config=tortoise_config(settings), _enable_global_fallback=True)
    from app import cache  # it sends its NOTIFY through this module

    await cache.start_listening(settings)


async def close_db() -> None:
    from app import cache

    await cache.stop_listening()
    await Tortoise.close_connections()


async def migrate_db(settings: Settings) -> None:
    from tortoise.migrations.api import migrate

    await migrate(config=tortoise_config(settings))


async def ping() -> None:
    await get_connection("default").execute_query("SELECT 1")


def connection() -> BaseDBAsyncClient:
    """The current connection: inside `in_transaction()`, the transaction's, so a statement
    sent on it joins the caller's transaction."""
    return get_connection("default")


def dialect() -> str:
    """`postgres` or `sqlite`: the one place raw SQL asks which database it runs on."""
    return connection().capabilities.dialect


@lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """A statement written with `?` placeholders, as PostgreSQL wants them: `$1, $2, ...`.
    Hand-written SQL is written once that way and runs on SQLite and PostgreSQL alike."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


def marks(count: int) -> str:
    """`count` placeholders, comma-separated: `?, ?, ?`."""
    return ", ".join("?" * count)


def _for(client: BaseDBAsyncClient, query: str) -> str:
    return numbered(query) if client.capabilities.dialect == "postgres" else query


async def rows(query: str, *params: Any) -> list[dict[str, Any]]:
    """The rows a statement returns (SELECT, or INSERT/UPDATE ... RETURNING)."""
    client = connection()
    if type(client) is AsyncpgDBClient:
        return await pooled_rows(client, numbered(query), params)
    return await client.execute_query_dict(_for(client, query), list(params))


async def pooled_rows(
    client: AsyncpgDBClient, query: str, params: Sequence[Any]
) -> list[dict[str, Any]]:
    """`rows` outside a transaction on PostgreSQL: on a connection of the pool, without the
    ORM's layers around the driver (the statements of every screen go this way), failing
    with the errors the ORM raises."""
    try:
        async with client.acquire_connection() as conn:
            found = await conn.fetch(query, *params)
    except asyncpg.PostgresError as error:
        translated = _as_orm_error(error)
        if translated is None:
            raise
        raise translated from error
    return [dict(row) for row in found]


def _as_orm_error(error: asyncpg.PostgresError) -> Exception | None:
    """The error Tortoise raises for a statement that failed so (None: the driver's own)."""
    if isinstance(error, asyncpg.SyntaxOrAccessError | asyncpg.exceptions.DataError):
        return OperationalError(error)
    if isinstance(error, asyncpg.IntegrityConstraintViolationError):
        return IntegrityError(error)
    if isinstance(error, asyncpg.InvalidTransactionStateError):
        return TransactionManagementError(error)
    return None


async def one(query: str, *params: Any) -> dict[str, Any] | None:
    found = await rows(query, *params)
    return found[0] if found else None


async def execute(query: str, *params: Any) -> int:
    """Run a statement; the number of rows it changed."""
    client = connection()
    changed, _ = await client.execute_query(_for(client, query), list(params))
    return changed


async def execute_many(query: str, params: Sequence[Sequence[Any]]) -> None:
    """The same statement for each parameter row, in one call."""
    if not params:
        return
    client = connection()
    await client.execute_many(_for(client, query), [list(p) for p in params])


def to_datetime(value: Any) -> datetime | None:
    """A timestamp as either database returns it (SQLite gives text), aware UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        # PostgreSQL's are UTC already (a book of offers converts hundreds of them).
        return value if value.tzinfo is UTC else value.astimezone(UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def to_json(value: Any) -> str | None:
    """A value for a JSON column, compact."""
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


def from_json(value: Any) -> Any:
    """A JSON column as either database returns it (text, or already decoded)."""
    if value is None or isinstance(value, (dict, list)):
        return value
    return json.loads(value)


_RETRYABLE = ("40001", "40P01")  # serialization_failure, deadlock_detected


def _is_retryable(error: BaseException) -> bool:
    text = str(error).lower()
    sqlstate = getattr(error.__cause__, "sqlstate", None) or getattr(error, "sqlstate", None)
    return (
        sqlstate in _RETRYABLE
        or "could not serialize" in text
        or "deadlock detected" in text
        or "database is locked" in text
    )


async def retrying(
    work: Callable[[], Awaitable[T]], *, attempts: int = 8, base_delay: float = 0.005
) -> T:
    """Run `work` (which owns its transaction) again on serialization failures and deadlocks,
    so they never reach the client."""
    for attempt in range(attempts):
        try:
            return await work()
        # asyncpg raises deadlocks and serialization failures as TransactionRollbackError,
        # which Tortoise passes on untranslated.
        except (
            OperationalError,
            TransactionManagementError,
            asyncpg.exceptions.TransactionRollbackError,
        ) as error:
            if attempt == attempts - 1 or not _is_retryable(error):
                raise
            log.info("retrying after transient database error: %s", error)
            await asyncio.sleep(base_delay * (2**attempt))
    raise AssertionError("unreachable")


def outage_of(error: BaseException) -> str | None:
    """`"timeout"` when `error` (or what it was raised while handling) is a statement
    stopped at DB_STATEMENT_TIMEOUT_MS, `"unavailable"` when the database could not be
    reached or dropped the connection; None for anything else. Both are faults of the
    moment: the transaction was rolled back, never began or (a connection lost at its
    commit) committed, so the same request with the same key ends in one effect."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, asyncpg.QueryCanceledError):
            return "timeout"
        if isinstance(current, _UNAVAILABLE):
            return "unavailable"
        # A rollback on a connection already closed hides the error that closed it.
        if isinstance(current, asyncpg.InterfaceError) and "connection is closed" in str(current):
            return "unavailable"
        current = current.__cause__ or current.__context__
    return None


# Connection lost or refused, or the server shutting down or starting up (57P01-57P03).
_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    OSError,
)


def __getattr__(name: str) -> Any:
    # `TORTOISE_ORM` for Tortoise's own command line (makemigrations).
    if name == "TORTOISE_ORM":
        from app.settings import get_settings

        return tortoise_config(get_settings())
    raise AttributeError(name)
