"""Delivering the outbox: `deliver_due` claims due messages, sends them outside any
transaction, and records what happened.

- A claim is one short statement: the rows get a lease (`claimed_until`) and their
  attempt is counted. On PostgreSQL the rows are picked with FOR UPDATE SKIP LOCKED, so
  several workers never claim one row; SQLite has one writer, which is enough.
- A row marked SENT is never claimed again. A worker that dies holding a lease leaves the
  row to be claimed again once the lease lapses: the mail may then go twice, with the same
  Message-ID, so the receiving side can tell.
- A failure is retried after `OUTBOX_RETRY_SECONDS`, doubled at each attempt, with jitter,
  at most a day; after `OUTBOX_MAX_ATTEMPTS` attempts, or at once when the server refuses
  the recipient or the message for good, the row is DEAD (and logged).
- The address is looked up at delivery: an account that no longer exists makes the row
  UNDELIVERABLE, and nothing is sent.
- A stop (the worker's SIGTERM) is checked before each send: what is not yet sent is given
  back (lease and attempt undone) for the next worker.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app import db, mail
from app.accounts.contacts import mail_contact
from app.core import clock
from app.outbox.service import DEAD, PENDING, SENT, UNDELIVERABLE
from app.settings import get_settings

log = logging.getLogger(__name__)

# Longer than any send (SMTP_TIMEOUT_SECONDS bounds one): a lease that lapses means the
# worker holding it is gone.
LEASE = timedelta(minutes=5)
MAX_RETRY_DELAY = timedelta(days=1)

_COLUMNS = "id, key, customer_id, channel, locale, subject, text, html, attempts"
_DUE = (
    "SELECT id FROM outbox_messages WHERE status = 'PENDING' AND next_attempt_at <= ?"
    " AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY next_attempt_at, id LIMIT ?"
)
# Several workers: each skips the rows another one is claiming.
_DUE_UNCLAIMED = _DUE + " FOR UPDATE SKIP LOCKED"


def _claim(due: str) -> str:
    return (
        "UPDATE outbox_messages SET claimed_until = ?, attempts = attempts + 1"  # noqa: S608
        f" WHERE id IN ({due}) RETURNING {_COLUMNS}"
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    first_delay: timedelta

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        settings = get_settings()
        return cls(settings.outbox_max_attempts, timedelta(seconds=settings.outbox_retry_seconds))

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt: doubling, between 75% and 125%
        of it so that messages failed together do not come back together."""
        doubled = self.first_delay * (2 ** min(attempts - 1, 30))
        return min(doubled, MAX_RETRY_DELAY) * random.uniform(0.75, 1.25)  # noqa: S311 (jitter, not a secret)


async def claim_due(*, limit: int, now: datetime) -> list[dict[str, Any]]:
    """Lease up to `limit` due messages to this worker, oldest due first."""
    claim = _claim(_DUE_UNCLAIMED if db.dialect() == "postgres" else _DUE)
    return await db.rows(claim, now + LEASE, now, now, limit)


async def deliver_due(
    *,
    limit: int,
    sender: mail.Sender | None = None,
    stop: asyncio.Event | None = None,
    policy: RetryPolicy | None = None,
) -> dict[str, int]:
    """Claim up to `limit` due messages and deliver them (SMTP when SMTP_URL is set, else
    the log). What happened, by outcome; `mail_released` counts those given back unsent
    because `stop` was set."""
    settings = get_settings()
    sender = sender or mail.sender_for(settings)
    policy = policy or RetryPolicy.from_settings()
    done = {"mail_sent": 0, "mail_retried": 0, "mail_dead": 0, "mail_undeliverable": 0}
    claimed = await claim_due(limit=limit, now=clock.now())
    left = list(claimed)
    try:
        while left and not (stop is not None and stop.is_set()):
            # Taken off before sending: if recording the outcome fails, the row keeps its
            # lease (and counts the attempt) rather than going out again at once.
            row = left.pop(0)
            done[await _deliver(row, sender, settings.mail_from, policy)] += 1
    finally:
        released = await asyncio.shield(_release(left)) if left else 0
    if released:
        done["mail_released"] = released
    return done


async def _deliver(
    row: dict[str, Any], sender: mail.Sender, mail_from: str, policy: RetryPolicy
) -> str:
    contact = await mail_contact(int(row["customer_id"]))
    if contact is None:
        await _settle(row, UNDELIVERABLE, last_error="no such account")
        return "mail_undeliverable"
    message = mail.Mail(
        to=contact.email,
        subject=row["subject"],
        text=row["text"],
        html=row["html"],
        locale=row["locale"],
        message_id=mail.message_id_for(row["key"], sender=mail_from),
    )
    try:
        await sender.send(message)
    except mail.SendFailed as failure:
        return await _failed(row, failure, policy)
    except Exception as error:  # a sender's own fault: retried like any failure, and logged
        log.exception("outbox message %s: the sender failed", row["id"])
        return await _failed(row, mail.SendFailed(type(error).__name__), policy)
    if not await _settle(row, SENT, sent_at=clock.now()):
        log.warning("outbox message %s was sent after its lease lapsed", row["id"])
    return "mail_sent"


async def _failed(row: dict[str, Any], failure: mail.SendFailed, policy: RetryPolicy) -> str:
    attempts = int(row["attempts"])
    if failure.permanent or attempts >= policy.max_attempts:
        await _settle(row, DEAD, last_error=failure.reason)
        log.warning(
            "outbox message %s given up after %s attempt(s): %s",
            row["id"],
            attempts,
            failure.reason,
        )
        return "mail_dead"
    await _settle(
        row,
        PENDING,
        last_error=failure.reason,
        next_attempt_at=clock.now() + policy.delay(attempts),
    )
    return "mail_retried"


async def _settle(
    row: dict[str, Any],
    status: str,
    *,
    last_error: str | None = None,
    sent_at: datetime | None = None,
    next_attempt_at: datetime | None = None,
) -> bool:
    """Record an attempt's outcome and end the lease, if this worker still holds it (the
    attempt count is the claim's mark: another claim would have raised it)."""
    changed = await db.execute(
        "UPDATE outbox_messages SET status = ?, last_error = ?, sent_at = ?,"
        " next_attempt_at = COALESCE(?, next_attempt_at), claimed_until = NULL"
        " WHERE id = ? AND attempts = ? AND status = 'PENDING'",
        status,
        last_error[:200] if last_error else None,
        sent_at,
        next_attempt_at,
        row["id"],
        row["attempts"],
    )
    return changed == 1


async def _release(rows: Sequence[dict[str, Any]]) -> int:
    """Give claimed rows back unsent: no lease, the attempt not counted."""
    released = 0
    for row in rows:
        released += await db.execute(
            "UPDATE outbox_messages SET claimed_until = NULL, attempts = attempts - 1"
            " WHERE id = ? AND attempts = ? AND status = 'PENDING'",
            row["id"],
            row["attempts"],
        )
    return released
