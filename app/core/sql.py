"""Pieces of SQL that one feature hands to another to compose into one statement, each
with its own parameters in the order its `?` marks appear."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Fragment:
    """A SELECT (or an expression) and its parameters, in order."""

    sql: str
    params: tuple[Any, ...] = ()


def values_mark(sql_type: str, *, postgres: bool) -> str:
    """A `?` inside VALUES, where nothing around it gives its type: PostgreSQL needs the
    cast (`timestamptz`, `bigint`); SQLite compares what it stores as is."""
    return f"?::{sql_type}" if postgres else "?"
