"""A query borrows a pooled connection and gives it back without another round trip: the
pool's reset statement (unlock all, close cursors, unlisten, reset all) is not sent, and
what the app leaves on a connection is only what a transaction scopes."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction

from app import db
from app.settings import Settings


def _log_queries(sent: list[str]) -> None:
    pool = get_connection("default")._pool  # type: ignore[attr-defined]
    for holder in pool._holders:
        if holder._con is not None:
            holder._con.add_query_logger(lambda record: sent.append(record.query))


async def test_a_query_sends_itself_only(postgres_only: Settings) -> None:
    await db.rows("SELECT 1")
    sent: list[str] = []
    _log_queries(sent)
    for n in range(3):
        assert await db.one("SELECT ?::int AS n", n) == {"n": n}
    assert sent == ["SELECT $1::int AS n"] * 3


async def test_a_transaction_left_open_is_rolled_back_before_reuse(
    postgres_only: Settings,
) -> None:
    pool: Any = get_connection("default")._pool  # type: ignore[attr-defined]
    async with pool.acquire() as connection:
        await connection.execute("BEGIN")
        await connection.execute("CREATE TEMPORARY TABLE left_behind (n int)")
    # Every connection of the pool is now outside any transaction.
    for _ in range(pool.get_max_size()):
        async with in_transaction():
            found = await db.one("SELECT to_regclass('pg_temp.left_behind') AS t")
            assert found == {"t": None}


async def test_a_failed_read_outside_a_transaction_raises_what_the_orm_raises(
    postgres_only: Settings,
) -> None:
    # `db.rows` outside a transaction reaches the pool without the ORM's methods: callers
    # still catch the ORM's errors, and the connection goes back usable.
    with pytest.raises(IntegrityError):
        await db.rows("INSERT INTO users (email) VALUES (NULL) RETURNING id")
    with pytest.raises(OperationalError):
        await db.rows("SELECT * FROM no_such_table")
    with pytest.raises(OperationalError):
        await db.rows("SELECT ?::int AS n", "not a number")
    assert await db.one("SELECT ?::int AS n", 7) == {"n": 7}


async def test_a_read_inside_a_transaction_sees_its_writes(postgres_only: Settings) -> None:
    async with in_transaction():
        await db.execute("CREATE TEMPORARY TABLE seen_here (n int) ON COMMIT DROP")
        await db.execute("INSERT INTO seen_here VALUES (?)", 5)
        assert await db.rows("SELECT n FROM seen_here") == [{"n": 5}]
