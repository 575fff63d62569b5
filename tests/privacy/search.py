"""Search every text, varchar and JSON column of every table for a value."""

from __future__ import annotations

from app import db

_TEXT_TYPES = ("CHAR", "TEXT", "JSON", "CLOB")


async def text_columns() -> list[tuple[str, str]]:
    """(table, column) of every column that can hold text, in the whole schema."""
    if db.dialect() == "postgres":
        rows = await db.rows(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND data_type IN"
            " ('text', 'character varying', 'character', 'json', 'jsonb')"
        )
        return sorted((row["table_name"], row["column_name"]) for row in rows)
    found = []
    tables = await db.rows("SELECT name FROM sqlite_master WHERE type = 'table'")
    for table in tables:
        for column in await db.rows(f'PRAGMA table_info("{table["name"]}")'):
            declared = str(column["type"]).upper()
            if not declared or any(kind in declared for kind in _TEXT_TYPES):
                found.append((table["name"], column["name"]))
    return sorted(found)


async def places_holding(value: str) -> list[str]:
    """`table.column` of every text column with a row containing `value` (any case)."""
    places = []
    for table, column in await text_columns():
        hit = await db.one(
            f'SELECT 1 AS hit FROM "{table}" WHERE LOWER(CAST("{column}" AS TEXT)) LIKE ? LIMIT 1',
            f"%{value.lower()}%",
        )
        if hit:
            places.append(f"{table}.{column}")
    return places
