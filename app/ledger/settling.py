"""Time moves money by itself: lots mature and expire, reservations lapse. A wallet applies
all of it when it is next touched after its `next_change_at` (so balances are right with
no background job), and a worker does the same in bulk."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
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


MaturedListener = Callable[[Sequence[Matured]], Awaitable[None]]
_MATURED_LISTENERS: list[MaturedListener] = []


def on_lots_matured(listener: MaturedListener) -> MaturedListener:
    """Run `listener` inside the transaction that makes pending credits available, so what
    it writes commits (or not) with them: with one wallet's credits when a wallet settles,
    with a whole batch's when the worker settles in bulk. For features the ledger must
    not know of."""
    if listener not in _MATURED_LISTENERS:
        _MATURED_LISTENERS.append(listener)
    return listener


async def _matured(events: Sequence[Matured]) -> None:
    if events:
        for listener in _MATURED_LISTENERS:
            await listener(events)


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
        await _matured([event])
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

# PostgreSQL, for a worker: a batch of due wallets settled in two statements instead of
# some eight per wallet. The first claims the wallets (SKIP LOCKED), matures their due
# lots, moves those lots' entries to AVAILABLE, writes one MATURE transfer with its two
# postings per wallet (exactly what `settle` writes) and moves the wallets' totals. It
# answers, per wallet, whether anything else is due (an available lot expiring, a
# reservation lapsing): those wallets go through `settle`, which finds their lots already
# matured; the others get their schedule recomputed by the second statement.
_MATURE_DUE_BATCH = (
    "WITH due AS (SELECT id, customer_id, currency FROM ledger_wallets"
    "  WHERE next_change_at <= $1 ORDER BY next_change_at LIMIT $2 FOR UPDATE SKIP LOCKED),"
    " matured AS (UPDATE ledger_lots l SET state = 'AVAILABLE' FROM due"
    "  WHERE l.customer_id = due.customer_id AND l.currency = due.currency"
    "  AND l.state = 'PENDING' AND l.available_at <= $1"
    "  RETURNING l.id, l.entry_id, l.remaining, l.customer_id, l.currency),"
    " entries AS (UPDATE ledger_entries e SET status = 'AVAILABLE', updated_at = $1"
    "  FROM matured m WHERE e.id = m.entry_id AND e.status = 'PENDING'),"
    " sums AS (SELECT customer_id, currency, SUM(remaining) AS total,"
    "  array_agg(id ORDER BY id) AS lots FROM matured GROUP BY customer_id, currency),"
    " t AS (INSERT INTO ledger_transfers (customer_id, currency, kind, entry_id, details,"
    "  created_at) SELECT customer_id, currency, 'MATURE', NULL,"
    "  jsonb_build_object('lots', lots), $1 FROM sums WHERE total <> 0"
    "  ORDER BY customer_id, currency RETURNING id, customer_id, currency),"
    " p AS (INSERT INTO ledger_postings"
    "  (transfer_id, customer_id, currency, account, amount, created_at)"
    "  SELECT t.id, t.customer_id, t.currency, v.account, v.sign * s.total, $1"
    "  FROM t JOIN sums s ON s.customer_id = t.customer_id AND s.currency = t.currency"
    "  CROSS JOIN (VALUES ('PENDING', -1), ('AVAILABLE', 1)) AS v(account, sign)),"
    " w AS (UPDATE ledger_wallets w SET available = w.available + s.total,"
    "  pending = w.pending - s.total, updated_at = $1 FROM sums s"
    "  WHERE w.customer_id = s.customer_id AND w.currency = s.currency AND s.total <> 0)"
    " SELECT due.id, due.customer_id, due.currency,"
    "  (EXISTS (SELECT 1 FROM ledger_lots l WHERE l.customer_id = due.customer_id"
    "    AND l.currency = due.currency AND l.state IN ('PENDING', 'AVAILABLE')"
    "    AND l.expires_at <= $1)"
    "   OR EXISTS (SELECT 1 FROM ledger_entries e WHERE e.customer_id = due.customer_id"
    "    AND e.currency = due.currency AND e.kind = 'REDEMPTION' AND e.status = 'RESERVED'"
    "    AND e.expires_at <= $1)) AS more_due, s.total AS matured, s.lots AS matured_lots"
    " FROM due LEFT JOIN sums s ON s.customer_id = due.customer_id"
    "  AND s.currency = due.currency"
)
# The same schedule as `wallets.refresh`, for many wallets at once.
_RESCHEDULE_BATCH = (
    "UPDATE ledger_wallets w SET next_change_at = LEAST(s.next_mature, s.next_expiry,"
    "  s.next_lapse), next_expiry_at = s.next_expiry,"
    "  next_expiry_amount = (SELECT SUM(l.remaining) FROM ledger_lots l"
    "   WHERE l.customer_id = w.customer_id AND l.currency = w.currency"
    "   AND l.state = 'AVAILABLE' AND l.expires_at = s.next_expiry), updated_at = $1"
    " FROM (SELECT w2.id,"
    "  (SELECT MIN(available_at) FROM ledger_lots WHERE customer_id = w2.customer_id"
    "    AND currency = w2.currency AND state = 'PENDING') AS next_mature,"
    "  (SELECT MIN(expires_at) FROM ledger_lots WHERE customer_id = w2.customer_id"
    "    AND currency = w2.currency AND state = 'AVAILABLE' AND expires_at > $1)"
    "    AS next_expiry,"
    "  (SELECT MIN(expires_at) FROM ledger_entries WHERE customer_id = w2.customer_id"
    "    AND currency = w2.currency AND kind = 'REDEMPTION' AND status = 'RESERVED')"
    "    AS next_lapse"
    "  FROM ledger_wallets w2 WHERE w2.id = ANY($2::bigint[])) AS s"
    " WHERE w.id = s.id"
)
# Wallets per transaction: on PostgreSQL a batch is two statements, so larger batches
# save round trips; SQLite settles one wallet at a time anyway.
_BATCH = {"postgres": 500, "sqlite": 50}


async def _settle_batch(now: datetime, batch: int) -> int:
    """One transaction: up to `batch` due wallets settled. How many."""
    async with in_transaction():
        if db.dialect() != "postgres":
            due = await db.rows(_CLAIM_DUE, now, batch)
            for wallet in due:
                await settle(wallet["customer_id"], wallet["currency"], now)
            return len(due)
        client = db.connection()
        claimed = await client.execute_query_dict(_MATURE_DUE_BATCH, [now, batch])
        await _matured(
            [
                Matured(
                    customer_id=int(row["customer_id"]),
                    currency=str(row["currency"]),
                    amount=int(row["matured"]),
                    lot_ids=tuple(int(lot) for lot in row["matured_lots"]),
                    at=now,
                )
                for row in claimed
                if row["matured"]
            ]
        )
        done = [row["id"] for row in claimed if not row["more_due"]]
        if done:
            await client.execute_query(_RESCHEDULE_BATCH, [now, done])
        for wallet in claimed:
            if wallet["more_due"]:
                await settle(wallet["customer_id"], wallet["currency"], now)
        return len(claimed)


async def settle_due_wallets(limit: int = 500) -> int:
    """Settle up to `limit` wallets whose next change has passed (for a worker; several
    workers may run: each claims its wallets with FOR UPDATE SKIP LOCKED). How many."""
    now = clock.now()
    done = 0
    while done < limit:
        batch = min(_BATCH[db.dialect()], limit - done)

        async def work(batch: int = batch) -> int:
            return await _settle_batch(now, batch)

        settled = await db.retrying(work)
        done += settled
        if settled < batch:
            break
    return done
