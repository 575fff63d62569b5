"""Raw SQL on either database: statements are written with `?` and numbered for PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.connection import get_connection

from app.db import numbered


def is_postgres() -> bool:
    return get_connection("default").capabilities.dialect == "postgres"


def marks(count: int) -> str:
    return ", ".join("?" for _ in range(count))


async def fetch(sql: str, values: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of a SELECT (or of an INSERT/UPDATE ... RETURNING) as dicts."""
    conn = get_connection("default")
    if conn.capabilities.dialect == "postgres":
        sql = numbered(sql)
    return await conn.execute_query_dict(sql, list(values))
