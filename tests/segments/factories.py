"""Reading a customer's profile and its day buckets, as the tests compare them."""

from __future__ import annotations

from typing import Any

from app import db
from app.segments.service import Profile, profiles_of


async def profile_of(customer: Any) -> Profile:
    return (await profiles_of([customer.id]))[customer.id]


async def buckets() -> list[tuple[int, str, int, str, int]]:
    """Every non-empty day bucket: (customer, day, merchant, category, spend)."""
    found = await db.rows(
        "SELECT customer_id, day, merchant_id, category, spend_minor FROM profile_spend_days"
        " WHERE spend_minor > 0 ORDER BY customer_id, day, merchant_id, category"
    )
    return [
        (
            int(r["customer_id"]),
            str(r["day"]),
            int(r["merchant_id"]),
            r["category"],
            int(r["spend_minor"]),
        )
        for r in found
    ]
