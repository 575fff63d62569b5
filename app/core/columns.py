"""What a column can hold: a client's string longer than its column can match no row, and
PostgreSQL refuses to compare it (asyncpg binds it as the column's varchar(n)). Lookups ask
here first and find nothing instead; writes refuse the value at its field."""

from __future__ import annotations

from tortoise.models import Model


def max_length(model: type[Model], field: str) -> int | None:
    """The longest text the model's column holds, or None when it is not bounded."""
    return getattr(model._meta.fields_map[field], "max_length", None)


def fits_column(model: type[Model], field: str, value: str | None) -> bool:
    """Whether `value` can be in the column at all (None always can: it matches nothing)."""
    if value is None:
        return True
    limit = max_length(model, field)
    return limit is None or len(value) <= limit
