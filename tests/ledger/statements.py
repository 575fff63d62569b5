"""Count the SQL statements the code under test sends, through whichever client or
transaction wrapper it uses (BEGIN / COMMIT / SAVEPOINT are not counted)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionWrapper

from app import db

_CLASSES = (AsyncpgDBClient, TransactionWrapper, SqliteClient, SqliteTransactionWrapper)
_METHODS = (
    "execute_query",
    "execute_query_dict",
    "execute_insert",
    "execute_many",
    "execute_script",
)


@contextmanager
def count_statements() -> Iterator[list[str]]:
    """The statements sent inside the block, in order (an `execute_many` counts once:
    one call, one round trip)."""
    sent: list[str] = []
    originals: list[tuple[type, str, Any]] = []

    def wrap(method: Any) -> Any:
        @functools.wraps(method)
        async def counted(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            sent.append(" ".join(query.split()))
            return await method(self, query, *args, **kwargs)

        return counted

    for cls in _CLASSES:
        for name in _METHODS:
            if name in cls.__dict__:
                originals.append((cls, name, cls.__dict__[name]))
                setattr(cls, name, wrap(cls.__dict__[name]))
    # Reads outside a transaction on PostgreSQL reach the pool without the client's methods.
    pooled = db.pooled_rows
    db.pooled_rows = wrap(pooled)  # type: ignore[assignment]
    try:
        yield sent
    finally:
        db.pooled_rows = pooled  # type: ignore[assignment]
        for cls, name, method in reversed(originals):
            setattr(cls, name, method)
