"""A thin layer over the current connection for the ledger's hand-written SQL.

Statements are written once with `?` placeholders and run on SQLite and PostgreSQL alike
(`$1, $2, ...` on PostgreSQL). Inside `in_transaction()` the current connection is the
transaction's, so every statement here joins the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection

from app.db import numbered


def conn() -> BaseDBAsyncClient:
    return get_connection("default")


def is_postgres() -> bool:
    return conn().capabilities.dialect == "postgres"


def _prepare(client: BaseDBAsyncClient, query: str) -> str:
    return numbered(query) if client.capabilities.dialect == "postgres" else query


async def rows(query: str, *params: Any) -> list[dict[str, Any]]:
    """The rows a statement returns (SELECT, or INSERT/UPDATE ... RETURNING)."""
    client = conn()
    return await client.execute_query_dict(_prepare(client, query), list(params))


async def one(query: str, *params: Any) -> dict[str, Any] | None:
    found = await rows(query, *params)
    return found[0] if found else None


async def execute(query: str, *params: Any) -> int:
    """Run a statement; the number of rows it changed."""
    client = conn()
    changed, _ = await client.execute_query(_prepare(client, query), list(params))
    return changed


async def execute_many(query: str, params: Sequence[Sequence[Any]]) -> None:
    """The same statement for each parameter row, in one call."""
    if not params:
        return
    client = conn()
    await client.execute_many(_prepare(client, query), [list(p) for p in params])


def utc(value: datetime) -> datetime:
    """Aware UTC: stored text on SQLite then compares in time order."""
    if value.tzinfo is None:
        raise ValueError("the ledger needs timezone-aware datetimes")
    return value.astimezone(UTC)


def to_datetime(value: Any) -> datetime | None:
    """A timestamp as either database returns it (SQLite gives text)."""
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if isinstance(value, datetime) else None
    parsed = datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


def from_json(value: Any) -> Any:
    if value is None or isinstance(value, (dict, list)):
        return value
    return json.loads(value)
