"""Customer aggregates for the program's metrics (app/insights): a SELECT it composes with
other features' into one statement."""

from __future__ import annotations

from datetime import datetime

from app import db
from app.core.sql import Fragment
from app.ledger.values import utc


def customers(*, signed_up_before: datetime) -> Fragment:
    """Customers (not admins; deleted accounts too: their purchases stay) who signed up
    before the moment: `customer_id`, `signed_up_at`, `signed_up_month` ('YYYY-MM' in UTC)."""
    month = (
        "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM')"
        if db.dialect() == "postgres"
        else "strftime('%Y-%m', created_at)"
    )
    return Fragment(
        f"SELECT id AS customer_id, created_at AS signed_up_at, {month} AS signed_up_month"  # noqa: S608
        " FROM users WHERE role = 'CUSTOMER' AND created_at < ?",
        (utc(signed_up_before),),
    )
