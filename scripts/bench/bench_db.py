"""The benchmarks' own PostgreSQL databases: made when missing, emptied on demand."""

from __future__ import annotations

import asyncpg


async def ensure_database(url: str) -> None:
    """Create the database named by `url` if it does not exist."""
    dsn = url.replace("postgres://", "postgresql://", 1)
    base, _, name = dsn.rpartition("/")
    name = name.split("?")[0]
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        server = await asyncpg.connect(f"{base}/postgres")
        try:
            await server.execute(f'CREATE DATABASE "{name}"')
        finally:
            await server.close()
        print(f"created database {name}")
    else:
        await conn.close()


async def fresh_database(url: str) -> None:
    """The database, created if needed, with an empty schema."""
    await ensure_database(url)
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


async def bench_customers(count: int) -> list[str]:
    """`count` customers' member codes: one real account made through the service, the
    rest copied from it in bulk (the password hash is deliberately slow and not what the
    benchmarks measure)."""
    from app.accounts.models import User
    from app.accounts.service import create_user
    from app.core import clock

    first = await create_user(email="bench0@example.com", password="x" * 12, display_name="B0")
    now = clock.now()
    await User.bulk_create(
        [
            User(
                email=f"bench{i}@example.com",
                password_hash=first.password_hash,
                display_name=f"B{i}",
                member_code=f"B{i:07}",
                created_at=now,
                updated_at=now,
            )
            for i in range(1, count)
        ]
    )
    return [u.member_code for u in await User.all().order_by("id")]
