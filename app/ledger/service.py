"""The ledger's use cases: the only functions that change balances.

Amounts are integers of the currency's minor unit. Every function works on its own and
inside a caller's `async with in_transaction():` block: it then runs in a savepoint of the
caller's transaction, so the caller's rows and the ledger's commit (or roll back) together.

How the money is kept (see models.py for the tables):
- Double entry: every movement is a transfer whose postings sum to zero, between a
  customer's PENDING / AVAILABLE / RESERVED accounts and the program's FUNDING / SPENT /
  EXPIRED / CLAWBACK accounts. Transfers and postings are only ever inserted.
- Each credit is a lot. Spending (capturing a reservation) draws the soonest-expiring lots
  first. The wallet row holds the totals: available + reserved = what remains in AVAILABLE
  lots, pending = what remains in PENDING lots.
- The wallet also holds `next_change_at`: the earliest moment a lot matures or expires or a
  reservation lapses (never later than the true next change; an earlier value only causes a
  settle that finds little to do). Any read or write that finds it passed settles the wallet
  first, so balances are right with no background job; `settle_due_wallets` does the same
  in bulk for a worker.
- A reservation holds money, not lots. A lot that reaches its expiry while reservations hold
  all the available money is kept for them (the customer had started spending it): it is
  drawn first if the reservation is captured and expires as soon as it is released.
- Locks, always in this order: a reservation's own entry (capture, release), then the
  wallet row, then the wallet's lots and other entries. Lots change only under the wallet's
  lock. A debit is one conditional UPDATE (`... WHERE available >= x`); the CHECK
  constraints refuse any negative total anyway. Deadlocks (possible only when a
  reservation is captured at the very instant it lapses) and serialization failures are
  retried here and never reach the caller.
- On PostgreSQL the hot paths are single statements (a reservation is one statement that
  commits by itself; a capture is two), so a busy wallet is never locked across a round
  trip to the client. SQLite runs the same steps one statement at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from tortoise.backends.base.client import TransactionalDBClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.core import clock
from app.core.errors import ErrorCode, InvalidAmount, InvalidInput
from app.core.pagination import Page, keyset_page
from app.db import retrying
from app.ledger import sql
from app.ledger.errors import (
    InsufficientBalance,
    ReservationClosed,
    ReservationExpired,
    UnknownReservation,
    WalletTotalTooLarge,
)
from app.ledger.models import Entry as EntryRow

T = TypeVar("T")

CREDIT_KINDS = frozenset({"CASHBACK", "BONUS", "REFERRAL", "ADJUSTMENT"})
# The most a wallet may hold (pending + available + reserved) or have earned, in minor
# units: far below a bigint's range, so no total can overflow its column.
MAX_WALLET_TOTAL = 10**15

# Accounts. The customer's hold what the customer has; the program's are the other side.
PENDING, AVAILABLE, RESERVED = "PENDING", "AVAILABLE", "RESERVED"
FUNDING, SPENT, EXPIRED, CLAWBACK = "FUNDING", "SPENT", "EXPIRED", "CLAWBACK"

# Lot states: PENDING (not matured), AVAILABLE, CLOSED (nothing left), EXPIRED.
LOT_CLOSED, LOT_EXPIRED = "CLOSED", "EXPIRED"

_RESERVATION_STATUS = {
    "RESERVED": "RESERVED",
    "COMPLETED": "CAPTURED",
    "RELEASED": "RELEASED",
    "EXPIRED": "EXPIRED",
}


@dataclass(frozen=True)
class Balance:
    currency: str
    available: int
    pending: int
    reserved: int
    lifetime_earned: int
    next_expiry_amount: int | None  # what expires next (available lots), and when
    next_expiry_at: datetime | None


@dataclass(frozen=True)
class Entry:
    """One line of the customer's activity."""

    id: int
    kind: str  # CASHBACK BONUS REFERRAL REDEMPTION REVERSAL EXPIRY ADJUSTMENT
    status: str  # PENDING AVAILABLE RESERVED COMPLETED RELEASED EXPIRED REVERSED (current)
    amount: int  # positive, for credits and debits alike (kind says which)
    currency: str
    occurred_at: datetime
    available_at: datetime | None
    expires_at: datetime | None
    description: str
    merchant_id: int | None
    source_type: str | None  # "purchase", "redemption", "refund", ...
    source_id: int | None
    details: dict | None  # e.g. {"explanation": [{label, percent, base, amount}, ...]}


@dataclass(frozen=True)
class TakeBack:
    from_pending: int
    from_available: int
    clawback: int


@dataclass(frozen=True)
class ProgramTotals:
    """Money that moved in a period, and what the program owes now."""

    currency: str
    issued: int
    redeemed: int
    expired: int
    taken_back: int  # from balances and clawed back together
    clawed_back: int  # what refunds could not take back (already spent or expired)
    outstanding: int


# --------------------------------------------------------------------------- running


class _SettleFirst(Exception):
    """The fast path met a wallet that must settle (or changed) first: settle, try again."""


class _NotOpen(Exception):
    """A reservation changed state under us: roll back and report what it became."""


async def _run(work: Callable[[], Awaitable[T]]) -> T:
    """`work` (which owns its transaction), again after a deadlock or serialization failure."""
    return await retrying(work)


_WALLET = (
    "SELECT id, available, pending, reserved, lifetime_earned, next_change_at,"
    " next_expiry_amount, next_expiry_at FROM ledger_wallets"
    " WHERE customer_id = ? AND currency = ?"
)
_WALLET_FOR_UPDATE = _WALLET + " FOR UPDATE"


def _wallet_lock_sql() -> str:
    # SQLite has no row locks: a transaction there holds the whole database.
    return _WALLET_FOR_UPDATE if sql.is_postgres() else _WALLET


def _is_due(next_change_at: Any, now: datetime) -> bool:
    moment = sql.to_datetime(next_change_at)
    return moment is not None and moment <= now


# --------------------------------------------------------------------------- transfers


async def _transfer(
    *,
    customer_id: int,
    currency: str,
    kind: str,
    entry_id: int | None,
    postings: list[tuple[str, int]],
    now: datetime,
    details: dict | None = None,
) -> None:
    """One transfer and its postings (zero amounts left out); they must sum to zero."""
    lines = [(account, amount) for account, amount in postings if amount]
    if sum(amount for _, amount in lines) != 0:
        raise AssertionError(f"unbalanced {kind} transfer: {lines}")
    if not lines:
        return
    accounts = [account for account, _ in lines]
    amounts = [amount for _, amount in lines]
    if sql.is_postgres():
        # One round trip: the transfer and its postings in one statement.
        await sql.execute(
            "WITH t AS (INSERT INTO ledger_transfers"
            " (customer_id, currency, kind, entry_id, details, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id)"
            " INSERT INTO ledger_postings (transfer_id, customer_id, currency, account, amount)"
            " SELECT t.id, ?, ?, v.account, v.amount"
            " FROM t CROSS JOIN unnest(?::varchar[], ?::bigint[]) AS v(account, amount)",
            customer_id,
            currency,
            kind,
            entry_id,
            sql.to_json(details),
            now,
            customer_id,
            currency,
            accounts,
            amounts,
        )
        return
    transfer = await sql.one(
        "INSERT INTO ledger_transfers (customer_id, currency, kind, entry_id, details,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        customer_id,
        currency,
        kind,
        entry_id,
        sql.to_json(details),
        now,
    )
    assert transfer is not None
    await sql.execute_many(
        "INSERT INTO ledger_postings (transfer_id, customer_id, currency, account, amount)"
        " VALUES (?, ?, ?, ?, ?)",
        [(transfer["id"], customer_id, currency, a, n) for a, n in lines],
    )


async def _set_status(entry_ids: list[int], status: str, now: datetime, *, was: str | None) -> None:
    """Move these entries to `status` (only those still in status `was`, when given)."""
    if not entry_ids:
        return
    if was is None:
        await sql.execute_many(
            "UPDATE ledger_entries SET status = ?, updated_at = ? WHERE id = ?",
            [(status, now, entry_id) for entry_id in entry_ids],
        )
    else:
        await sql.execute_many(
            "UPDATE ledger_entries SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
            [(status, now, entry_id, was) for entry_id in entry_ids],
        )


_LOT_UPDATE = (
    "UPDATE ledger_lots SET remaining = remaining - ?, spent = spent + ?,"
    " expired = expired + ?, taken_back = taken_back + ?, clawed_back = clawed_back + ?,"
    " state = ? WHERE id = ?"
)


@dataclass
class _LotChange:
    id: int
    state: str
    spent: int = 0
    expired: int = 0
    taken_back: int = 0
    clawed_back: int = 0

    @property
    def taken(self) -> int:
        return self.spent + self.expired + self.taken_back

    def row(self) -> list[Any]:
        return [
            self.taken,
            self.spent,
            self.expired,
            self.taken_back,
            self.clawed_back,
            self.state,
            self.id,
        ]


async def _apply_lot_changes(changes: list[_LotChange]) -> None:
    await sql.execute_many(_LOT_UPDATE, [c.row() for c in changes])


# --------------------------------------------------------------------------- settling

_SCHEDULE = (
    "SELECT s.next_mature, s.next_expiry, s.next_lapse,"
    " (SELECT SUM(l.remaining) FROM ledger_lots l WHERE l.customer_id = ? AND l.currency = ?"
    "   AND l.state = 'AVAILABLE' AND l.expires_at = s.next_expiry) AS next_expiry_amount"
    " FROM (SELECT"
    "  (SELECT MIN(available_at) FROM ledger_lots WHERE customer_id = ? AND currency = ?"
    "    AND state = 'PENDING') AS next_mature,"
    "  (SELECT MIN(expires_at) FROM ledger_lots WHERE customer_id = ? AND currency = ?"
    "    AND state = 'AVAILABLE' AND expires_at > ?) AS next_expiry,"
    "  (SELECT MIN(expires_at) FROM ledger_entries WHERE customer_id = ? AND currency = ?"
    "    AND kind = 'REDEMPTION' AND status = 'RESERVED') AS next_lapse) AS s"
)


async def _refresh_wallet(
    wallet_id: int,
    customer_id: int,
    currency: str,
    now: datetime,
    *,
    available: int = 0,
    pending: int = 0,
    reserved: int = 0,
    lifetime_earned: int = 0,
) -> dict[str, Any]:
    """Apply the deltas to the (locked) wallet and recompute what changes next."""
    w = (customer_id, currency)
    schedule = await sql.one(_SCHEDULE, *w, *w, *w, now, *w)
    assert schedule is not None
    moments = [sql.to_datetime(schedule[k]) for k in ("next_mature", "next_expiry", "next_lapse")]
    next_change = min((m for m in moments if m is not None), default=None)
    next_expiry_at = sql.to_datetime(schedule["next_expiry"])
    next_expiry_amount = (
        int(schedule["next_expiry_amount"]) if schedule["next_expiry_amount"] is not None else None
    )
    updated = await sql.one(
        "UPDATE ledger_wallets SET available = available + ?, pending = pending + ?,"
        " reserved = reserved + ?, lifetime_earned = lifetime_earned + ?,"
        " next_change_at = ?, next_expiry_amount = ?, next_expiry_at = ?, updated_at = ?"
        " WHERE id = ? RETURNING id, available, pending, reserved, lifetime_earned,"
        " next_change_at, next_expiry_amount, next_expiry_at",
        available,
        pending,
        reserved,
        lifetime_earned,
        next_change,
        next_expiry_amount,
        next_expiry_at,
        now,
        wallet_id,
    )
    assert updated is not None
    return updated


async def _expire_due_lots(customer_id: int, currency: str, now: datetime, *, limit: int) -> int:
    """Expire the available lots whose time has come, soonest first, but no more than
    `limit` (the money not held by reservations). What it moved to EXPIRED."""
    if limit <= 0:
        return 0
    due = await sql.rows(
        "SELECT id, entry_id, remaining, merchant_id, source_type, source_id, expires_at"
        " FROM ledger_lots WHERE customer_id = ? AND currency = ? AND state = 'AVAILABLE'"
        " AND expires_at <= ? ORDER BY expires_at, id",
        customer_id,
        currency,
        now,
    )
    left = limit
    changes: list[_LotChange] = []
    entries: list[list[Any]] = []
    fully_expired: list[int] = []
    for lot in due:
        if left <= 0:
            break
        amount = min(int(lot["remaining"]), left)
        left -= amount
        whole = amount == int(lot["remaining"])
        changes.append(
            _LotChange(id=lot["id"], state=LOT_EXPIRED if whole else AVAILABLE, expired=amount)
        )
        if whole:
            fully_expired.append(lot["entry_id"])
        expires_at = sql.to_datetime(lot["expires_at"])
        entries.append(
            [
                customer_id,
                currency,
                "EXPIRY",
                "EXPIRED",
                amount,
                expires_at,
                None,
                expires_at,
                "Credits expired",
                lot["merchant_id"],
                lot["source_type"],
                lot["source_id"],
                sql.to_json({"lot_id": lot["id"]}),
                now,
                now,
            ]
        )
    if not changes:
        return 0
    total = limit - left
    await _apply_lot_changes(changes)
    await sql.execute_many(
        "INSERT INTO ledger_entries (customer_id, currency, kind, status, amount, occurred_at,"
        " available_at, expires_at, description, merchant_id, source_type, source_id, details,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        entries,
    )
    await _set_status(fully_expired, "EXPIRED", now, was=AVAILABLE)
    await _transfer(
        customer_id=customer_id,
        currency=currency,
        kind="EXPIRE",
        entry_id=None,
        postings=[(AVAILABLE, -total), (EXPIRED, total)],
        now=now,
        details={"lots": [c.id for c in changes]},
    )
    return total


async def _settle(customer_id: int, currency: str, now: datetime) -> dict[str, Any] | None:
    """Inside a transaction: lock the wallet and apply everything due by `now` (lots mature,
    lapsed reservations are released, lots expire). The wallet row after; None if none."""
    wallet = await sql.one(_wallet_lock_sql(), customer_id, currency)
    if wallet is None or not _is_due(wallet["next_change_at"], now):
        return wallet
    matured = await sql.rows(
        "UPDATE ledger_lots SET state = 'AVAILABLE' WHERE customer_id = ? AND currency = ?"
        " AND state = 'PENDING' AND available_at <= ? RETURNING id, entry_id, remaining",
        customer_id,
        currency,
        now,
    )
    matured_total = sum(int(lot["remaining"]) for lot in matured)
    if matured:
        await _set_status([lot["entry_id"] for lot in matured], AVAILABLE, now, was=PENDING)
        await _transfer(
            customer_id=customer_id,
            currency=currency,
            kind="MATURE",
            entry_id=None,
            postings=[(PENDING, -matured_total), (AVAILABLE, matured_total)],
            now=now,
            details={"lots": [lot["id"] for lot in matured]},
        )
    lapsed = await sql.rows(
        "UPDATE ledger_entries SET status = 'EXPIRED', updated_at = ?"
        " WHERE customer_id = ? AND currency = ? AND kind = 'REDEMPTION'"
        " AND status = 'RESERVED' AND expires_at <= ? RETURNING id, amount",
        now,
        customer_id,
        currency,
        now,
    )
    released_total = 0
    for reservation in lapsed:
        amount = int(reservation["amount"])
        released_total += amount
        await _transfer(
            customer_id=customer_id,
            currency=currency,
            kind="RELEASE",
            entry_id=reservation["id"],
            postings=[(RESERVED, -amount), (AVAILABLE, amount)],
            now=now,
            details={"lapsed": True},
        )
    available = int(wallet["available"]) + matured_total + released_total
    expired_total = await _expire_due_lots(customer_id, currency, now, limit=available)
    return await _refresh_wallet(
        wallet["id"],
        customer_id,
        currency,
        now,
        available=matured_total + released_total - expired_total,
        pending=-matured_total,
        reserved=-released_total,
    )


async def _settle_wallet(customer_id: int, currency: str, now: datetime) -> dict[str, Any] | None:
    async def work() -> dict[str, Any] | None:
        async with in_transaction():
            return await _settle(customer_id, currency, now)

    return await _run(work)


_CLAIM_DUE = (
    "SELECT customer_id, currency FROM ledger_wallets WHERE next_change_at <= ?"
    " ORDER BY next_change_at LIMIT ?"
)
# Several workers: each skips the wallets another one holds.
_CLAIM_DUE_FOR_UPDATE = _CLAIM_DUE + " FOR UPDATE SKIP LOCKED"


async def settle_due_wallets(limit: int = 500) -> int:
    """Settle up to `limit` wallets whose next change has passed (for a worker; several
    workers may run: each claims its wallets with FOR UPDATE SKIP LOCKED). How many."""
    now = clock.now()
    done = 0
    while done < limit:
        batch = min(50, limit - done)

        async def work(batch: int = batch) -> int:
            async with in_transaction():
                due = await sql.rows(
                    _CLAIM_DUE_FOR_UPDATE if sql.is_postgres() else _CLAIM_DUE, now, batch
                )
                for wallet in due:
                    await _settle(wallet["customer_id"], wallet["currency"], now)
                return len(due)

        settled = await _run(work)
        done += settled
        if settled < batch:
            break
    return done


# --------------------------------------------------------------------------- reading


def _balance_of(currency: str, row: dict[str, Any] | None) -> Balance:
    if row is None:
        return Balance(currency, 0, 0, 0, 0, None, None)
    amount = row["next_expiry_amount"]
    return Balance(
        currency=currency,
        available=int(row["available"]),
        pending=int(row["pending"]),
        reserved=int(row["reserved"]),
        lifetime_earned=int(row["lifetime_earned"]),
        next_expiry_amount=int(amount) if amount is not None else None,
        next_expiry_at=sql.to_datetime(row["next_expiry_at"]),
    )


async def get_balance(*, customer_id: int, currency: str) -> Balance:
    """The wallet's totals: one statement, however long its history. A wallet whose next
    scheduled change has passed settles first; a customer with no wallet has zero."""
    row = await sql.one(
        "SELECT available, pending, reserved, lifetime_earned, next_expiry_amount,"
        " next_expiry_at, next_change_at FROM ledger_wallets"
        " WHERE customer_id = ? AND currency = ?",
        customer_id,
        currency,
    )
    if row is not None:
        now = clock.now()
        if _is_due(row["next_change_at"], now):
            row = await _settle_wallet(customer_id, currency, now)
    return _balance_of(currency, row)


def _entry_of(row: EntryRow) -> Entry:
    return Entry(
        id=row.id,
        kind=row.kind,
        status=row.status,
        amount=row.amount,
        currency=row.currency,
        occurred_at=row.occurred_at,
        available_at=row.available_at,
        expires_at=row.expires_at,
        description=row.description,
        merchant_id=row.merchant_id,
        source_type=row.source_type,
        source_id=row.source_id,
        details=sql.from_json(row.details),
    )


async def list_entries(*, customer_id: int, first: int, after: str | None) -> Page[Entry]:
    """The customer's activity, newest first (keyset cursors), with current statuses."""
    now = clock.now()
    wallets = await sql.rows(
        "SELECT currency, next_change_at FROM ledger_wallets WHERE customer_id = ?",
        customer_id,
    )
    for wallet in wallets:
        if _is_due(wallet["next_change_at"], now):
            await _settle_wallet(customer_id, wallet["currency"], now)
    page = await keyset_page(
        EntryRow.filter(customer_id=customer_id),
        first=first,
        after=after,
        order_by=("-occurred_at", "-id"),
    )
    return Page(
        items=[_entry_of(row) for row in page.items],
        cursors=page.cursors,
        has_next_page=page.has_next_page,
    )


async def get_entries(*, entry_ids: list[int]) -> dict[int, Entry]:
    """Entries by id (for loaders)."""
    if not entry_ids:
        return {}
    return {row.id: _entry_of(row) for row in await EntryRow.filter(id__in=entry_ids)}


# --------------------------------------------------------------------------- crediting


async def credit(
    *,
    customer_id: int,
    currency: str,
    amount: int,
    kind: str,
    occurred_at: datetime,
    available_at: datetime,
    expires_at: datetime,
    source_type: str,
    source_id: int,
    merchant_id: int | None,
    description: str,
    details: dict | None = None,
    terms_version: int | None = None,
    idempotency_key: str,
) -> int:
    """Credit one lot: PENDING until `available_at` (AVAILABLE at once when that has come),
    expiring at `expires_at`. The entry id; the same idempotency key again credits nothing
    and returns the first entry's id. An amount of 0 does nothing and returns 0."""
    if amount < 0:
        raise InvalidAmount("A credit cannot be negative.")
    if amount == 0:
        return 0
    if amount > MAX_WALLET_TOTAL:
        raise WalletTotalTooLarge()
    if kind not in CREDIT_KINDS:
        raise InvalidInput(f"{kind} is not a kind of credit.")
    occurred_at, available_at, expires_at = (
        sql.utc(occurred_at),
        sql.utc(available_at),
        sql.utc(expires_at),
    )
    if expires_at <= available_at:
        raise InvalidInput("Credits must expire after they become available.")

    async def work() -> int:
        now = clock.now()
        async with in_transaction():
            return await _credit(
                customer_id=customer_id,
                currency=currency,
                amount=amount,
                kind=kind,
                occurred_at=occurred_at,
                available_at=available_at,
                expires_at=expires_at,
                source_type=source_type,
                source_id=source_id,
                merchant_id=merchant_id,
                description=description,
                details=details,
                terms_version=terms_version,
                idempotency_key=idempotency_key,
                now=now,
            )

    return await _run(work)


def _beyond_ceiling(wallet: dict[str, Any]) -> bool:
    held = int(wallet["available"]) + int(wallet["pending"]) + int(wallet["reserved"])
    return held > MAX_WALLET_TOTAL or int(wallet["lifetime_earned"]) > MAX_WALLET_TOTAL


async def _credit(
    *,
    customer_id: int,
    currency: str,
    amount: int,
    kind: str,
    occurred_at: datetime,
    available_at: datetime,
    expires_at: datetime,
    source_type: str,
    source_id: int,
    merchant_id: int | None,
    description: str,
    details: dict | None,
    terms_version: int | None,
    idempotency_key: str,
    now: datetime,
) -> int:
    available_now = available_at <= now
    state = AVAILABLE if available_now else PENDING
    inserted = await sql.one(
        "INSERT INTO ledger_entries (customer_id, currency, kind, status, amount, occurred_at,"
        " available_at, expires_at, description, merchant_id, source_type, source_id, details,"
        " terms_version, idempotency_key, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        customer_id,
        currency,
        kind,
        state,
        amount,
        occurred_at,
        available_at,
        expires_at,
        description[:500],
        merchant_id,
        source_type,
        source_id,
        sql.to_json(details),
        terms_version,
        idempotency_key,
        now,
        now,
    )
    if inserted is None:
        first = await sql.one(
            "SELECT id FROM ledger_entries WHERE idempotency_key = ?", idempotency_key
        )
        assert first is not None
        return int(first["id"])
    entry_id = int(inserted["id"])
    wallet = await sql.one(
        "INSERT INTO ledger_wallets (customer_id, currency, available, pending, reserved,"
        " lifetime_earned, next_change_at, next_expiry_amount, next_expiry_at, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (customer_id, currency) DO UPDATE SET"
        " available = ledger_wallets.available + excluded.available,"
        " pending = ledger_wallets.pending + excluded.pending,"
        " lifetime_earned = ledger_wallets.lifetime_earned + excluded.lifetime_earned,"
        " next_change_at = CASE WHEN ledger_wallets.next_change_at IS NULL"
        "   OR ledger_wallets.next_change_at > excluded.next_change_at"
        "   THEN excluded.next_change_at ELSE ledger_wallets.next_change_at END,"
        " next_expiry_amount = CASE WHEN excluded.next_expiry_at IS NULL"
        "   THEN ledger_wallets.next_expiry_amount"
        "   WHEN ledger_wallets.next_expiry_at IS NULL"
        "   OR ledger_wallets.next_expiry_at > excluded.next_expiry_at"
        "   THEN excluded.next_expiry_amount"
        "   WHEN ledger_wallets.next_expiry_at = excluded.next_expiry_at"
        "   THEN ledger_wallets.next_expiry_amount + excluded.next_expiry_amount"
        "   ELSE ledger_wallets.next_expiry_amount END,"
        " next_expiry_at = CASE WHEN excluded.next_expiry_at IS NULL"
        "   THEN ledger_wallets.next_expiry_at"
        "   WHEN ledger_wallets.next_expiry_at IS NULL"
        "   OR ledger_wallets.next_expiry_at > excluded.next_expiry_at"
        "   THEN excluded.next_expiry_at ELSE ledger_wallets.next_expiry_at END,"
        " updated_at = excluded.updated_at"
        " RETURNING id, next_change_at, available, pending, reserved, lifetime_earned",
        customer_id,
        currency,
        amount if available_now else 0,
        0 if available_now else amount,
        amount,
        expires_at if available_now else available_at,
        amount if available_now else None,
        expires_at if available_now else None,
        now,
        now,
    )
    assert wallet is not None
    if _beyond_ceiling(wallet):
        # Raised inside the caller's transaction: the entry and the wallet change roll back.
        raise WalletTotalTooLarge()
    await sql.execute(
        "INSERT INTO ledger_lots (customer_id, currency, entry_id, state, amount, remaining,"
        " spent, expired, taken_back, clawed_back, available_at, expires_at, source_type,"
        " source_id, merchant_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, ?, ?, ?, ?, ?, ?)",
        customer_id,
        currency,
        entry_id,
        state,
        amount,
        amount,
        available_at,
        expires_at,
        source_type,
        source_id,
        merchant_id,
        now,
    )
    await _transfer(
        customer_id=customer_id,
        currency=currency,
        kind="CREDIT",
        entry_id=entry_id,
        postings=[(FUNDING, -amount), (AVAILABLE if available_now else PENDING, amount)],
        now=now,
    )
    if _is_due(wallet["next_change_at"], now):
        await _settle(customer_id, currency, now)
    return entry_id


# --------------------------------------------------------------------------- taking back


async def take_back(
    *,
    customer_id: int,
    currency: str,
    source_type: str,
    source_id: int,
    amount: int,
    description: str,
    idempotency_key: str,
) -> TakeBack:
    """Take `amount` back from the lots credited for (source_type, source_id): what is still
    pending first, then what is available. What was already spent or expired (or is held by
    an open reservation) is recorded on the program's CLAWBACK account; balances never go
    below zero. No more than was credited for the source (less earlier take-backs) is taken.
    The same idempotency key again returns the first result and moves nothing."""
    if amount < 0:
        raise InvalidAmount("A take-back cannot be negative.")
    if amount == 0:
        return TakeBack(0, 0, 0)

    async def work() -> TakeBack:
        now = clock.now()
        async with in_transaction():
            return await _take_back(
                customer_id=customer_id,
                currency=currency,
                source_type=source_type,
                source_id=source_id,
                amount=amount,
                description=description,
                idempotency_key=idempotency_key,
                now=now,
            )

    return await _run(work)


async def _take_back(
    *,
    customer_id: int,
    currency: str,
    source_type: str,
    source_id: int,
    amount: int,
    description: str,
    idempotency_key: str,
    now: datetime,
) -> TakeBack:
    wallet = await _settle(customer_id, currency, now)
    first = await sql.one(
        "SELECT kind, details FROM ledger_entries WHERE idempotency_key = ?", idempotency_key
    )
    if first is not None:
        details = sql.from_json(first["details"]) or {}
        if first["kind"] != "REVERSAL":
            raise InvalidInput(
                "This idempotency key was used for something else.",
                code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
            )
        return TakeBack(
            from_pending=int(details.get("from_pending", 0)),
            from_available=int(details.get("from_available", 0)),
            clawback=int(details.get("clawback", 0)),
        )
    if wallet is None:
        return TakeBack(0, 0, 0)
    lots = await sql.rows(
        "SELECT id, entry_id, state, amount, remaining, taken_back, clawed_back, merchant_id"
        " FROM ledger_lots WHERE customer_id = ? AND currency = ? AND source_type = ?"
        " AND source_id = ? ORDER BY id",
        customer_id,
        currency,
        source_type,
        source_id,
    )
    reversible = sum(
        int(lot["amount"]) - int(lot["taken_back"]) - int(lot["clawed_back"]) for lot in lots
    )
    left = min(amount, reversible)
    if left <= 0:
        return TakeBack(0, 0, 0)
    changes = {lot["id"]: _LotChange(id=lot["id"], state=lot["state"]) for lot in lots}
    from_pending = from_available = clawback = 0
    # What is not held by reservations: a take-back never dips into it.
    available_budget = int(wallet["available"])
    for lot in sorted(lots, key=lambda lot: lot["state"] != PENDING):
        if left <= 0:
            break
        if lot["state"] == PENDING:
            take = min(int(lot["remaining"]), left)
            from_pending += take
        elif lot["state"] == AVAILABLE:
            take = min(int(lot["remaining"]), left, available_budget)
            available_budget -= take
            from_available += take
        else:
            continue
        left -= take
        changes[lot["id"]].taken_back = take
    for lot in lots:
        if left <= 0:
            break
        change = changes[lot["id"]]
        room = (
            int(lot["amount"])
            - int(lot["taken_back"])
            - int(lot["clawed_back"])
            - change.taken_back
        )
        claw = min(room, left)
        change.clawed_back = claw
        clawback += claw
        left -= claw
    touched = []
    reversed_entries = []
    for lot in lots:
        change = changes[lot["id"]]
        if not (change.taken_back or change.clawed_back):
            continue
        if change.taken_back == int(lot["remaining"]) and lot["state"] in (PENDING, AVAILABLE):
            change.state = LOT_CLOSED
        touched.append(change)
        total_reversed = (
            int(lot["taken_back"])
            + int(lot["clawed_back"])
            + change.taken_back
            + change.clawed_back
        )
        if total_reversed == int(lot["amount"]):
            reversed_entries.append(lot["entry_id"])
    await _apply_lot_changes(touched)
    result = TakeBack(from_pending, from_available, clawback)
    entry = await sql.one(
        "INSERT INTO ledger_entries (customer_id, currency, kind, status, amount, occurred_at,"
        " description, merchant_id, source_type, source_id, details, idempotency_key,"
        " created_at, updated_at) VALUES (?, ?, 'REVERSAL', 'COMPLETED', ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?, ?) RETURNING id",
        customer_id,
        currency,
        from_pending + from_available,
        now,
        description[:500],
        lots[0]["merchant_id"],
        source_type,
        source_id,
        sql.to_json(
            {"from_pending": from_pending, "from_available": from_available, "clawback": clawback}
        ),
        idempotency_key,
        now,
        now,
    )
    assert entry is not None
    await _set_status(reversed_entries, "REVERSED", now, was=None)
    await _transfer(
        customer_id=customer_id,
        currency=currency,
        kind="TAKE_BACK",
        entry_id=entry["id"],
        postings=[
            (PENDING, -from_pending),
            (AVAILABLE, -from_available),
            (CLAWBACK, -clawback),
            (FUNDING, from_pending + from_available + clawback),
        ],
        now=now,
    )
    await _refresh_wallet(
        wallet["id"],
        customer_id,
        currency,
        now,
        available=-from_available,
        pending=-from_pending,
        lifetime_earned=-(from_pending + from_available + clawback),
    )
    return result


# --------------------------------------------------------------------------- reservations


async def reserve(
    *,
    customer_id: int,
    currency: str,
    amount: int,
    reservation_key: str,
    expires_at: datetime,
    merchant_id: int | None,
    description: str,
    source_type: str | None = None,
    source_id: int | None = None,
) -> None:
    """Move `amount` from available to reserved until `expires_at`, in one conditional
    statement; InsufficientBalance (and nothing moves) when the available money is short.
    The reservation is the REDEMPTION entry keyed by `reservation_key`. The same key again
    for the same customer and amount does nothing; for anything else it is refused
    (IDEMPOTENCY_KEY_REUSED)."""
    if amount <= 0:
        raise InvalidAmount("A reservation must be of a positive amount.")
    expires_at = sql.utc(expires_at)
    if expires_at <= clock.now():
        raise InvalidInput("A reservation must expire in the future.")
    arguments = {
        "customer_id": customer_id,
        "currency": currency,
        "amount": amount,
        "reservation_key": reservation_key,
        "expires_at": expires_at,
        "merchant_id": merchant_id,
        "description": description[:500],
        "source_type": source_type,
        "source_id": source_id,
    }
    for _ in range(3):

        async def work() -> None:
            now = clock.now()
            if sql.is_postgres():
                await _reserve_in_one_statement(**arguments, now=now)
            else:
                async with in_transaction():
                    await _reserve(**arguments, now=now)

        try:
            return await _run(work)
        except _SettleFirst:
            await _settle_wallet(customer_id, currency, clock.now())
    raise InsufficientBalance()


# PostgreSQL: the debit, the reservation entry, the transfer and its postings in one
# statement. Outside a caller's transaction it commits by itself, so the wallet row is
# locked only while the statement runs, never across a round trip to the client: many
# reservations on one wallet then queue for microseconds, not milliseconds.
_RESERVE_IN_ONE_STATEMENT = (
    "WITH w AS ("
    " UPDATE ledger_wallets SET available = available - $1, reserved = reserved + $1,"
    " next_change_at = CASE WHEN next_change_at IS NULL OR next_change_at > $2"
    "   THEN $2 ELSE next_change_at END, updated_at = $3"
    " WHERE customer_id = $4 AND currency = $5 AND available >= $1"
    " AND (next_change_at IS NULL OR next_change_at > $3)"
    " AND NOT EXISTS (SELECT 1 FROM ledger_entries WHERE reservation_key = $10)"
    " RETURNING id),"
    " e AS (INSERT INTO ledger_entries (customer_id, currency, kind, status, amount,"
    " occurred_at, expires_at, description, merchant_id, source_type, source_id,"
    " reservation_key, created_at, updated_at)"
    " SELECT $4, $5, 'REDEMPTION', 'RESERVED', $1, $3, $2, CAST($6 AS VARCHAR),"
    " CAST($7 AS BIGINT), CAST($8 AS VARCHAR), CAST($9 AS BIGINT), CAST($10 AS VARCHAR),"
    " $3, $3 FROM w RETURNING id),"
    " t AS (INSERT INTO ledger_transfers (customer_id, currency, kind, entry_id, created_at)"
    " SELECT $4, $5, 'RESERVE', e.id, $3 FROM e RETURNING id),"
    " p AS (INSERT INTO ledger_postings (transfer_id, customer_id, currency, account, amount)"
    " SELECT t.id, $4, $5, v.account, v.sign * $1"
    " FROM t CROSS JOIN (VALUES ('AVAILABLE', -1), ('RESERVED', 1)) AS v(account, sign))"
    " SELECT (SELECT id FROM e) AS entry_id"
)


async def _reserve_in_one_statement(
    *,
    customer_id: int,
    currency: str,
    amount: int,
    reservation_key: str,
    expires_at: datetime,
    merchant_id: int | None,
    description: str,
    source_type: str | None,
    source_id: int | None,
    now: datetime,
) -> None:
    params = (
        amount,
        expires_at,
        now,
        customer_id,
        currency,
        description,
        merchant_id,
        source_type,
        source_id,
        reservation_key,
    )
    try:
        # A key reserved before moves nothing (the statement checks it), so no savepoint
        # is needed inside a caller's transaction (its release would be one more round
        # trip with the wallet locked). Only a key taken this very moment by another
        # transaction fails the statement (and with it a caller's transaction).
        row = await sql.one(_RESERVE_IN_ONE_STATEMENT, *params)
    except IntegrityError:
        if isinstance(sql.conn(), TransactionalDBClient):
            raise
        if await _same_reservation(reservation_key, customer_id, currency, amount):
            return
        raise
    if row is not None and row["entry_id"] is not None:
        return
    if await _same_reservation(reservation_key, customer_id, currency, amount):
        return
    await _refuse_reservation(customer_id, currency, amount, now)


async def _same_reservation(key: str, customer_id: int, currency: str, amount: int) -> bool:
    """True if `key` already reserved this; IDEMPOTENCY_KEY_REUSED if it reserved something
    else; False if it is free."""
    first = await sql.one(
        "SELECT customer_id, currency, amount FROM ledger_entries WHERE reservation_key = ?",
        key,
    )
    if first is None:
        return False
    if (int(first["customer_id"]), first["currency"], int(first["amount"])) == (
        customer_id,
        currency,
        amount,
    ):
        return True
    raise InvalidInput(
        "This reservation key was used for another reservation.",
        code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
    )


async def _refuse_reservation(customer_id: int, currency: str, amount: int, now: datetime) -> None:
    """The conditional debit moved nothing: settle and try again if the wallet was due (or
    has changed since), else the balance is too low."""
    wallet = await sql.one(
        "SELECT available, next_change_at FROM ledger_wallets"
        " WHERE customer_id = ? AND currency = ?",
        customer_id,
        currency,
    )
    if wallet is not None and (
        _is_due(wallet["next_change_at"], now) or int(wallet["available"]) >= amount
    ):
        raise _SettleFirst()
    raise InsufficientBalance()


async def _reserve(
    *,
    customer_id: int,
    currency: str,
    amount: int,
    reservation_key: str,
    expires_at: datetime,
    merchant_id: int | None,
    description: str,
    source_type: str | None,
    source_id: int | None,
    now: datetime,
) -> None:
    inserted = await sql.one(
        "INSERT INTO ledger_entries (customer_id, currency, kind, status, amount, occurred_at,"
        " expires_at, description, merchant_id, source_type, source_id, reservation_key,"
        " created_at, updated_at) VALUES (?, ?, 'REDEMPTION', 'RESERVED', ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?, ?) ON CONFLICT (reservation_key) DO NOTHING RETURNING id",
        customer_id,
        currency,
        amount,
        now,
        expires_at,
        description,
        merchant_id,
        source_type,
        source_id,
        reservation_key,
        now,
        now,
    )
    if inserted is None:
        if await _same_reservation(reservation_key, customer_id, currency, amount):
            return
        raise AssertionError("a reservation key that is taken and free at once")
    await _transfer(
        customer_id=customer_id,
        currency=currency,
        kind="RESERVE",
        entry_id=inserted["id"],
        postings=[(AVAILABLE, -amount), (RESERVED, amount)],
        now=now,
    )
    # The debit: one conditional statement, last, so the wallet stays locked only until
    # the commit. It refuses a wallet that must settle first.
    moved = await sql.execute(
        "UPDATE ledger_wallets SET available = available - ?, reserved = reserved + ?,"
        " next_change_at = CASE WHEN next_change_at IS NULL OR next_change_at > ?"
        "   THEN ? ELSE next_change_at END, updated_at = ?"
        " WHERE customer_id = ? AND currency = ? AND available >= ?"
        " AND (next_change_at IS NULL OR next_change_at > ?)",
        amount,
        amount,
        expires_at,
        expires_at,
        now,
        customer_id,
        currency,
        amount,
        now,
    )
    if not moved:
        await _refuse_reservation(customer_id, currency, amount, now)


async def _reservation(reservation_key: str) -> dict[str, Any] | None:
    """The reservation and whether its wallet must settle first, in one statement."""
    return await sql.one(
        "SELECT e.id, e.customer_id, e.currency, e.amount, e.status, e.expires_at,"
        " w.next_change_at FROM ledger_entries e JOIN ledger_wallets w"
        " ON w.customer_id = e.customer_id AND w.currency = e.currency"
        " WHERE e.reservation_key = ?",
        reservation_key,
    )


def _closed(reservation: dict[str, Any]) -> ReservationClosed:
    status = reservation["status"]
    if status == "EXPIRED":
        return ReservationExpired()
    if status == "COMPLETED":
        return ReservationClosed("This reservation was already captured.")
    return ReservationClosed("This reservation was released.")


def _lapsed(reservation: dict[str, Any], now: datetime) -> bool:
    expires_at = sql.to_datetime(reservation["expires_at"])
    return expires_at is not None and expires_at <= now


async def _open_reservation(reservation_key: str) -> dict[str, Any] | None:
    """The reservation if it is still RESERVED, its wallet settled if that was due (so a
    lapsed one is released, and lots that expired are gone, before anything is drawn).
    None if it was captured; UnknownReservation, ReservationClosed otherwise."""
    reservation = await _reservation(reservation_key)
    if reservation is None:
        raise UnknownReservation()
    if reservation["status"] == "COMPLETED":
        return None
    if reservation["status"] != "RESERVED":
        raise _closed(reservation)
    now = clock.now()
    if _is_due(reservation["next_change_at"], now):
        await _settle_wallet(int(reservation["customer_id"]), reservation["currency"], now)
        return await _open_reservation(reservation_key)
    if _lapsed(reservation, now):  # lapsing this very moment: settled on the next try
        raise ReservationExpired()
    return reservation


async def capture_reservation(*, reservation_key: str) -> bool:
    """Spend the reserved money, drawing the soonest-expiring lots first. True if this call
    captured it, False if it already was; ReservationClosed if it was released, and its
    subclass ReservationExpired (code REDEMPTION_EXPIRED) if it lapsed (a lapsed one is
    released, never captured); UnknownReservation for a key never reserved."""
    reservation = await _open_reservation(reservation_key)
    if reservation is None:
        return False
    customer_id, currency = int(reservation["customer_id"]), reservation["currency"]
    amount = int(reservation["amount"])

    async def work() -> bool:
        now = clock.now()
        async with in_transaction():
            if sql.is_postgres():
                return await _capture_on_postgres(reservation, now)
            wallet = await _settle(customer_id, currency, now)
            assert wallet is not None
            captured = await sql.one(
                "UPDATE ledger_entries SET status = 'COMPLETED', updated_at = ?"
                " WHERE id = ? AND status = 'RESERVED' AND expires_at > ? RETURNING id",
                now,
                reservation["id"],
                now,
            )
            if captured is None:
                raise _NotOpen()
            await _draw_lots(customer_id, currency, amount)
            await _transfer(
                customer_id=customer_id,
                currency=currency,
                kind="CAPTURE",
                entry_id=reservation["id"],
                postings=[(RESERVED, -amount), (SPENT, amount)],
                now=now,
            )
            await _refresh_wallet(wallet["id"], customer_id, currency, now, reserved=-amount)
            return True

    try:
        return await _run(work)
    except _NotOpen:
        current = await _reservation(reservation_key)
        assert current is not None
        if current["status"] == "COMPLETED":
            return False
        if current["status"] == "RESERVED":  # it lapsed this very moment
            await _settle_wallet(customer_id, currency, clock.now())
            raise ReservationExpired() from None
        raise _closed(current) from None


# PostgreSQL: the reservation closes (its row locked first: captures, releases and lapses
# of one reservation queue there), then the wallet, the transfer and its postings move,
# in one statement. The lots are drawn by a second statement, whose snapshot is taken
# once the wallet is ours; it also works out what expires next from what it drew. So the
# wallet stays locked for two round trips (the draw and the commit).
_CAPTURE = (
    "WITH e AS (UPDATE ledger_entries SET status = 'COMPLETED', updated_at = $3"
    " WHERE id = $1 AND status = 'RESERVED' AND expires_at > $3 RETURNING id),"
    " w AS (UPDATE ledger_wallets SET reserved = reserved - $2, updated_at = $3"
    " WHERE customer_id = $4 AND currency = $5 AND EXISTS (SELECT 1 FROM e) RETURNING id),"
    " t AS (INSERT INTO ledger_transfers (customer_id, currency, kind, entry_id, created_at)"
    " SELECT $4, $5, 'CAPTURE', $1, $3 FROM w RETURNING id),"
    " p AS (INSERT INTO ledger_postings (transfer_id, customer_id, currency, account, amount)"
    " SELECT t.id, $4, $5, v.account, v.sign * $2"
    " FROM t CROSS JOIN (VALUES ('RESERVED', -1), ('SPENT', 1)) AS v(account, sign))"
    " SELECT (SELECT id FROM w) AS wallet_id"
)
_DRAW = (
    "WITH available AS (SELECT id, remaining, expires_at,"
    " SUM(remaining) OVER (ORDER BY expires_at, id) AS running FROM ledger_lots"
    " WHERE customer_id = $2 AND currency = $3 AND state = 'AVAILABLE'),"
    " drawn AS (SELECT id, LEAST(remaining, $1 - (running - remaining)) AS take"
    " FROM available WHERE running - remaining < $1),"
    " d AS (UPDATE ledger_lots l SET remaining = l.remaining - drawn.take,"
    " spent = l.spent + drawn.take,"
    " state = CASE WHEN l.remaining = drawn.take THEN 'CLOSED' ELSE l.state END"
    " FROM drawn WHERE l.id = drawn.id RETURNING drawn.take),"
    " left_over AS (SELECT a.expires_at, a.remaining - COALESCE(drawn.take, 0) AS remaining"
    " FROM available a LEFT JOIN drawn ON drawn.id = a.id),"
    " next AS (SELECT MIN(expires_at) AS at FROM left_over"
    " WHERE remaining > 0 AND expires_at > $4),"
    " u AS (UPDATE ledger_wallets SET next_expiry_at = (SELECT at FROM next),"
    " next_expiry_amount = (SELECT SUM(remaining) FROM left_over"
    " WHERE remaining > 0 AND expires_at = (SELECT at FROM next))"
    " WHERE id = $5)"
    " SELECT COALESCE(SUM(take), 0) AS drawn FROM d"
)


async def _capture_on_postgres(reservation: dict[str, Any], now: datetime) -> bool:
    customer_id, currency = int(reservation["customer_id"]), reservation["currency"]
    amount = int(reservation["amount"])
    moved = await sql.one(_CAPTURE, reservation["id"], amount, now, customer_id, currency)
    if moved is None or moved["wallet_id"] is None:
        raise _NotOpen()
    drawn = await sql.one(_DRAW, amount, customer_id, currency, now, moved["wallet_id"])
    if drawn is None or int(drawn["drawn"]) != amount:
        raise AssertionError(f"lots hold {drawn and drawn['drawn']} of the {amount} reserved")
    return True


async def _draw_lots(customer_id: int, currency: str, amount: int) -> None:
    """Spend `amount` from the available lots, soonest-expiring first (one statement finds
    just the lots needed, however many there are)."""
    lots = await sql.rows(
        "SELECT id, remaining FROM (SELECT id, remaining, expires_at,"
        " SUM(remaining) OVER (ORDER BY expires_at, id) AS running FROM ledger_lots"
        " WHERE customer_id = ? AND currency = ? AND state = 'AVAILABLE') AS x"
        " WHERE running - remaining < ? ORDER BY expires_at, id",
        customer_id,
        currency,
        amount,
    )
    left = amount
    changes = []
    for lot in lots:
        take = min(int(lot["remaining"]), left)
        left -= take
        state = LOT_CLOSED if take == int(lot["remaining"]) else AVAILABLE
        changes.append(_LotChange(id=lot["id"], state=state, spent=take))
    if left:
        raise AssertionError(f"lots hold {amount - left} of the {amount} reserved")
    await _apply_lot_changes(changes)


# PostgreSQL: the reservation, then its wallet, as a capture takes them.
_RELEASE = (
    "WITH e AS (UPDATE ledger_entries SET status = $6, updated_at = $3"
    " WHERE id = $1 AND status = 'RESERVED' RETURNING id),"
    " w AS (UPDATE ledger_wallets SET reserved = reserved - $2, available = available + $2,"
    " updated_at = $3 WHERE customer_id = $4 AND currency = $5 AND EXISTS (SELECT 1 FROM e)"
    " RETURNING id, available),"
    " t AS (INSERT INTO ledger_transfers (customer_id, currency, kind, entry_id, created_at)"
    " SELECT $4, $5, 'RELEASE', $1, $3 FROM w RETURNING id),"
    " p AS (INSERT INTO ledger_postings (transfer_id, customer_id, currency, account, amount)"
    " SELECT t.id, $4, $5, v.account, v.sign * $2"
    " FROM t CROSS JOIN (VALUES ('RESERVED', -1), ('AVAILABLE', 1)) AS v(account, sign))"
    " SELECT w.id AS wallet_id, w.available FROM w"
)


async def release_reservation(*, reservation_key: str, expired: bool = False) -> bool:
    """Give the reserved money back to available (status RELEASED, or EXPIRED when
    `expired`). True if this call released it; False if it already was released or lapsed;
    ReservationClosed if it was captured; UnknownReservation for a key never reserved."""
    reservation = await _reservation(reservation_key)
    if reservation is None:
        raise UnknownReservation()
    if reservation["status"] in ("RELEASED", "EXPIRED"):
        return False
    if reservation["status"] != "RESERVED":
        raise _closed(reservation)
    customer_id, currency = int(reservation["customer_id"]), reservation["currency"]
    amount = int(reservation["amount"])
    status = "EXPIRED" if expired else "RELEASED"

    async def work() -> bool:
        now = clock.now()
        async with in_transaction():
            if sql.is_postgres():
                moved = await sql.one(
                    _RELEASE, reservation["id"], amount, now, customer_id, currency, status
                )
                if moved is None:
                    raise _NotOpen()
                wallet_id, available = moved["wallet_id"], int(moved["available"])
                if _is_due(reservation["next_change_at"], now):
                    await _settle(customer_id, currency, now)  # it expires what is due
                    return True
            else:
                wallet = await _settle(customer_id, currency, now)
                assert wallet is not None
                released = await sql.one(
                    "UPDATE ledger_entries SET status = ?, updated_at = ?"
                    " WHERE id = ? AND status = 'RESERVED' RETURNING id",
                    status,
                    now,
                    reservation["id"],
                )
                if released is None:
                    raise _NotOpen()
                await _transfer(
                    customer_id=customer_id,
                    currency=currency,
                    kind="RELEASE",
                    entry_id=reservation["id"],
                    postings=[(RESERVED, -amount), (AVAILABLE, amount)],
                    now=now,
                )
                wallet_id, available = wallet["id"], int(wallet["available"])
                await sql.execute(
                    "UPDATE ledger_wallets SET reserved = reserved - ?,"
                    " available = available + ?, updated_at = ? WHERE id = ?",
                    amount,
                    amount,
                    now,
                    wallet_id,
                )
                available += amount
            # Lots that reached their expiry while this reservation held them expire now.
            expired_total = await _expire_due_lots(customer_id, currency, now, limit=available)
            await _refresh_wallet(wallet_id, customer_id, currency, now, available=-expired_total)
            return True

    try:
        return await _run(work)
    except _NotOpen:
        current = await _reservation(reservation_key)
        assert current is not None
        if current["status"] == "COMPLETED":
            raise _closed(current) from None
        return False


async def reservation_status(*, reservation_key: str) -> str | None:
    """RESERVED, CAPTURED, RELEASED or EXPIRED (a lapsed one is released first); None if
    no reservation has this key."""
    reservation = await _reservation(reservation_key)
    if reservation is None:
        return None
    now = clock.now()
    if reservation["status"] == "RESERVED" and _lapsed(reservation, now):
        await _settle_wallet(int(reservation["customer_id"]), reservation["currency"], now)
        reservation = await _reservation(reservation_key)
        assert reservation is not None
    return _RESERVATION_STATUS[reservation["status"]]


# --------------------------------------------------------------------------- totals


async def program_totals(*, currency: str, start: datetime, end: datetime) -> ProgramTotals:
    """Credits issued, redeemed (captured), expired and taken back in [start, end), and the
    outstanding liability now (pending + available + reserved of every wallet)."""
    moved = await sql.rows(
        "SELECT t.kind AS kind, p.account AS account, SUM(p.amount) AS total"
        " FROM ledger_postings p JOIN ledger_transfers t ON t.id = p.transfer_id"
        " WHERE p.currency = ? AND t.created_at >= ? AND t.created_at < ?"
        " AND t.kind IN ('CREDIT', 'CAPTURE', 'EXPIRE', 'TAKE_BACK')"
        " AND p.account IN ('FUNDING', 'SPENT', 'EXPIRED', 'CLAWBACK')"
        " GROUP BY t.kind, p.account",
        currency,
        sql.utc(start),
        sql.utc(end),
    )
    sums = {(row["kind"], row["account"]): int(row["total"]) for row in moved}
    outstanding = await sql.one(
        "SELECT COALESCE(SUM(available + pending + reserved), 0) AS total FROM ledger_wallets"
        " WHERE currency = ?",
        currency,
    )
    return ProgramTotals(
        currency=currency,
        issued=-sums.get(("CREDIT", FUNDING), 0),
        redeemed=sums.get(("CAPTURE", SPENT), 0),
        expired=sums.get(("EXPIRE", EXPIRED), 0),
        taken_back=sums.get(("TAKE_BACK", FUNDING), 0),
        clawed_back=-sums.get(("TAKE_BACK", CLAWBACK), 0),
        outstanding=int(outstanding["total"]) if outstanding else 0,
    )


# --------------------------------------------------------------------------- reconciling


async def reconcile() -> list[str]:
    """Every inconsistency found; an empty list means the ledger is consistent:
    each transfer's postings sum to zero, the postings of every customer account sum to the
    wallet's stored total, the wallet's totals equal what its lots hold by state and what its
    open reservations hold, no lot's remaining is negative or above its amount, the program's
    SPENT / EXPIRED / CLAWBACK postings match what the lots record, and every wallet will
    settle in time."""
    from app.ledger.consistency import problems

    return await problems()
