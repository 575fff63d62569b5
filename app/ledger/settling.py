"""Time moves money by itself: lots mature and expire, reservations lapse. A wallet applies
all of it when it is next touched after its `next_change_at` (so balances are right with
no background job), and a worker does the same in bulk."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from app import db
from app.core import clock
from app.ledger import wallets
from app.ledger.postings import LotChange, apply_lot_changes, set_status, transfer
from app.ledger.values import AVAILABLE, EXPIRED, LOT_EXPIRED, PENDING, RESERVED


@dataclass(frozen=True, slots=True)
class Matured:
    """Pending credits of a wallet that became available together (at one settle)."""

    customer_id: int
    currency: str
    amount: int
    lot_ids: tuple[int, ...]
    at: datetime


MaturedListener = Callable[[Matured], Awaitable[None]]
_MATURED_LISTENERS: list[MaturedListener] = []


def on_lots_matured(listener: MaturedListener) -> MaturedListener:
    """Run `listener` inside the transaction that makes pending credits available, so what
    it writes commits (or not) with them. For features the ledger must not know of."""
    if listener not in _MATURED_LISTENERS:
        _MATURED_LISTENERS.append(listener)
    return listener


async def expire_due_lots(customer_id: int, currency: str, now: datetime, *, limit: int) -> int:
    """Expire the available lots whose time has come, soonest first, but no more than
    `limit` (the money not held by reservations). What it moved to EXPIRED."""
    if limit <= 0:
        return 0
    due = await db.rows(
        "SELECT id, entry_id, remaining, merchant_id, source_type, source_id, expires_at"
        " FROM ledger_lots WHERE customer_id = ? AND currency = ? AND state = 'AVAILABLE'"
        " AND expires_at <= ? ORDER BY expires_at, id",
        customer_id,
        currency,
        now,
    )
    left = limit
    changes: list[LotChange] = []
    entries: list[list[Any]] = []
    fully_expired: list[int] = []
    for lot in due:
        if left <= 0:
            break
        amount = min(int(lot["remaining"]), left)
        left -= amount
        whole = amount == int(lot["remaining"])
        changes.append(
            LotChange(id=lot["id"], state=LOT_EXPIRED if whole else AVAILABLE, expired=amount)
        )
        if whole:
            fully_expired.append(lot["entry_id"])
        expires_at = db.to_datetime(lot["expires_at"])
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
                db.to_json({"lot_id": lot["id"]}),
                now,
                now,
            ]
        )
    if not changes:
        return 0
    total = limit - left
    await apply_lot_changes(changes)
    await db.execute_many(
        "INSERT INTO ledger_entries (customer_id, currency, kind, status, amount, occurred_at,"
        " available_at, expires_at, description, merchant_id, source_type, source_id, details,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        entries,
    )
    await set_status(fully_expired, "EXPIRED", now, was=AVAILABLE)
    await transfer(
        customer_id=customer_id,
        currency=currency,
        kind="EXPIRE",
        entry_id=None,
        postings=[(AVAILABLE, -total), (EXPIRED, total)],
        now=now,
        details={"lots": [c.id for c in changes]},
    )
    return total


async def settle(customer_id: int, currency: str, now: datetime) -> dict[str, Any] | None:
    """Inside the caller's transaction: lock the wallet and apply everything due by `now`
    (lots mature, lapsed reservations are released, lots expire). The wallet row after;
    None if none."""
    wallet = await wallets.lock(customer_id, currency)
    if wallet is None or not wallets.is_due(wallet["next_change_at"], now):
        return wallet
    matured = await db.rows(
        "UPDATE ledger_lots SET state = 'AVAILABLE' WHERE customer_id = ? AND currency = ?"
        " AND state = 'PENDING' AND available_at <= ? RETURNING id, entry_id, remaining",
        customer_id,
        currency,
        now,
    )
    matured_total = sum(int(lot["remaining"]) for lot in matured)
    if matured:
        await set_status([lot["entry_id"] for lot in matured], AVAILABLE, now, was=PENDING)
        await transfer(
            customer_id=customer_id,
            currency=currency,
            kind="MATURE",
            entry_id=None,
            postings=[(PENDING, -matured_total), (AVAILABLE, matured_total)],
            now=now,
            details={"lots": [lot["id"] for lot in matured]},
        )
        event = Matured(
            customer_id=customer_id,
            currency=currency,
            amount=matured_total,
            lot_ids=tuple(sorted(int(lot["id"]) for lot in matured)),
            at=now,
        )
        for listener in _MATURED_LISTENERS:
            await listener(event)
    lapsed = await db.rows(
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
        await transfer(
            customer_id=customer_id,
            currency=currency,
            kind="RELEASE",
            entry_id=reservation["id"],
            postings=[(RESERVED, -amount), (AVAILABLE, amount)],
            now=now,
            details={"lapsed": True},
        )
    available = int(wallet["available"]) + matured_total + released_total
    expired_total = await expire_due_lots(customer_id, currency, now, limit=available)
    return await wallets.refresh(
        wallet["id"],
        customer_id,
        currency,
        now,
        available=matured_total + released_total - expired_total,
        pending=-matured_total,
        reserved=-released_total,
    )


async def settle_wallet(customer_id: int, currency: str, now: datetime) -> dict[str, Any] | None:
    """`settle` in a transaction of its own (retried after a deadlock or serialization
    failure), for a read or a write that found the wallet due before it began its own."""

    async def work() -> dict[str, Any] | None:
        async with in_transaction():
            return await settle(customer_id, currency, now)

    return await db.retrying(work)


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
                due = await db.rows(
                    _CLAIM_DUE_FOR_UPDATE if db.dialect() == "postgres" else _CLAIM_DUE,
                    now,
                    batch,
                )
                for wallet in due:
                    await settle(wallet["customer_id"], wallet["currency"], now)
                return len(due)

        settled = await db.retrying(work)
        done += settled
        if settled < batch:
            break
    return done
