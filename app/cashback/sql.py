"""Raw SQL on either database: statements are written with `?` and numbered for PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from tortoise.connection import get_connection


@lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    parts = sql.split("?")
    out = [parts[0]]
    for i, part in enumerate(parts[1:], start=1):
        out.append(f"${i}{part}")
    return "".join(out)


def is_postgres() -> bool:
    return get_connection("default").capabilities.dialect == "postgres"


def marks(count: int) -> str:
    return ", ".join("?" for _ in range(count))


async def fetch(sql: str, values: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of a SELECT (or of an INSERT/UPDATE ... RETURNING) as dicts."""
    conn = get_connection("default")
    if conn.capabilities.dialect == "postgres":
        sql = _numbered(sql)
    return await conn.execute_query_dict(sql, list(values))
