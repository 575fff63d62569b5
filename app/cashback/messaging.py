"""Purchases for the messages that follow them (suggestions after a purchase)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app import db
from app.cashback.models import Purchase, PurchaseItem

_RECENT = (
    f"SELECT p.id, p.customer_id FROM {Purchase._meta.db_table} p"  # noqa: S608
    " WHERE p.id > ? AND p.created_at >= ? AND p.status = 'COMPLETED'"
    f" AND EXISTS (SELECT 1 FROM {PurchaseItem._meta.db_table} i WHERE i.purchase_id = p.id)"
    " ORDER BY p.id LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class RecordedPurchase:
    purchase_id: int
    customer_id: int


async def purchases_recorded_since(
    *, since: datetime, after_id: int, limit: int
) -> list[RecordedPurchase]:
    """Purchases with their items recorded at `since` or later and not refunded, by id
    after `after_id`, at most `limit`."""
    rows = await db.rows(_RECENT, after_id, since, limit)
    return [RecordedPurchase(int(row["id"]), int(row["customer_id"])) for row in rows]
