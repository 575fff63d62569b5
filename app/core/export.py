"""Reading a customer's records for their data export: page by page, in id order, so a
long history never sits whole in memory, and each record made JSON-ready where it is read.

Each feature that holds data about a customer offers an `export_customer` async generator
built on `pages_by_id`; `app.privacy` composes them into one document."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app import db
from app.core.money import Money

# Rows read per statement: enough to keep round trips few, few enough to keep memory flat.
EXPORT_PAGE_SIZE = 500

Record = dict[str, Any]


async def pages_by_id(
    select: str, *params: Any, column: str = "id", page_size: int = EXPORT_PAGE_SIZE
) -> AsyncIterator[list[dict[str, Any]]]:
    """The rows of `select` (a SELECT answering an `id` column, the key `column`, ending in
    its WHERE clause) page by page in key order: `AND <column> > ? ORDER BY <column> LIMIT ?`
    is added, so each statement reads at most `page_size` rows however long the history."""
    after = 0
    while True:
        page = await db.rows(
            f"{select} AND {column} > ? ORDER BY {column} LIMIT ?", *params, after, page_size
        )
        if page:
            yield page
        if len(page) < page_size:
            return
        after = int(page[-1]["id"])


def when(value: Any) -> str | None:
    """A moment as ISO 8601 in UTC (either database's form), or None."""
    moment = db.to_datetime(value)
    return moment.isoformat() if moment is not None else None


def day(value: Any) -> str | None:
    """A date as ISO 8601 (SQLite gives text), or None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def money(minor: Any, currency: str) -> dict[str, str] | None:
    """An amount as the API shows it: {"amount": "12.50", "currencyCode": "USD"}."""
    if minor is None:
        return None
    return {"amount": str(Money.from_minor(int(minor), currency).amount), "currencyCode": currency}


def plain(value: Any) -> Any:
    """A value JSON can hold as it is: decimals as text, moments as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
