"""Credits about to expire, for the messages that warn their owners."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from app import db


@dataclass(frozen=True, slots=True)
class ExpiringCredit:
    """What of a customer's credit in a currency expires on one day (UTC)."""

    customer_id: int
    currency: str
    expires_on: date
    amount: int


_CUSTOMERS = (
    "SELECT DISTINCT customer_id FROM ledger_lots WHERE state IN ('PENDING', 'AVAILABLE')"
    " AND remaining > 0 AND expires_at > ? AND expires_at <= ? AND customer_id > ?"
    " ORDER BY customer_id LIMIT ?"
)


async def credits_expiring(
    *, after: datetime, until: datetime, after_customer_id: int, customers: int
) -> list[ExpiringCredit]:
    """The credit expiring in (after, until] of the next `customers` customers by id after
    `after_customer_id`, by customer, currency and day; unspent lots only."""
    ids = [
        int(row["customer_id"])
        for row in await db.rows(_CUSTOMERS, after, until, after_customer_id, customers)
    ]
    if not ids:
        return []
    rows = await db.rows(
        "SELECT customer_id, currency, expires_at, remaining FROM ledger_lots"  # noqa: S608
        f" WHERE customer_id IN ({db.marks(len(ids))}) AND state IN ('PENDING', 'AVAILABLE')"
        " AND remaining > 0 AND expires_at > ? AND expires_at <= ?",
        *ids,
        after,
        until,
    )
    totals: dict[tuple[int, str, date], int] = {}
    for row in rows:
        moment = db.to_datetime(row["expires_at"])
        assert moment is not None
        key = (int(row["customer_id"]), str(row["currency"]), moment.date())
        totals[key] = totals.get(key, 0) + int(row["remaining"])
    return [
        ExpiringCredit(customer_id=customer, currency=currency, expires_on=day, amount=amount)
        for (customer, currency, day), amount in sorted(totals.items())
    ]
