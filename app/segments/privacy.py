"""A customer's purchase profile (the behaviour segments are made of) for their data
export, and erasing it when the account is deleted. It is derived from the purchases,
which stay anonymised; the profile goes with the person."""

from __future__ import annotations

from collections.abc import AsyncIterator

from app import db
from app.core.export import Record, day, pages_by_id, when


async def export_profile(*, customer_id: int) -> Record | None:
    """The customer's purchase profile (counts, spend, favourites); None without one."""
    row = await db.one(
        "SELECT purchase_count, first_purchase_at, last_purchase_at, spend_minor, online_count,"
        " in_store_count, favorite_category, favorite_merchant_ids, updated_at"
        " FROM customer_profiles WHERE customer_id = ?",
        customer_id,
    )
    if row is None:
        return None
    merchants = (row["favorite_merchant_ids"] or "").split(",")
    return {
        "purchaseCount": int(row["purchase_count"]),
        "firstPurchaseAt": when(row["first_purchase_at"]),
        "lastPurchaseAt": when(row["last_purchase_at"]),
        "spendMinor": int(row["spend_minor"]),
        "onlinePurchases": int(row["online_count"]),
        "inStorePurchases": int(row["in_store_count"]),
        "favoriteCategory": row["favorite_category"],
        "favoriteMerchantIds": [int(m) for m in merchants if m.strip().isdigit()],
        "updatedAt": when(row["updated_at"]),
    }


async def export_spend_days(*, customer_id: int) -> AsyncIterator[Record]:
    """What the customer spent each day at each merchant in each category (the buckets
    favourites are computed from), in minor units of the program currency."""
    async for page in pages_by_id(
        "SELECT id, day, merchant_id, category, spend_minor FROM profile_spend_days"
        " WHERE customer_id = ?",
        customer_id,
    ):
        for row in page:
            yield {
                "day": day(row["day"]),
                "merchantId": int(row["merchant_id"]),
                "category": row["category"],
                "spendMinor": int(row["spend_minor"]),
            }


async def erase_customer(*, customer_id: int) -> None:
    """Inside the deletion's transaction: the profile and its buckets go."""
    await db.execute("DELETE FROM profile_spend_days WHERE customer_id = ?", customer_id)
    await db.execute("DELETE FROM customer_profiles WHERE customer_id = ?", customer_id)
