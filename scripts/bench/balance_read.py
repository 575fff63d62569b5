"""Balance read cost against history: a wallet with 1 entry vs one with 100,000.

    .venv/bin/python scripts/bench/balance_read.py [--entries 100000] [--reads 3000]

Runs against PostgreSQL: DATABASE_URL, by default postgres://postgres@127.0.0.1:5432/
bench_ledger (created and migrated if missing). The two wallets are seeded once (the large
history in bulk SQL: credits with their lots, transfers and postings, as the ledger writes
them; the run then checks that the ledger reconciles) and reused by later runs. Both wallets
are read through `ledger.get_balance`, interleaved, in the same run; the script prints the
median and p99 of each and the ratio (goal: at most 1.2).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_db import ensure_database
from tortoise.transactions import in_transaction

from app import db, ledger
from app.core import clock
from app.settings import Settings

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_ledger"
SMALL = 900_000_001  # the customer id of the one-entry wallet
LARGE_BASE = 910_000_000  # plus the number of entries: the large wallet's customer id
CURRENCY = "USD"


async def entries_of(customer_id: int) -> int:
    row = await db.one(
        "SELECT COUNT(*) AS n FROM ledger_entries WHERE customer_id = ?", customer_id
    )
    return int(row["n"]) if row else 0


async def seed_small() -> None:
    if await entries_of(SMALL) == 1:
        return
    now = clock.now()
    await ledger.credit(
        customer_id=SMALL,
        currency=CURRENCY,
        amount=1250,
        kind="CASHBACK",
        occurred_at=now,
        available_at=now,
        expires_at=now.replace(year=now.year + 5),
        source_type="bench",
        source_id=1,
        merchant_id=None,
        description="Benchmark credit",
        idempotency_key=f"bench:{SMALL}:1",
    )


def large_customer(entries: int) -> int:
    """One wallet per history size, seeded once (a ledger is never deleted from)."""
    return LARGE_BASE + entries


async def seed_large(entries: int) -> None:
    """`entries` available credits of 1 to 100 cents, each a lot with its CREDIT transfer
    and two postings, and the wallet holding their totals: what `credit` writes, in bulk,
    in one transaction."""
    c, cur = large_customer(entries), CURRENCY
    if await entries_of(c) == entries:
        return
    started = time.perf_counter()
    now = clock.now()
    async with in_transaction() as tx:  # one transaction for the whole history
        await tx.execute_script(
            f"""
            CREATE TEMP TABLE bench_credits ON COMMIT DROP AS
              SELECT g AS n, 1 + (g % 100) AS amount,
                     TIMESTAMPTZ '{now.isoformat()}' - make_interval(mins => g) AS occurred_at,
                     TIMESTAMPTZ '{now.isoformat()}' + make_interval(days => 400 + g % 1000)
                       AS expires_at
              FROM generate_series(1, {entries}) AS g;
            INSERT INTO ledger_entries (customer_id, currency, kind, status, amount,
                occurred_at, available_at, expires_at, description, source_type, source_id,
                idempotency_key, created_at, updated_at)
              SELECT {c}, '{cur}', 'CASHBACK', 'AVAILABLE', amount, occurred_at, occurred_at,
                     expires_at, 'Benchmark credit', 'bench', n, 'bench:{c}:' || n,
                     occurred_at, occurred_at
              FROM bench_credits;
            INSERT INTO ledger_lots (customer_id, currency, entry_id, state, amount, remaining,
                spent, expired, taken_back, clawed_back, available_at, expires_at,
                source_type, source_id, created_at)
              SELECT {c}, '{cur}', e.id, 'AVAILABLE', e.amount, e.amount, 0, 0, 0, 0,
                     e.available_at, e.expires_at, 'bench', e.source_id, e.created_at
              FROM ledger_entries e WHERE e.customer_id = {c};
            INSERT INTO ledger_transfers (customer_id, currency, kind, entry_id, created_at)
              SELECT {c}, '{cur}', 'CREDIT', e.id, e.created_at
              FROM ledger_entries e WHERE e.customer_id = {c};
            INSERT INTO ledger_postings (transfer_id, customer_id, currency, account, amount,
                created_at)
              SELECT t.id, {c}, '{cur}', side.account,
                     CASE side.account WHEN 'FUNDING' THEN -e.amount ELSE e.amount END,
                     t.created_at
              FROM ledger_transfers t JOIN ledger_entries e ON e.id = t.entry_id
              CROSS JOIN (VALUES ('FUNDING'), ('AVAILABLE')) AS side(account)
              WHERE t.customer_id = {c};
            INSERT INTO ledger_wallets (customer_id, currency, available, pending, reserved,
                lifetime_earned, next_change_at, next_expiry_amount, next_expiry_at,
                created_at, updated_at)
              SELECT {c}, '{cur}', SUM(amount), 0, 0, SUM(amount), MIN(expires_at),
                     (SELECT SUM(amount) FROM bench_credits
                       WHERE expires_at = (SELECT MIN(expires_at) FROM bench_credits)),
                     MIN(expires_at), TIMESTAMPTZ '{now.isoformat()}',
                     TIMESTAMPTZ '{now.isoformat()}'
              FROM bench_credits;
            """
        )
    await db.execute("ANALYZE ledger_wallets")
    print(f"seeded {entries:,} entries in {time.perf_counter() - started:.1f}s")


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def measure(reads: int, large: int) -> dict[int, list[float]]:
    timings: dict[int, list[float]] = {SMALL: [], large: []}
    for i in range(reads * 2 + 400):
        customer = SMALL if i % 2 == 0 else large
        started = time.perf_counter()
        await ledger.get_balance(customer_id=customer, currency=CURRENCY)
        elapsed = time.perf_counter() - started
        if i >= 400:  # the first reads warm the pool and the statement caches
            timings[customer].append(elapsed)
    return timings


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=3_000)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if not db.is_postgres(url):
        print("error: this benchmark runs on PostgreSQL (set DATABASE_URL)", file=sys.stderr)
        return 2
    await ensure_database(url)
    # Seeding a large history is one long statement: no statement timeout here.
    settings = Settings(database_url=url, app_env="development", db_statement_timeout_ms=0)
    await db.migrate_db(settings)
    await db.close_db()
    await db.init_db(settings)
    try:
        await seed_small()
        await seed_large(args.entries)
        problems = await ledger.reconcile()
        if problems:
            print("error: the seeded ledger does not reconcile:", *problems[:10], sep="\n  ")
            return 1
        large_id = large_customer(args.entries)
        small_entries, large_entries = await entries_of(SMALL), await entries_of(large_id)
        timings = await measure(args.reads, large_id)
    finally:
        await db.close_db()
    small, large = timings[SMALL], timings[large_id]
    print(f"balance reads, {args.reads:,} each, interleaved, PostgreSQL at {url}")
    for n, samples in ((small_entries, small), (large_entries, large)):
        print(
            f"  wallet with {n:>7,} entries: median {statistics.median(samples) * 1e6:8.2f} us"
            f"  p99 {percentile(samples, 0.99) * 1e6:7.1f} us"
        )
    ratio = statistics.median(large) / statistics.median(small)
    print(
        f"ratio (median, {large_entries:,} entries / {small_entries:,}): {ratio:.3f}"
        f"  (goal <= 1.2: {'met' if ratio <= 1.2 else 'NOT met'})"
    )
    return 0 if ratio <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
