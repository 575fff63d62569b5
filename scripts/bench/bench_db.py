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
