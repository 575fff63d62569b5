"""A customer's inbox for their data export, and erasing it when the account is deleted
(the texts name merchants, amounts and the customer's language: personal data)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from app import db
from app.core.export import Record, pages_by_id, when


async def export_notifications(*, customer_id: int) -> AsyncIterator[Record]:
    """Every message of the customer's inbox, oldest first."""
    async for page in pages_by_id(
        "SELECT id, kind, marketing, locale, title, body, target, created_at, read_at"
        " FROM notifications WHERE customer_id = ?",
        customer_id,
    ):
        for row in page:
            yield {
                "id": int(row["id"]),
                "kind": row["kind"],
                "marketing": bool(row["marketing"]),
                "locale": row["locale"],
                "title": row["title"],
                "body": row["body"],
                "target": row["target"],
                "createdAt": when(row["created_at"]),
                "readAt": when(row["read_at"]),
            }


async def erase_customer(*, customer_id: int) -> int:
    """Inside the deletion's transaction: the whole inbox goes. How many messages."""
    return await db.execute("DELETE FROM notifications WHERE customer_id = ?", customer_id)
