"""Keyset pagination: cursors hold the sort key of the last row, so pages stay stable
when rows are inserted in front of them (unlike offsets)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from app.core.errors import InvalidInput

T = TypeVar("T")

MAX_PAGE_SIZE = 100


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and "t" in value:
        return datetime.fromisoformat(value["t"])
    return value


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != length:
            raise ValueError
        return [_decode_value(v) for v in values]
    except (ValueError, TypeError, KeyError):
        raise InvalidInput("The cursor is not valid.", field=["after"]) from None


def page_size(first: int, *, maximum: int = MAX_PAGE_SIZE) -> int:
    """`first` checked and capped: a client asking for more than the maximum gets the maximum."""
    if first < 0:
        raise InvalidInput("first must not be negative.", field=["first"])
    return min(first, maximum)


def _after_filter(keys: list[tuple[str, bool]], values: list[Any]) -> Q:
    """Rows strictly after `values` in the order of `keys` (field, descending)."""
    clauses = []
    for i, (name, descending) in enumerate(keys):
        equal = {keys[j][0]: values[j] for j in range(i)}
        lookup = f"{name}__lt" if descending else f"{name}__gt"
        clauses.append(Q(**equal, **{lookup: values[i]}))
    return Q(*clauses, join_type="OR")


async def keyset_page(
    queryset: QuerySet[Any],
    *,
    first: int,
    after: str | None,
    order_by: tuple[str, ...] = ("-id",),
) -> Page[Any]:
    """One page of `queryset` in `order_by` order (its last key must be unique, e.g. id)."""
    keys = [(key.lstrip("-"), key.startswith("-")) for key in order_by]
    limit = page_size(first)
    if after:
        queryset = queryset.filter(_after_filter(keys, decode_cursor(after, len(keys))))
    rows = await queryset.order_by(*order_by).limit(limit + 1)
    has_next = len(rows) > limit
    rows = rows[:limit]
    cursors = [encode_cursor([getattr(row, name) for name, _ in keys]) for row in rows]
    return Page(items=list(rows), cursors=cursors, has_next_page=has_next)
