"""Keyset pagination: cursors hold the sort key of the last row, so pages stay stable
when rows are inserted in front of them (unlike offsets)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from tortoise import fields
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from app.core.errors import InvalidInput
from app.settings import get_settings

T = TypeVar("T")

# The MAX_PAGE_SIZE setting's default.
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
        text = value["t"]
        if not isinstance(text, str) or len(text) > 40:
            raise ValueError
        return datetime.fromisoformat(text)
    return value


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# A cursor is a few sort keys: anything longer is not one of ours.
MAX_CURSOR_LENGTH = 2_000
# What a text sort key may hold when its column does not say.
MAX_TEXT_KEY_LENGTH = 1_000

KeyCheck = Callable[[Any], Any]

# The range of each integer column kind: a value beyond it would make the database fail.
_INT_RANGES: tuple[tuple[type[fields.Field[Any]], int], ...] = (
    (fields.SmallIntField, 2**15 - 1),
    (fields.BigIntField, 2**63 - 1),
    (fields.IntField, 2**31 - 1),
)


def _int_check(limit: int) -> KeyCheck:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > limit:
            raise ValueError
        return value

    return check


def _text_check(limit: int) -> KeyCheck:
    def check(value: Any) -> str:
        if not isinstance(value, str) or len(value) > limit:
            raise ValueError
        return value

    return check


def _datetime_check(value: Any) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError
    return value.astimezone(UTC)  # OverflowError at the ends of time


def _scalar_check(value: Any) -> Any:
    if isinstance(value, (dict, list, datetime)):
        raise ValueError
    return value


def key_check(field: fields.Field[Any] | None) -> KeyCheck:
    """What a cursor may hold for a sort key of this model field."""
    if isinstance(field, fields.DatetimeField):
        check: KeyCheck = _datetime_check
    elif isinstance(field, fields.IntField):
        limit = next(limit for kind, limit in _INT_RANGES if isinstance(field, kind))
        check = _int_check(limit)
    elif isinstance(field, fields.CharField):
        check = _text_check(field.max_length)
    elif isinstance(field, fields.TextField):
        check = _text_check(MAX_TEXT_KEY_LENGTH)
    else:
        check = _scalar_check
    if field is not None and field.null:
        return lambda value: None if value is None else check(value)
    return check


def decode_cursor(cursor: str, length: int, checks: Sequence[KeyCheck] | None = None) -> list[Any]:
    """The sort keys of a cursor, each checked against what its column holds: a forged
    cursor is INVALID_INPUT, never a query the database refuses."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
            raise ValueError
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != length:
            raise ValueError
        decoded = [_decode_value(v) for v in values]
        if checks is not None:
            decoded = [check(v) for check, v in zip(checks, decoded, strict=True)]
        return decoded
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError):
        raise InvalidInput("The cursor is not valid.", field=["after"]) from None


def page_size(first: int, *, maximum: int | None = None) -> int:
    """`first` checked and capped: a client asking for more than the maximum (the
    MAX_PAGE_SIZE setting unless given) gets the maximum."""
    if first < 0:
        raise InvalidInput("first must not be negative.", field=["first"])
    return min(first, get_settings().max_page_size if maximum is None else maximum)


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
        fields_map = queryset.model._meta.fields_map
        checks = [key_check(fields_map.get(name)) for name, _ in keys]
        values = decode_cursor(after, len(keys), checks)
        queryset = queryset.filter(_after_filter(keys, values))
    rows = await queryset.order_by(*order_by).limit(limit + 1)
    has_next = len(rows) > limit
    rows = rows[:limit]
    cursors = [encode_cursor([getattr(row, name) for name, _ in keys]) for row in rows]
    return Page(items=list(rows), cursors=cursors, has_next_page=has_next)
