"""The customer's messages in the outbox for their data export (what was or will be
written to them), and erasing them when the account is deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator

from app import db
from app.core.export import Record, pages_by_id, when


async def export_messages(*, customer_id: int) -> AsyncIterator[Record]:
    """Each message queued for the customer, oldest first: channel, subject, text, and
    whether and when it went (the HTML part says the same as the text)."""
    async for page in pages_by_id(
        "SELECT id, channel, locale, subject, text, status, attempts, created_at, sent_at"
        " FROM outbox_messages WHERE customer_id = ?",
        customer_id,
    ):
        for row in page:
            yield {
                "channel": row["channel"].upper(),
                "locale": row["locale"],
                "subject": row["subject"],
                "text": row["text"],
                "status": row["status"],
                "attempts": int(row["attempts"]),
                "createdAt": when(row["created_at"]),
                "sentAt": when(row["sent_at"]),
            }


async def erase_customer(*, customer_id: int) -> int:
    """Inside the deletion's transaction: every message to the customer goes, sent or not
    (nothing is sent to a deleted account anyway). How many."""
    return await db.execute("DELETE FROM outbox_messages WHERE customer_id = ?", customer_id)
