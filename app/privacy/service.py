"""Customers' own data: `export_my_data` / `start_export` + `export_chunks` (one JSON
document, in the versioned format the README describes) and `delete_account`.

The export is written as it is read: each feature yields its records page by page
(`app.core.export.pages_by_id`) and the document leaves in chunks of about `CHUNK_CHARS`,
so a long history never sits whole in memory here. One export per customer at a time, in
every process: a claim row, taken in one statement."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from tortoise.transactions import in_transaction

from app import db, ledger
from app.accounts import erasure as accounts
from app.accounts.service import Client
from app.cashback import privacy as cashback
from app.core import clock
from app.core.errors import DomainError, ErrorCode, NotFound
from app.core.export import Record
from app.core.money import Money
from app.notifications import privacy as notifications
from app.offers import privacy as offers
from app.outbox import privacy as outbox
from app.privacy.models import ExportClaim
from app.redemptions import privacy as redemptions
from app.segments import privacy as segments
from app.suggestions import privacy as suggestions

log = logging.getLogger(__name__)

FORMAT = "cashback.customer-data"
# Raised when a field changes meaning or leaves; adding a field keeps the version.
VERSION = 1
CHUNK_CHARS = 64 * 1024
# A claim this old belongs to a process that died mid-export: another may take it over.
STALE_AFTER = timedelta(minutes=15)


class ExportInProgress(DomainError):
    code = ErrorCode.EXPORT_IN_PROGRESS
    default_message = "An export of your data is already being prepared; try again shortly."


# --- Exporting ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """The right to build one customer's export now (see `start_export`)."""

    customer_id: int
    started_at: datetime


async def start_export(*, customer_id: int) -> Claim:
    """Claim the customer's export: ExportInProgress while another one runs (in this
    process or any other). Pass the claim to `export_chunks`, which gives it back."""
    if await accounts.get_active_customer(customer_id) is None:
        raise NotFound("No such account.")
    now = clock.now()
    taken = await db.rows(
        "INSERT INTO privacy_export_claims (customer_id, started_at) VALUES (?, ?)"
        " ON CONFLICT (customer_id) DO UPDATE SET started_at = excluded.started_at"
        " WHERE privacy_export_claims.started_at < ? RETURNING customer_id",
        customer_id,
        now,
        now - STALE_AFTER,
    )
    if not taken:
        raise ExportInProgress()
    return Claim(customer_id, now)


async def export_chunks(claim: Claim) -> AsyncGenerator[str, None]:
    """The customer's document in chunks of text; the claim is given back when it ends,
    however it ends (finished, failed, or the client left)."""
    try:
        buffer: list[str] = []
        size = 0
        async for piece in _document(claim.customer_id):
            buffer.append(piece)
            size += len(piece)
            if size >= CHUNK_CHARS:
                yield "".join(buffer)
                buffer, size = [], 0
        if buffer:
            yield "".join(buffer)
    finally:
        # Its own claim only: one taken over after going stale is another export's.
        await db.execute(
            "DELETE FROM privacy_export_claims WHERE customer_id = ? AND started_at = ?",
            claim.customer_id,
            claim.started_at,
        )


async def export_my_data(*, customer_id: int) -> Any:
    """The whole document, decoded (for the GraphQL mutation; very long histories are
    better fetched from the streaming endpoint, which never holds it whole)."""
    claim = await start_export(customer_id=customer_id)
    parts = [chunk async for chunk in export_chunks(claim)]
    return orjson.loads("".join(parts))


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _array(records: AsyncIterator[Record]) -> AsyncIterator[str]:
    yield "["
    first = True
    async for record in records:
        yield _json(record) if first else "," + _json(record)
        first = False
    yield "]"


# The lists of the document, in its order: each a feature's records, read page by page.
_LISTS: list[tuple[str, Callable[..., AsyncIterator[Record]]]] = [
    ("purchases", cashback.export_purchases),
    ("activity", ledger.customer_activity),
    ("credits", ledger.customer_credits),
    ("redemptions", redemptions.export_redemptions),
    ("offerActivations", offers.export_activations),
    ("offerUses", offers.export_uses),
    ("spendByDay", segments.export_spend_days),
    ("basketLines", suggestions.export_basket_lines),
    ("sessions", accounts.export_sessions),
    ("outgoingMessages", outbox.export_messages),
    ("notifications", notifications.export_notifications),
]


async def _document(customer_id: int) -> AsyncIterator[str]:
    account = await accounts.export_profile(customer_id=customer_id)
    head = {
        "format": FORMAT,
        "version": VERSION,
        "generatedAt": clock.now().isoformat(),
        "customerId": account["profile"]["id"],
        "profile": account["profile"],
        "referral": account["referral"],
        "balances": await ledger.customer_balances(customer_id=customer_id),
        "purchaseProfile": await segments.export_profile(customer_id=customer_id),
    }
    yield _json(head)[:-1]  # the object stays open for the lists
    yield ',"consents":' + _json(account["consents"])[:-1] + ',"history":'
    async for piece in _array(accounts.export_consent_history(customer_id=customer_id)):
        yield piece
    yield "}"
    for name, records in _LISTS:
        yield f',"{name}":'
        async for piece in _array(records(customer_id=customer_id)):
            yield piece
    yield "}"


# --- Deleting -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deletion:
    """What deleting an account did (for the log and the caller; nothing personal)."""

    customer_id: int
    sessions_ended: int
    redemptions_released: int
    forfeited: list[ledger.Forfeited]


async def delete_account(*, customer_id: int, password: str, client: Client = Client()) -> Deletion:
    """Erase the customer's personal data, after their password (checked and throttled as
    sign-in's). In one transaction, so nothing is ever half-done: the account is locked and
    blanked (a tombstone keeps its id), every session and refresh token goes, open
    redemptions are released, the remaining credit moves to the program's FORFEITED account,
    purchases lose their free text, profiles and offer standings go. A wrong password, or a
    refusal, changes nothing."""
    await accounts.confirm_password(user_id=customer_id, password=password, client=client)
    deletion, erased = await db.retrying(lambda: _erase(customer_id))
    await accounts.forget_counters(erased)
    log.info(
        "account deleted: customer %s, %s sessions ended, %s redemptions released, forfeited %s",
        customer_id,
        deletion.sessions_ended,
        deletion.redemptions_released,
        _amounts(deletion.forfeited) or "nothing",
    )
    return deletion


async def _erase(customer_id: int) -> tuple[Deletion, accounts.Erased]:
    async with in_transaction():
        erased = await accounts.erase_customer(customer_id=customer_id)  # locks the account
        if not erased.erased:
            raise NotFound("No such account.")
        released, forfeited = await _release_and_forfeit(customer_id)
        await cashback.anonymise_customer(customer_id=customer_id)
        await offers.erase_customer(customer_id=customer_id)
        await segments.erase_customer(customer_id=customer_id)
        await outbox.erase_customer(customer_id=customer_id)
        await notifications.erase_customer(customer_id=customer_id)
        await ExportClaim.filter(customer_id=customer_id).delete()
    return Deletion(customer_id, erased.sessions_ended, released, forfeited), erased


# Rounds of releasing and forfeiting before giving up (the transaction then rolls back).
RELEASE_ROUNDS = 3


async def _release_and_forfeit(customer_id: int) -> tuple[int, list[ledger.Forfeited]]:
    """Release the open redemptions, then forfeit what is left. A redemption the customer
    started at that very moment (committed after the release looked) makes the forfeit
    refuse: it is released in the next round."""
    released = 0
    for _ in range(RELEASE_ROUNDS - 1):
        released += await redemptions.release_open(customer_id=customer_id)
        try:
            return released, await ledger.forfeit_all(customer_id=customer_id)
        except ledger.ReservationsStillOpen:
            continue
    released += await redemptions.release_open(customer_id=customer_id)
    return released, await ledger.forfeit_all(customer_id=customer_id)


def _amounts(forfeited: list[ledger.Forfeited]) -> str:
    return ", ".join(str(Money.from_minor(f.total, f.currency)) for f in forfeited if f.total)


# How far back the worker looks for credit that reached a deleted account.
LEFTOVER_WINDOW = timedelta(days=1)


async def forfeit_leftovers() -> int:
    """Forfeit credit that reached a recently deleted account after its deletion (a
    purchase a partner was recording at that very moment, whose customer was looked up just
    before): for the worker; how many accounts it forfeited. Nothing is reserved there (the
    customer can no longer redeem), so it all goes."""
    deleted = await accounts.deleted_since(clock.now() - LEFTOVER_WINDOW)
    holding = await ledger.customers_holding(customer_ids=deleted)
    for customer_id in holding:
        forfeited = await ledger.forfeit_all(customer_id=customer_id)
        log.info(
            "forfeited after deletion: customer %s, %s",
            customer_id,
            _amounts(forfeited),
        )
    return len(holding)
