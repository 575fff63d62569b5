"""Reconciliation: does every number the ledger stores agree with every other?

Read-only, whole-table aggregates: for tests after every money test and for
`python -m app check-ledger` on a live database (it takes a consistent snapshot on
PostgreSQL so concurrent traffic does not show up as false alarms).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import TransactionalDBClient
from tortoise.transactions import in_transaction

from app import db
from app.core import clock

Wallet = tuple[int, str]


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


async def reconcile() -> list[str]:
    """Every inconsistency found; an empty list means the ledger is consistent:
    each transfer's postings sum to zero, the postings of every customer account sum to the
    wallet's stored total, the wallet's totals equal what its lots hold by state and what its
    open reservations hold, no lot's remaining is negative or above its amount, the program's
    SPENT / EXPIRED / CLAWBACK / FORFEITED postings match what the lots record, every
    posting carries its transfer's time and sign as the books read them, and every wallet
    will settle in time."""
    if isinstance(db.connection(), TransactionalDBClient):  # inside a caller's transaction
        return await _problems(clock.now())
    async with in_transaction():
        if db.dialect() == "postgres":
            await db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return await _problems(clock.now())


async def _problems(now: datetime) -> list[str]:
    found: list[str] = []

    for row in await db.rows(
        "SELECT transfer_id, SUM(amount) AS total, COUNT(*) AS lines FROM ledger_postings"
        " GROUP BY transfer_id HAVING SUM(amount) <> 0 OR COUNT(*) < 2"
    ):
        found.append(
            f"transfer {row['transfer_id']}: {row['lines']} postings summing to {row['total']}"
        )
    for row in await db.rows(
        "SELECT t.id FROM ledger_transfers t"
        " WHERE NOT EXISTS (SELECT 1 FROM ledger_postings p WHERE p.transfer_id = t.id)"
    ):
        found.append(f"transfer {row['id']} has no postings")
    found += await _postings_as_the_books_read_them()

    wallets: dict[Wallet, dict[str, Any]] = {
        (int(w["customer_id"]), w["currency"]): w
        for w in await db.rows(
            "SELECT customer_id, currency, available, pending, reserved, lifetime_earned,"
            " next_change_at FROM ledger_wallets"
        )
    }
    for key, wallet in wallets.items():
        for total in ("available", "pending", "reserved", "lifetime_earned"):
            if _int(wallet[total]) < 0:
                found.append(f"wallet {key}: {total} is negative ({wallet[total]})")

    accounts: dict[Wallet, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in await db.rows(
        "SELECT customer_id, currency, account, SUM(amount) AS total FROM ledger_postings"
        " GROUP BY customer_id, currency, account"
    ):
        accounts[(int(row["customer_id"]), row["currency"])][row["account"]] = _int(row["total"])

    lots: dict[Wallet, dict[str, Any]] = {
        (int(row["customer_id"]), row["currency"]): row
        for row in await db.rows(
            "SELECT customer_id, currency,"
            " SUM(CASE WHEN state = 'PENDING' THEN remaining ELSE 0 END) AS pending,"
            " SUM(CASE WHEN state = 'AVAILABLE' THEN remaining ELSE 0 END) AS available,"
            " SUM(spent) AS spent, SUM(expired) AS expired, SUM(clawed_back) AS clawed_back,"
            " SUM(CASE WHEN state = 'FORFEITED' THEN remaining ELSE 0 END) AS forfeited,"
            " SUM(amount - taken_back - clawed_back) AS earned"
            " FROM ledger_lots GROUP BY customer_id, currency"
        )
    }
    held: dict[Wallet, int] = {
        (int(row["customer_id"]), row["currency"]): _int(row["total"])
        for row in await db.rows(
            "SELECT customer_id, currency, SUM(amount) AS total FROM ledger_entries"
            " WHERE kind = 'REDEMPTION' AND status = 'RESERVED' GROUP BY customer_id, currency"
        )
    }

    for key in sorted(set(wallets) | set(accounts) | set(lots)):
        w = wallets.get(key)
        if w is None:
            found.append(f"wallet {key}: postings or lots but no wallet")
            continue
        posted = accounts.get(key, {})
        lot = lots.get(key, {})
        checks = [
            ("available", _int(w["available"]), posted.get("AVAILABLE", 0), "postings"),
            ("pending", _int(w["pending"]), posted.get("PENDING", 0), "postings"),
            ("reserved", _int(w["reserved"]), posted.get("RESERVED", 0), "postings"),
            ("lifetime_earned", _int(w["lifetime_earned"]), -posted.get("FUNDING", 0), "funding"),
            ("pending", _int(w["pending"]), _int(lot.get("pending")), "pending lots"),
            (
                "available + reserved",
                _int(w["available"]) + _int(w["reserved"]),
                _int(lot.get("available")),
                "available lots",
            ),
            ("reserved", _int(w["reserved"]), held.get(key, 0), "open reservations"),
            ("lifetime_earned", _int(w["lifetime_earned"]), _int(lot.get("earned")), "lots"),
            ("spent", posted.get("SPENT", 0), _int(lot.get("spent")), "lots"),
            ("expired", posted.get("EXPIRED", 0), _int(lot.get("expired")), "lots"),
            ("clawback", -posted.get("CLAWBACK", 0), _int(lot.get("clawed_back")), "lots"),
            ("forfeited", posted.get("FORFEITED", 0), _int(lot.get("forfeited")), "lots"),
        ]
        for name, stored, derived, source in checks:
            if stored != derived:
                found.append(f"wallet {key}: {name} is {stored} but its {source} say {derived}")

    for row in await db.rows(
        "SELECT id, state, amount, remaining, spent, expired, taken_back, clawed_back"
        " FROM ledger_lots WHERE remaining < 0 OR remaining > amount"
        " OR remaining + spent + expired + taken_back <> amount"
        " OR taken_back + clawed_back > amount"
        " OR (state IN ('CLOSED', 'EXPIRED') AND remaining <> 0)"
        " OR (state IN ('PENDING', 'AVAILABLE', 'FORFEITED') AND remaining <= 0)"
    ):
        found.append(f"lot {row['id']}: inconsistent {dict(row)}")

    found.extend(await _schedule_problems(wallets, now))
    return found


async def _schedule_problems(wallets: dict[Wallet, dict[str, Any]], now: datetime) -> list[str]:
    """Every wallet will settle in time: nothing matures, lapses or expires before its
    `next_change_at`, and what is past its expiry is held by open reservations."""
    found = []
    firsts: dict[Wallet, dict[str, Any]] = defaultdict(dict)
    for row in await db.rows(
        "SELECT customer_id, currency, MIN(available_at) AS at FROM ledger_lots"
        " WHERE state = 'PENDING' GROUP BY customer_id, currency"
    ):
        firsts[(int(row["customer_id"]), row["currency"])]["maturing"] = row["at"]
    for row in await db.rows(
        "SELECT customer_id, currency, MIN(expires_at) AS at FROM ledger_entries"
        " WHERE kind = 'REDEMPTION' AND status = 'RESERVED' GROUP BY customer_id, currency"
    ):
        firsts[(int(row["customer_id"]), row["currency"])]["lapsing"] = row["at"]
    for row in await db.rows(
        "SELECT customer_id, currency, MIN(expires_at) AS at FROM ledger_lots"
        " WHERE state = 'AVAILABLE' AND expires_at > ? GROUP BY customer_id, currency",
        now,
    ):
        firsts[(int(row["customer_id"]), row["currency"])]["expiring"] = row["at"]
    overdue = {
        (int(row["customer_id"]), row["currency"]): _int(row["total"])
        for row in await db.rows(
            "SELECT customer_id, currency, SUM(remaining) AS total FROM ledger_lots"
            " WHERE state = 'AVAILABLE' AND expires_at <= ? GROUP BY customer_id, currency",
            now,
        )
    }
    for key, w in wallets.items():
        next_change = db.to_datetime(w["next_change_at"])
        if next_change is not None and next_change <= now:
            continue  # due: the next read or write settles it
        for what, at in firsts.get(key, {}).items():
            moment = db.to_datetime(at)
            if moment is not None and (next_change is None or moment < next_change):
                found.append(
                    f"wallet {key}: something is {what} at {moment} but it settles only at"
                    f" {next_change}"
                )
        if overdue.get(key, 0) > _int(w["reserved"]):
            found.append(
                f"wallet {key}: {overdue[key]} past its expiry but only {w['reserved']} reserved"
            )
    return found


async def _postings_as_the_books_read_them() -> list[str]:
    """The books of a period (app/ledger/reporting.py) read the postings alone: each must
    carry its transfer's time, FUNDING must move out only by credits and in only by
    take-backs, and CLAWBACK only by take-backs."""
    return [
        f"transfer {row['transfer_id']}: a {row['account']} posting the books would misread"
        for row in await db.rows(
            "SELECT p.transfer_id, p.account FROM ledger_postings p"
            " JOIN ledger_transfers t ON t.id = p.transfer_id"
            " WHERE p.created_at IS NULL OR p.created_at <> t.created_at"
            " OR (p.account = 'FUNDING' AND NOT ((t.kind = 'CREDIT' AND p.amount < 0)"
            " OR (t.kind = 'TAKE_BACK' AND p.amount > 0)))"
            " OR (p.account = 'CLAWBACK' AND t.kind <> 'TAKE_BACK')"
        )
    ]
