"""The wallet row: a customer's totals in one currency and the next moment they change by
themselves. Locking it, applying a movement's deltas and working out that moment live
here, so every path keeps the schedule the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app import db

_WALLET = (
    "SELECT id, available, pending, reserved, lifetime_earned, next_change_at,"
    " next_expiry_amount, next_expiry_at FROM ledger_wallets"
    " WHERE customer_id = ? AND currency = ?"
)
_WALLET_FOR_UPDATE = _WALLET + " FOR UPDATE"


async def lock(customer_id: int, currency: str) -> dict[str, Any] | None:
    """Inside a transaction: the wallet row, locked until the commit; None if none."""
    # SQLite has no row locks: a transaction there holds the whole database.
    statement = _WALLET_FOR_UPDATE if db.dialect() == "postgres" else _WALLET
    return await db.one(statement, customer_id, currency)


def is_due(next_change_at: Any, now: datetime) -> bool:
    """Whether a wallet whose next change is `next_change_at` must settle by `now`."""
    moment = db.to_datetime(next_change_at)
    return moment is not None and moment <= now


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


async def refresh(
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
    schedule = await db.one(_SCHEDULE, *w, *w, *w, now, *w)
    assert schedule is not None
    moments = [db.to_datetime(schedule[k]) for k in ("next_mature", "next_expiry", "next_lapse")]
    next_change = min((m for m in moments if m is not None), default=None)
    next_expiry_at = db.to_datetime(schedule["next_expiry"])
    next_expiry_amount = (
        int(schedule["next_expiry_amount"]) if schedule["next_expiry_amount"] is not None else None
    )
    updated = await db.one(
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
