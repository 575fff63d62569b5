"""The worker settles 100,000 due lots (goal: under 10 s on PostgreSQL).

    .venv/bin/python scripts/bench/worker.py [--lots 100000] [--per-wallet 5] [--rounds 3]
    ./scripts/bench/run worker [--lots 100000] [--per-wallet 5] [--rounds 3] [--processes 2]

Builds postgres://postgres@127.0.0.1:5432/bench_worker (BENCH_DATABASE_URL to change it;
made when missing, its schema rebuilt from the migrations) with `--lots / --per-wallet`
customers. Before each round the ledger is written again in bulk (INSERT ... SELECT, as the
ledger writes it): every customer holds `--per-wallet` pending credits that matured within
the last hours, so each wallet is due, and the ledger reconciles.

Each round then times the worker's own rounds (`app.worker.run_once`), back to back while a
round fills its batch, as `python -m app worker` runs them, until no wallet is due; and
checks that every lot matured and the ledger still reconciles. With --processes N it also
times N `python -m app worker` processes side by side (from their start until no wallet is
due, so their start-up counts). Results go to scripts/bench/results/worker.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from bench_db import fresh_database  # noqa: E402

from app import db, ledger, worker  # noqa: E402
from app.core import clock  # noqa: E402
from app.settings import Settings  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_worker"
RESULTS = Path(__file__).resolve().parent / "results" / "worker.md"
SECRET = "bench-worker-secret-that-is-long-enough-for-hs256-0123456789"
GOAL_SECONDS = 10.0


def dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def settings_for(url: str) -> Settings:
    return Settings(
        app_env="production",
        database_url=url,
        jwt_secret=SECRET,
        db_statement_timeout_ms=0,
        log_level="WARNING",
    )


# --- data -----------------------------------------------------------------------------------


async def seed_customers(conn: asyncpg.Connection, count: int) -> None:
    await conn.execute(
        "INSERT INTO users (email, password_hash, role, display_name, member_code,"
        " referral_code, consent_personalization, consent_marketing, created_at, updated_at)"
        " SELECT 'worker' || g || '@bench.example', 'x', 'CUSTOMER', 'W' || g,"
        " 'W' || lpad(g::text, 8, '0'), 'WR' || lpad(g::text, 8, '0'), FALSE, FALSE, $2, $2"
        " FROM generate_series(1, $1) AS g",
        count,
        datetime.now(UTC),
    )


_LEDGER = "ledger_postings, ledger_transfers, ledger_lots, ledger_entries, ledger_wallets"


async def seed_due_lots(conn: asyncpg.Connection, per_wallet: int) -> int:
    """Every customer's ledger written again: `per_wallet` pending credits each, earned 31
    days ago, matured 1 to `per_wallet` minutes ago; the wallet due. How many lots."""
    now = datetime.now(UTC)
    async with conn.transaction():
        await conn.execute(f"TRUNCATE {_LEDGER} RESTART IDENTITY")
        await conn.execute(
            "INSERT INTO ledger_entries (customer_id, currency, kind, status, amount,"
            " occurred_at, available_at, expires_at, description, source_type, source_id,"
            " idempotency_key, created_at, updated_at)"
            " SELECT u.id, 'USD', 'CASHBACK', 'PENDING', 100 + (u.id * 7 + n * 13) % 900,"
            " $1::timestamptz - interval '31 days', $1::timestamptz - make_interval(mins => n),"
            " $1::timestamptz + interval '300 days', 'Cashback', 'bench', n,"
            " 'bench-worker:' || u.id || ':' || n, $1::timestamptz - interval '31 days',"
            " $1::timestamptz - interval '31 days'"
            " FROM users u CROSS JOIN generate_series(1, $2) AS n ORDER BY u.id, n",
            now,
            per_wallet,
        )
        await conn.execute(
            "INSERT INTO ledger_lots (customer_id, currency, entry_id, state, amount, remaining,"
            " spent, expired, taken_back, clawed_back, available_at, expires_at, source_type,"
            " source_id, created_at) SELECT customer_id, currency, id, 'PENDING', amount,"
            " amount, 0, 0, 0, 0, available_at, expires_at, source_type, source_id, created_at"
            " FROM ledger_entries ORDER BY id"
        )
        await conn.execute(
            "INSERT INTO ledger_transfers (customer_id, currency, kind, entry_id, created_at)"
            " SELECT customer_id, currency, 'CREDIT', id, created_at FROM ledger_entries"
            " ORDER BY id"
        )
        await conn.execute(
            "INSERT INTO ledger_postings (transfer_id, customer_id, currency, account, amount,"
            " created_at) SELECT t.id, t.customer_id, t.currency, a.account,"
            " a.sign * e.amount, t.created_at FROM ledger_transfers t"
            " JOIN ledger_entries e ON e.id = t.entry_id"
            " CROSS JOIN (VALUES ('FUNDING', -1), ('PENDING', 1)) AS a (account, sign)"
            " ORDER BY t.id, a.sign"
        )
        await conn.execute(
            "INSERT INTO ledger_wallets (customer_id, currency, available, pending, reserved,"
            " lifetime_earned, next_change_at, created_at, updated_at)"
            " SELECT customer_id, currency, 0, SUM(amount), 0, SUM(amount), MIN(available_at),"
            " $1, $1 FROM ledger_entries GROUP BY customer_id, currency ORDER BY customer_id",
            now,
        )
    await conn.execute(f"ANALYZE {_LEDGER}")
    return int(await conn.fetchval("SELECT COUNT(*) FROM ledger_lots"))


async def still_due(conn: asyncpg.Connection) -> tuple[int, int]:
    """Wallets still due, and pending lots whose time has come."""
    wallets = await conn.fetchval(
        "SELECT COUNT(*) FROM ledger_wallets WHERE next_change_at <= now()"
    )
    lots = await conn.fetchval(
        "SELECT COUNT(*) FROM ledger_lots WHERE state = 'PENDING' AND available_at <= now()"
    )
    return int(wallets), int(lots)


# --- runs -----------------------------------------------------------------------------------


@dataclass
class Run:
    how: str
    seconds: float
    rounds: int
    wallets: int


async def in_process() -> Run:
    """The worker's rounds back to back (as run_forever does while rounds fill a batch)."""
    started = time.perf_counter()
    rounds = wallets = 0
    while True:
        done = await worker.run_once()
        rounds += 1
        wallets += done.get("wallets_settled", 0)
        if not worker.more_due(done):
            break
    return Run("one worker (in process)", time.perf_counter() - started, rounds, wallets)


async def processes(url: str, count: int) -> Run:
    """`count` worker processes from their start until no wallet is due."""
    env = dict(os.environ)
    env.update(APP_ENV="production", DATABASE_URL=url, JWT_SECRET=SECRET, LOG_LEVEL="WARNING")
    conn = await asyncpg.connect(dsn(url))
    started = time.perf_counter()
    workers = [
        await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "app", "worker", "--interval", "60"),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        seconds = 0.0
        while not seconds:
            if not (await still_due(conn))[0]:
                seconds = time.perf_counter() - started
            elif time.perf_counter() - started > 600:
                raise SystemExit("the workers did not settle everything in 10 minutes")
            else:
                await asyncio.sleep(0.05)
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            await asyncio.wait_for(process.wait(), 30)
        await conn.close()
    return Run(f"{count} worker processes (with start-up)", seconds, 0, 0)


async def check(conn: asyncpg.Connection, lots: int) -> None:
    wallets_due, lots_due = await still_due(conn)
    matured = await conn.fetchval("SELECT COUNT(*) FROM ledger_lots WHERE state = 'AVAILABLE'")
    if wallets_due or lots_due or matured != lots:
        raise SystemExit(f"not settled: {wallets_due} wallets, {lots_due} lots still due")
    problems = await ledger.reconcile()
    if problems:
        raise SystemExit("the ledger does not reconcile:\n  " + "\n  ".join(problems[:10]))


async def bench(url: str, lots: int, per_wallet: int, rounds: int, count: int) -> list[Run]:
    await fresh_database(url)
    settings = settings_for(url)
    await db.migrate_db(settings)
    await db.close_db()
    await db.init_db(settings)
    conn = await asyncpg.connect(dsn(url))
    runs: list[Run] = []
    try:
        await seed_customers(conn, lots // per_wallet)
        for n in range(rounds):
            seeded = await seed_due_lots(conn, per_wallet)
            clock.reset()
            run = await in_process()
            await check(conn, seeded)
            runs.append(run)
            print(
                f"round {n + 1}: {seeded:,} lots in {run.wallets:,} wallets settled in"
                f" {run.seconds:.2f} s ({run.rounds} worker rounds)",
                flush=True,
            )
        if count:
            for n in range(rounds):
                seeded = await seed_due_lots(conn, per_wallet)
                run = await processes(url, count)
                await check(conn, seeded)
                runs.append(run)
                print(f"{count} processes, round {n + 1}: {run.seconds:.2f} s", flush=True)
    finally:
        await conn.close()
        await db.close_db()
    return runs


def report(runs: list[Run], lots: int, per_wallet: int, server: str) -> str:
    lines = [
        "# Worker benchmark",
        "",
        f"`./scripts/bench/run worker --lots {lots} --per-wallet {per_wallet}` on"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()};"
        f" {server} on the same cores. Data: {lots:,} pending lots, {per_wallet} per wallet"
        f" ({lots // per_wallet:,} wallets), all matured and due. Goal: under"
        f" {GOAL_SECONDS:g} s. Each run starts from the same ledger written again; after it"
        " every lot is AVAILABLE, no wallet is due and the ledger reconciles.",
        "",
        "| run | seconds | worker rounds | wallets settled | lots/s |",
        "|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run.how} | {run.seconds:.2f} | {run.rounds or '—'} | {run.wallets or '—'} |"
            f" {lots / run.seconds:,.0f} |"
        )
    for how in dict.fromkeys(run.how for run in runs):
        times = [run.seconds for run in runs if run.how == how]
        lines.append(
            f"| **{how}, median** | **{statistics.median(times):.2f}** | | |"
            f" {lots / statistics.median(times):,.0f} |"
        )
    return "\n".join(lines) + "\n"


async def server_version(url: str) -> str:
    conn = await asyncpg.connect(dsn(url))
    try:
        return "PostgreSQL " + str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--lots", type=int, default=100_000)
    parser.add_argument("--per-wallet", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=0, help="also time N worker processes")
    parser.add_argument("--no-write", action="store_true", help="do not write the results file")
    args = parser.parse_args()
    if not db.is_postgres(args.database_url):
        print("error: this benchmark runs on PostgreSQL", file=sys.stderr)
        return 2
    runs = asyncio.run(
        bench(args.database_url, args.lots, args.per_wallet, args.rounds, args.processes)
    )
    text = report(runs, args.lots, args.per_wallet, asyncio.run(server_version(args.database_url)))
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
