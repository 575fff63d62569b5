"""Reading the outbox's rows, and a sender to the loopback mailbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app import db
from app.mail import SmtpSender, SmtpServer
from app.outbox import RetryPolicy

FROM = "Cashback <no-reply@mail.example>"
POLICY = RetryPolicy(max_attempts=3, first_delay=timedelta(seconds=30))


def smtp_to(url: str) -> SmtpSender:
    return SmtpSender(SmtpServer.from_url(url), sender=FROM, timeout=5)


async def stored(key: str) -> dict[str, Any]:
    row = await db.one(
        "SELECT status, attempts, next_attempt_at, claimed_until, sent_at, last_error"
        " FROM outbox_messages WHERE key = ?",
        key,
    )
    assert row is not None, key
    for column in ("next_attempt_at", "claimed_until", "sent_at"):
        row[column] = db.to_datetime(row[column])
    return row


async def leased() -> int:
    row = await db.one("SELECT COUNT(*) AS n FROM outbox_messages WHERE claimed_until IS NOT NULL")
    assert row is not None
    return int(row["n"])
