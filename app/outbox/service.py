"""Writing a message into the outbox: `enqueue`, in the caller's transaction when one is
open (so a message leaves only if its cause commits), on its own otherwise."""

from __future__ import annotations

import re
from datetime import timedelta

from app import db
from app.core import clock

CHANNELS = ("email",)
KEY_LENGTH = 200
SUBJECT_LENGTH = 200
LOCALE_LENGTH = 35

PENDING = "PENDING"
SENT = "SENT"
DEAD = "DEAD"
UNDELIVERABLE = "UNDELIVERABLE"

_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\x85\u2028\u2029]+")


def clean_subject(subject: str) -> str:
    """One line (a header may not break) of at most SUBJECT_LENGTH characters."""
    line = " ".join(_LINE_BREAKS.sub(" ", subject).split())
    if len(line) > SUBJECT_LENGTH:
        line = line[: SUBJECT_LENGTH - 1] + "…"
    return line


async def enqueue(
    *,
    key: str,
    customer_id: int,
    subject: str,
    text: str,
    html: str | None = None,
    locale: str = "en",
    channel: str = "email",
) -> bool:
    """Queue a message to the customer for the worker to deliver; True if queued, False if
    a message with this `key` (one per cause) already exists, which is left as it was.

    Runs in the caller's transaction when one is open: rolled back with it, nothing is
    sent. The address is looked up when the message goes, so it reaches the customer's
    address of that moment, and nobody once the account is deleted."""
    if not key or len(key) > KEY_LENGTH:
        raise ValueError(f"an outbox key has 1 to {KEY_LENGTH} characters")
    if channel not in CHANNELS:
        raise ValueError(f"unknown outbox channel {channel!r}")
    if not text:
        raise ValueError("an outbox message needs a text")
    now = clock.now()
    inserted = await db.rows(
        "INSERT INTO outbox_messages (key, customer_id, channel, locale, subject, text, html,"
        " status, attempts, next_attempt_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING id",
        key,
        customer_id,
        channel,
        (locale or "en")[:LOCALE_LENGTH],
        clean_subject(subject),
        text,
        html,
        PENDING,
        now,
        now,
    )
    return bool(inserted)


# How long a settled message (sent, given up, undeliverable) is kept: its key refuses a
# repeat of its cause meanwhile, far longer than any cause is retried.
KEEP_SETTLED = timedelta(days=90)


async def purge_settled(*, older_than: timedelta = KEEP_SETTLED) -> int:
    """Delete messages settled before `older_than` ago (they hold what was written to a
    customer: kept no longer than needed). How many."""
    return await db.execute(
        "DELETE FROM outbox_messages WHERE status <> ? AND created_at < ?",
        PENDING,
        clock.now() - older_than,
    )
