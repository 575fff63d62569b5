"""Holding money for a redemption, then spending or returning it. A reservation is the
REDEMPTION entry keyed by `reservation_key`; it holds money, not lots, and draws the lots
only when it is captured. On PostgreSQL each step is one or two statements, so a busy
wallet is never locked across a round trip to the client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import TransactionalDBClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import db
from app.core import clock
from app.core.errors import ErrorCode, InvalidAmount, InvalidInput
from app.ledger import wallets
from app.ledger.errors import (
    InsufficientBalance,
    ReservationClosed,
    ReservationExpired,
    UnknownReservation,
)
from app.ledger.postings import LotChange, apply_lot_changes, transfer, transfer_in_statement
from app.ledger.settling import expire_due_lots, settle, settle_wallet
from app.ledger.values import AVAILABLE, LOT_CLOSED, RESERVED, SPENT, utc

_RESERVATION_STATUS = {
    "RESERVED": "RESERVED",
    "COMPLETED": "CAPTURED",
    "RELEASED": "RELEASED",
    "EXPIRED": "EXPIRED",
}


class _SettleFirst(Exception):
    """The fast path met a wallet that must settle (or changed) first: settle, try again."""


class _NotOpen(Exception):
    """A reservation changed state under us: roll back and report what it became."""


# --------------------------------------------------------------------------- reserving


@dataclass(frozen=True)
class ReservationRequest:
    """One reservation as `reserve` was asked for it, checked (description cut to its
    column, expiry in aware UTC)."""

    customer_id: int
    currency: str
    amount: int
    reservation_key: str
    expires_at: datetime
    merchant_id: int | None
    description: str
    source_type: str | None
    source_id: int | None


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
    expires_at = utc(expires_at)
    if expires_at <= clock.now():
        raise InvalidInput("A reservation must expire in the future.")
    request = ReservationRequest(
        customer_id=customer_id,
        currency=currency,
        amount=amount,
        reservation_key=reservation_key,
        expires_at=expires_at,
        merchant_id=merchant_id,
        description=description[:500],
        source_type=source_type,
        source_id=source_id,
    )
    for _ in range(3):

        async def work() -> None:
            now = clock.now()
            if db.dialect() == "postgres":
                await _reserve_in_one_statement(request, now)
            else:
                async with in_transaction():
                    await _reserve(request, now)

        try:
            return await db.retrying(work)
        except _SettleFirst:
            await settle_wallet(customer_id, currency, clock.now())
    # Other movements kept changing the wallet under the fast path: take the wallet's lock,
    # settle, and decide once. A refusal now means the money really is short.
    await db.retrying(lambda: _reserve_locked(request))


async def _reserve_locked(request: ReservationRequest) -> None:
    now = clock.now()
    async with in_transaction():
        await settle(request.customer_id, request.currency, now)
        try:
            await _reserve(request, now)
        except _SettleFirst as error:
            raise AssertionError("a wallet settled under its lock must not be due") from error


# PostgreSQL: the debit, the reservation entry, the transfer and its postings in one
# statement. Outside a caller's transaction it commits by itself, so the wallet row is
# locked only while the statement runs, never across a round trip to the client: many
# reservations on one wallet then queue for microseconds, not milliseconds.
_RESERVE_IN_ONE_STATEMENT = (
    "WITH w AS ("  # noqa: S608
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
    + transfer_in_statement(
        "RESERVE", after="e", entry_id="e.id", amount="$1", debit=AVAILABLE, credit=RESERVED
    )
    + " SELECT (SELECT id FROM e) AS entry_id"
)


async def _reserve_in_one_statement(request: ReservationRequest, now: datetime) -> None:
    r = request
    try:
        # A key reserved before moves nothing (the statement checks it), so no savepoint
        # is needed inside a caller's transaction (its release would be one more round
        # trip with the wallet locked). Only a key taken this very moment by another
        # transaction fails the statement (and with it a caller's transaction).
        row = await db.one(
            _RESERVE_IN_ONE_STATEMENT,
            r.amount,
            r.expires_at,
            now,
            r.customer_id,
            r.currency,
            r.description,
            r.merchant_id,
            r.source_type,
            r.source_id,
            r.reservation_key,
        )
    except IntegrityError:
        if isinstance(db.connection(), TransactionalDBClient):
            raise
        if await _same_reservation(r):
            return
        raise
    if row is not None and row["entry_id"] is not None:
        return
    if await _same_reservation(r):
        return
    await _refuse_reservation(r, now)


async def _same_reservation(request: ReservationRequest) -> bool:
    """True if its key already reserved this; IDEMPOTENCY_KEY_REUSED if it reserved
    something else; False if it is free."""
    first = await db.one(
        "SELECT customer_id, currency, amount FROM ledger_entries WHERE reservation_key = ?",
        request.reservation_key,
    )
    if first is None:
        return False
    if (int(first["customer_id"]), first["currency"], int(first["amount"])) == (
        request.customer_id,
        request.currency,
        request.amount,
    ):
        return True
    raise InvalidInput(
        "This reservation key was used for another reservation.",
        code=ErrorCode.IDEMPOTENCY_KEY_REUSED,
    )


async def _refuse_reservation(request: ReservationRequest, now: datetime) -> None:
    """The conditional debit moved nothing: settle and try again if the wallet was due (or
    has changed since), else the balance is too low."""
    wallet = await db.one(
        "SELECT available, next_change_at FROM ledger_wallets"
        " WHERE customer_id = ? AND currency = ?",
        request.customer_id,
        request.currency,
    )
    if wallet is not None and (
        wallets.is_due(wallet["next_change_at"], now) or int(wallet["available"]) >= request.amount
    ):
        raise _SettleFirst()
    raise InsufficientBalance()


async def _reserve(request: ReservationRequest, now: datetime) -> None:
    r = request
    inserted = await db.one(
        "INSERT INTO ledger_entries (customer_id, currency, kind, status, amount, occurred_at,"
        " expires_at, description, merchant_id, source_type, source_id, reservation_key,"
        " created_at, updated_at) VALUES (?, ?, 'REDEMPTION', 'RESERVED', ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?, ?) ON CONFLICT (reservation_key) DO NOTHING RETURNING id",
        r.customer_id,
        r.currency,
        r.amount,
        now,
        r.expires_at,
        r.description,
        r.merchant_id,
        r.source_type,
        r.source_id,
        r.reservation_key,
        now,
        now,
    )
    if inserted is None:
        if await _same_reservation(r):
            return
        raise AssertionError("a reservation key that is taken and free at once")
    await transfer(
        customer_id=r.customer_id,
        currency=r.currency,
        kind="RESERVE",
        entry_id=inserted["id"],
        postings=[(AVAILABLE, -r.amount), (RESERVED, r.amount)],
        now=now,
    )
    # The debit: one conditional statement, last, so the wallet stays locked only until
    # the commit. It refuses a wallet that must settle first.
    moved = await db.execute(
        "UPDATE ledger_wallets SET available = available - ?, reserved = reserved + ?,"
        " next_change_at = CASE WHEN next_change_at IS NULL OR next_change_at > ?"
        "   THEN ? ELSE next_change_at END, updated_at = ?"
        " WHERE customer_id = ? AND currency = ? AND available >= ?"
        " AND (next_change_at IS NULL OR next_change_at > ?)",
        r.amount,
        r.amount,
        r.expires_at,
        r.expires_at,
        now,
        r.customer_id,
        r.currency,
        r.amount,
        now,
    )
    if not moved:
        await _refuse_reservation(r, now)


# --------------------------------------------------------------------------- an open one


async def _reservation(reservation_key: str) -> dict[str, Any] | None:
    """The reservation and whether its wallet must settle first, in one statement."""
    return await db.one(
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
    expires_at = db.to_datetime(reservation["expires_at"])
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
    if wallets.is_due(reservation["next_change_at"], now):
        await settle_wallet(int(reservation["customer_id"]), reservation["currency"], now)
        return await _open_reservation(reservation_key)
    if _lapsed(reservation, now):  # lapsing this very moment: settled on the next try
        raise ReservationExpired()
    return reservation


# --------------------------------------------------------------------------- capturing


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
            if db.dialect() == "postgres":
                return await _capture_on_postgres(reservation, now)
            wallet = await settle(customer_id, currency, now)
            assert wallet is not None
            captured = await db.one(
                "UPDATE ledger_entries SET status = 'COMPLETED', updated_at = ?"
                " WHERE id = ? AND status = 'RESERVED' AND expires_at > ? RETURNING id",
                now,
                reservation["id"],
                now,
            )
            if captured is None:
                raise _NotOpen()
            await _draw_lots(customer_id, currency, amount)
            await transfer(
                customer_id=customer_id,
                currency=currency,
                kind="CAPTURE",
                entry_id=reservation["id"],
                postings=[(RESERVED, -amount), (SPENT, amount)],
                now=now,
            )
            await wallets.refresh(wallet["id"], customer_id, currency, now, reserved=-amount)
            return True

    try:
        return await db.retrying(work)
    except _NotOpen:
        current = await _reservation(reservation_key)
        assert current is not None
        if current["status"] == "COMPLETED":
            return False
        if current["status"] == "RESERVED":  # it lapsed this very moment
            await settle_wallet(customer_id, currency, clock.now())
            raise ReservationExpired() from None
        raise _closed(current) from None


# PostgreSQL: the reservation closes (its row locked first: captures, releases and lapses
# of one reservation queue there), then the wallet, the transfer and its postings move,
# in one statement. The lots are drawn by a second statement, whose snapshot is taken
# once the wallet is ours; it also works out what expires next from what it drew. So the
# wallet stays locked for two round trips (the draw and the commit).
_CAPTURE = (
    "WITH e AS (UPDATE ledger_entries SET status = 'COMPLETED', updated_at = $3"  # noqa: S608
    " WHERE id = $1 AND status = 'RESERVED' AND expires_at > $3 RETURNING id),"
    " w AS (UPDATE ledger_wallets SET reserved = reserved - $2, updated_at = $3"
    " WHERE customer_id = $4 AND currency = $5 AND EXISTS (SELECT 1 FROM e) RETURNING id),"
    + transfer_in_statement(
        "CAPTURE", after="w", entry_id="$1", amount="$2", debit=RESERVED, credit=SPENT
    )
    + " SELECT (SELECT id FROM w) AS wallet_id"
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
    moved = await db.one(_CAPTURE, reservation["id"], amount, now, customer_id, currency)
    if moved is None or moved["wallet_id"] is None:
        raise _NotOpen()
    drawn = await db.one(_DRAW, amount, customer_id, currency, now, moved["wallet_id"])
    if drawn is None or int(drawn["drawn"]) != amount:
        raise AssertionError(f"lots hold {drawn and drawn['drawn']} of the {amount} reserved")
    return True


async def _draw_lots(customer_id: int, currency: str, amount: int) -> None:
    """Spend `amount` from the available lots, soonest-expiring first (one statement finds
    just the lots needed, however many there are)."""
    lots = await db.rows(
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
        changes.append(LotChange(id=lot["id"], state=state, spent=take))
    if left:
        raise AssertionError(f"lots hold {amount - left} of the {amount} reserved")
    await apply_lot_changes(changes)


# --------------------------------------------------------------------------- releasing

# PostgreSQL: the reservation, then its wallet, as a capture takes them.
_RELEASE = (
    "WITH e AS (UPDATE ledger_entries SET status = $6, updated_at = $3"  # noqa: S608
    " WHERE id = $1 AND status = 'RESERVED' RETURNING id),"
    " w AS (UPDATE ledger_wallets SET reserved = reserved - $2, available = available + $2,"
    " updated_at = $3 WHERE customer_id = $4 AND currency = $5 AND EXISTS (SELECT 1 FROM e)"
    " RETURNING id, available),"
    + transfer_in_statement(
        "RELEASE", after="w", entry_id="$1", amount="$2", debit=RESERVED, credit=AVAILABLE
    )
    + " SELECT w.id AS wallet_id, w.available FROM w"
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
            if db.dialect() == "postgres":
                moved = await db.one(
                    _RELEASE, reservation["id"], amount, now, customer_id, currency, status
                )
                if moved is None:
                    raise _NotOpen()
                wallet_id, available = moved["wallet_id"], int(moved["available"])
                if wallets.is_due(reservation["next_change_at"], now):
                    await settle(customer_id, currency, now)  # it expires what is due
                    return True
            else:
                wallet = await settle(customer_id, currency, now)
                assert wallet is not None
                released = await db.one(
                    "UPDATE ledger_entries SET status = ?, updated_at = ?"
                    " WHERE id = ? AND status = 'RESERVED' RETURNING id",
                    status,
                    now,
                    reservation["id"],
                )
                if released is None:
                    raise _NotOpen()
                await transfer(
                    customer_id=customer_id,
                    currency=currency,
                    kind="RELEASE",
                    entry_id=reservation["id"],
                    postings=[(RESERVED, -amount), (AVAILABLE, amount)],
                    now=now,
                )
                wallet_id, available = wallet["id"], int(wallet["available"])
                await db.execute(
                    "UPDATE ledger_wallets SET reserved = reserved - ?,"
                    " available = available + ?, updated_at = ? WHERE id = ?",
                    amount,
                    amount,
                    now,
                    wallet_id,
                )
                available += amount
            # Lots that reached their expiry while this reservation held them expire now.
            expired_total = await expire_due_lots(customer_id, currency, now, limit=available)
            await wallets.refresh(wallet_id, customer_id, currency, now, available=-expired_total)
            return True

    try:
        return await db.retrying(work)
    except _NotOpen:
        current = await _reservation(reservation_key)
        assert current is not None
        if current["status"] == "COMPLETED":
            raise _closed(current) from None
        return False


# --------------------------------------------------------------------------- status


async def reservation_status(*, reservation_key: str) -> str | None:
    """RESERVED, CAPTURED, RELEASED or EXPIRED (a lapsed one is released first); None if
    no reservation has this key."""
    reservation = await _reservation(reservation_key)
    if reservation is None:
        return None
    now = clock.now()
    if reservation["status"] == "RESERVED" and _lapsed(reservation, now):
        await settle_wallet(int(reservation["customer_id"]), reservation["currency"], now)
        reservation = await _reservation(reservation_key)
        assert reservation is not None
    return _RESERVATION_STATUS[reservation["status"]]
