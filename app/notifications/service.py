"""The inbox: writing a message once per cause (inside the caller's transaction), reading
a customer's messages and marking them read."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from app import db, outbox
from app.accounts import messaging as accounts
from app.accounts.messaging import Recipient
from app.core import clock
from app.core.errors import InputErrors, InvalidInput, NotFound
from app.core.ids import decode_id
from app.core.pagination import Page, keyset_page
from app.notifications.kinds import EMAIL_KINDS, MARKETING_KINDS, NotificationKind
from app.notifications.models import Notification
from app.notifications.texts import render
from app.program.service import get_program

__all__ = [
    "MAX_IDS_PER_CALL",
    "Message",
    "NotificationKind",
    "Recipient",
    "get_for_customer",
    "list_notifications",
    "mark_read",
    "notify",
    "notify_many",
    "recipients",
    "unread_count",
]

# The window of the marketing cap.
MARKETING_WINDOW = timedelta(days=7)
# The cause column's width.
MAX_CAUSE_LENGTH = 128
# The most ids one markNotificationsRead takes.
MAX_IDS_PER_CALL = 100

_INSERT = (
    "INSERT INTO notifications (customer_id, kind, cause, marketing, locale, title, body,"
    " target, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (customer_id, cause) DO NOTHING RETURNING id"
)
_MARKETING_SENT = (
    "SELECT count(*) AS sent FROM notifications"
    " WHERE customer_id = ? AND marketing AND created_at > ?"
)


async def notify(
    *,
    customer_id: int,
    kind: NotificationKind,
    cause: str,
    params: Mapping[str, str] | None = None,
    target: str | None = None,
    text: str | None = None,
    now: datetime | None = None,
    recipient: Recipient | None = None,
) -> bool:
    """Write a message to the customer's inbox, in their language, inside the caller's
    transaction (so it commits or rolls back with what it announces). At most one message
    per (customer, `cause`): a repeat is a no-op. A marketing kind is written only with
    the customer's marketing consent and within the program's weekly cap. `text` names
    another text of the kind (a variant); `params` fill its places; `recipient`, the
    customer as `recipients` read them (for a batch), else they are read here. Whether it
    was written."""
    if not cause or len(cause) > MAX_CAUSE_LENGTH:
        raise ValueError(f"a cause has 1 to {MAX_CAUSE_LENGTH} characters")
    if recipient is None or recipient.customer_id != customer_id:
        recipient = await accounts.recipient(customer_id)
    if recipient is None:
        return False
    moment = now or clock.now()
    locale, title, body = render(text or kind.value, recipient.locale, params or {})
    values: list[object] = [customer_id, kind.value, cause, kind in MARKETING_KINDS, locale]
    values += [title, body, target, moment]
    if kind not in MARKETING_KINDS:
        inserted = await db.rows(_INSERT, *values)
    else:
        if not recipient.marketing_consent:
            return False
        cap = (await get_program()).marketing_messages_per_week
        async with in_transaction():
            if db.dialect() == "postgres":
                # One marketing writer per customer at a time, so two rules at once cannot
                # both see room under the cap (SQLite runs one writer at a time anyway).
                await db.rows("SELECT pg_advisory_xact_lock(?)", _marketing_lock(customer_id))
            found = await db.one(_MARKETING_SENT, customer_id, moment - MARKETING_WINDOW)
            if found is not None and int(found["sent"]) >= cap:
                return False
            inserted = await db.rows(_INSERT, *values)
    if inserted and kind in EMAIL_KINDS:
        # Also by email, queued with the message: it goes only if this commits.
        await outbox.enqueue(
            key=f"notification:{inserted[0]['id']}",
            customer_id=customer_id,
            subject=title,
            text=body,
            locale=locale,
        )
    return bool(inserted)


@dataclass(frozen=True, slots=True)
class Message:
    """A service message of `notify_many`."""

    customer_id: int
    kind: NotificationKind
    cause: str
    params: Mapping[str, str]
    target: str | None = None


_INSERT_MANY = _INSERT.removesuffix(" RETURNING id")


async def notify_many(messages: Sequence[Message], *, now: datetime | None = None) -> None:
    """`notify` for a batch of service messages (no marketing, none by email), inside the
    caller's transaction: the recipients read at once, the rows written in one call."""
    if not messages:
        return
    if any(m.kind in MARKETING_KINDS or m.kind in EMAIL_KINDS for m in messages):
        raise ValueError("notify_many writes service messages that stay in the inbox")
    found = await recipients(m.customer_id for m in messages)
    moment = now or clock.now()
    rows: list[list[object]] = []
    for message in messages:
        recipient = found.get(message.customer_id)
        if recipient is None:
            continue
        locale, title, body = render(message.kind.value, recipient.locale, message.params)
        row: list[object] = [message.customer_id, message.kind.value, message.cause, False]
        rows.append([*row, locale, title, body, message.target, moment])
    await db.execute_many(_INSERT_MANY, rows)


async def recipients(customer_ids: Iterable[int]) -> dict[int, Recipient]:
    """The language and consent of each active customer among `customer_ids`, read at once
    for a batch of messages (`notify(recipient=...)`); the others are not in it."""
    return await accounts.recipients(customer_ids)


def _marketing_lock(customer_id: int) -> int:
    """The PostgreSQL advisory lock id (signed 64 bits) of a customer's marketing messages."""
    digest = hashlib.sha256(f"notifications:marketing:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def list_notifications(
    *, customer_id: int, first: int, after: str | None, unread_only: bool = False
) -> Page[Notification]:
    """The customer's messages, newest first (only the unread ones if asked)."""
    query = Notification.filter(customer_id=customer_id)
    if unread_only:
        query = query.filter(read_at__isnull=True)
    return await keyset_page(query, first=first, after=after, order_by=("-id",))


async def unread_count(*, customer_id: int) -> int:
    return await Notification.filter(customer_id=customer_id, read_at__isnull=True).count()


async def get_for_customer(*, customer_id: int, notification_id: int) -> Notification | None:
    return await Notification.get_or_none(id=notification_id, customer_id=customer_id)


async def mark_read(*, customer_id: int, ids: Sequence[str]) -> list[Notification]:
    """Mark the customer's messages read (those already read keep their time). Any id that
    is not one of the customer's messages (another customer's, another type's, or none)
    is NOT_FOUND at its place in `ids`, and then nothing is marked."""
    if len(ids) > MAX_IDS_PER_CALL:
        raise InvalidInput(f"At most {MAX_IDS_PER_CALL} ids at once.", field=["ids"])
    problems = InputErrors()
    wanted: dict[int, int] = {}
    for index, global_id in enumerate(ids):
        with problems.catch("ids", str(index)):
            wanted.setdefault(decode_id(global_id, "Notification"), index)
    owned: set[int] = set()
    if wanted:
        found = Notification.filter(customer_id=customer_id, id__in=sorted(wanted))
        owned = {int(row["id"]) for row in await found.values("id")}
    for pk, index in wanted.items():
        if pk not in owned:
            # The same answer as for an id of nothing: another customer's message is not
            # revealed to exist.
            problems.add(NotFound("No Notification has this id.", field=["ids", str(index)]))
    problems.raise_any()
    if not owned:
        return []
    now = clock.now()
    await Notification.filter(
        customer_id=customer_id, id__in=sorted(owned), read_at__isnull=True
    ).update(read_at=now)
    return list(await Notification.filter(customer_id=customer_id, id__in=sorted(owned)))
