"""The data of the Home benchmarks: a year of purchases, live offers, wallets and sessions
in the PostgreSQL database `bench_home`, built once and reused by later runs.

    .venv/bin/python scripts/bench/home_data.py [--scale 1.0] [--fresh] [--tokens FILE]

--database-url (or BENCH_DATABASE_URL) names the database, by default
postgres://postgres@127.0.0.1:5432/bench_home (created if missing). At --scale 1 it holds
10,000 customers, 50,000 products of 300 merchants, 1,000,000 purchase lines
(`dataset.load`), 2,000 live offers over 10 audiences (the generator of offers.py), a few
category rules (suggestions.py), the customers' profiles and co-purchase statistics (the
app's own rebuilds, about 4 minutes), birth dates, personalization consent for 60 % of the
customers, a wallet for 92 % of them (available, pending, spent, reserved credits, written
in bulk as the ledger writes them and reconciled with `app.ledger.reconcile`) and one
session each.

A table `bench_home_meta` marks a complete build: a later run with the same scale reuses
it (--fresh rebuilds from scratch). Money is dated from the build: when some wallet would
change by itself within `MONEY_MARGIN` (a credit maturing, expiring, a reservation
lapsing), the ledger is written again, dated now, so that neither server settles a wallet
during a run (the service would write; the baseline only reads).

Every run writes one access token per customer (the app's own `issue_access_token`, with
the bench's secret and a TTL of a year, naming the customer's session) to --tokens, one
`customer_id token` per line, for wrk's Lua script and the checker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import dataset as data  # noqa: E402
import offers as offer_bench  # noqa: E402
import suggestions as suggestion_bench  # noqa: E402
from bench_db import ensure_database, fresh_database  # noqa: E402
from tqdm import tqdm  # noqa: E402

from app import db, ledger  # noqa: E402
from app.accounts.tokens import issue_access_token  # noqa: E402
from app.cashback import baskets  # noqa: E402
from app.cashback.profiles import rebuild_profiles  # noqa: E402
from app.cashback.spend import rebuild_window_spends  # noqa: E402
from app.core import clock  # noqa: E402
from app.settings import Settings  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_home"
# The bench's own HS256 secret: the servers it starts use it; it protects nothing else.
SECRET = "bench-home-secret-that-is-long-enough-for-hs256-0123456789"
DEFAULT_TOKENS = ROOT / "var" / "bench" / "home_tokens.txt"
CUSTOMERS = 10_000
OFFERS = 2_000
CONSENT_SHARE = 0.6
WALLET_SHARE = 0.92
SPENT_SHARE = 0.4
RESERVED_SHARE = 0.08
# Customers who signed up and bought nothing yet (no profile, no wallet, no history).
NEWCOMER_SHARE = 0.02
STANDING_SHARE = 0.3
# A wallet must not change by itself for this long after a run starts.
MONEY_MARGIN = timedelta(days=1)
TOKEN_TTL = timedelta(days=365)
META = "bench_home_meta"
CURRENCY = "USD"


def shape_for(scale: float) -> data.Shape:
    base = data.Shape(customers=CUSTOMERS)
    return base.scaled(scale)


def dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def settings_for(url: str) -> Settings:
    return Settings(
        app_env="production",
        database_url=url,
        jwt_secret=SECRET,
        db_statement_timeout_ms=0,
        access_token_ttl_seconds=int(TOKEN_TTL.total_seconds()),
        log_level="WARNING",
    )


# --- the marker ---------------------------------------------------------------------------


async def built_scale(conn: asyncpg.Connection) -> float | None:
    """The scale of a complete build in this database, None when there is none."""
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", META)
    if not exists:
        return None
    return await conn.fetchval(f"SELECT scale FROM {META} LIMIT 1")


# --- users: birth dates, consent, sessions --------------------------------------------------


async def seed_people(conn: asyncpg.Connection, rng: random.Random) -> None:
    """Birth dates for 90 % of the customers, personalization consent for 60 %."""
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM users ORDER BY id")]
    rows = []
    for pk in ids:
        born = None
        if rng.random() < 0.9:
            born = datetime(rng.randint(1945, 2008), rng.randint(1, 12), rng.randint(1, 28)).date()
        rows.append((pk, born, rng.random() < CONSENT_SHARE))
    await conn.execute("CREATE TEMP TABLE bench_people (id bigint, born date, consent boolean)")
    await conn.copy_records_to_table("bench_people", records=rows)
    await conn.execute(
        "UPDATE users u SET birth_date = p.born, consent_personalization = p.consent,"
        " consents_updated_at = u.created_at FROM bench_people p WHERE p.id = u.id"
    )
    await conn.execute("DROP TABLE bench_people")


async def seed_sessions(conn: asyncpg.Connection) -> None:
    """One live session per customer, as `start_session` makes it (its refresh token is
    not needed: the bench's access tokens never expire during a run)."""
    now = clock.now()
    await conn.execute(
        "INSERT INTO auth_sessions (user_id, created_at, last_used_at, expires_at, user_agent,"
        " ip_address) SELECT id, $1, $1, $2, 'bench', '127.0.0.1' FROM users ORDER BY id",
        now,
        now + timedelta(days=3650),
    )


async def ensure_offer_categories(conn: asyncpg.Connection, dataset: data.Dataset) -> None:
    """An audience names a category only if the catalogue has it: at small scales some of
    the offers' categories have no product, and get one that is no longer sold."""
    have = {p.category for p in dataset.products.values()}
    missing = [c for c in offer_bench.CATEGORIES if c not in have]
    now = clock.now()
    await conn.copy_records_to_table(
        "catalog_products",
        records=[
            (dataset.merchants[0], f"X{n:06}", f"{c} sample", c, 999, dataset.currency, None,
             False, now, now)
            for n, c in enumerate(missing)
        ],
        columns=[
            "merchant_id", "sku", "name", "category", "price_minor", "currency", "image_url",
            "active", "created_at", "updated_at",
        ],
    )  # fmt: skip


async def ensure_newcomers(conn: asyncpg.Connection, count: int) -> None:
    """`count` customers without any purchase, each with a session (made once)."""
    have = await conn.fetchval("SELECT COUNT(*) FROM users WHERE email LIKE 'newcomer%'")
    if have:
        return
    now = clock.now()
    await conn.execute(
        "INSERT INTO users (email, password_hash, role, display_name, member_code,"
        " referral_code, consent_personalization, consent_marketing, birth_date, created_at,"
        " updated_at) SELECT 'newcomer' || g || '@example.com', u.password_hash, 'CUSTOMER',"
        " 'N' || g, 'N' || lpad(g::text, 7, '0'), 'NR' || lpad(g::text, 7, '0'), g % 2 = 0,"
        " FALSE, DATE '1990-01-01' + g * 97, $2, $2"
        " FROM generate_series(1, $1) AS g CROSS JOIN (SELECT password_hash FROM users"
        " ORDER BY id LIMIT 1) AS u",
        count,
        now,
    )
    await conn.execute(
        "INSERT INTO auth_sessions (user_id, created_at, last_used_at, expires_at, user_agent,"
        " ip_address) SELECT id, $1, $1, $2, 'bench', '127.0.0.1' FROM users"
        " WHERE email LIKE 'newcomer%' ORDER BY id",
        now,
        now + timedelta(days=3650),
    )
    print(f"{count} customers without purchases")


# --- money ----------------------------------------------------------------------------------


@dataclass
class _Ledger:
    """Rows as the ledger writes them, with ids given here (the tables start empty)."""

    entries: list[tuple[object, ...]] = field(default_factory=list)
    lots: list[tuple[object, ...]] = field(default_factory=list)
    transfers: list[tuple[object, ...]] = field(default_factory=list)
    postings: list[tuple[object, ...]] = field(default_factory=list)
    wallets: list[tuple[object, ...]] = field(default_factory=list)

    def entry(self, customer: int, *values: object) -> int:
        pk = len(self.entries) + 1
        self.entries.append((pk, customer, CURRENCY, *values))
        return pk

    def transfer(
        self, customer: int, kind: str, entry: int | None, at: datetime, *moves: tuple[str, int]
    ) -> None:
        pk = len(self.transfers) + 1
        self.transfers.append((pk, customer, CURRENCY, kind, entry, at))
        for account, amount in moves:
            # A posting carries its transfer's time (the books read postings alone).
            self.postings.append((pk, customer, CURRENCY, account, amount, at))


_ENTRY_COLUMNS = (
    "id", "customer_id", "currency", "kind", "status", "amount", "occurred_at", "available_at",
    "expires_at", "description", "source_type", "source_id", "idempotency_key",
    "reservation_key", "created_at", "updated_at",
)  # fmt: skip
_LOT_COLUMNS = (
    "customer_id", "currency", "entry_id", "state", "amount", "remaining", "spent", "expired",
    "taken_back", "clawed_back", "available_at", "expires_at", "source_type", "source_id",
    "created_at",
)  # fmt: skip
_TRANSFER_COLUMNS = ("id", "customer_id", "currency", "kind", "entry_id", "created_at")
_POSTING_COLUMNS = (
    "transfer_id", "customer_id", "currency", "account", "amount", "created_at",
)  # fmt: skip
_WALLET_COLUMNS = (
    "customer_id", "currency", "available", "pending", "reserved", "lifetime_earned",
    "next_change_at", "next_expiry_amount", "next_expiry_at", "created_at", "updated_at",
)  # fmt: skip


def _cents(rng: random.Random) -> int:
    return min(50_000, max(5, int(rng.lognormvariate(5.5, 1.1))))


def _wallet(book: _Ledger, c: int, now: datetime, rng: random.Random) -> None:
    """One customer's credits: matured ones (some partly spent), maturing ones, and
    sometimes an open reservation, with the wallet holding their totals."""
    # (lot fields, entry id): available lots expire 65 to 365 days from now, pending ones
    # mature 3 to 30 days from now: nothing changes by itself for days.
    lots: list[dict[str, object]] = []
    for n in range(rng.randint(1, 8)):
        occurred = now - timedelta(days=rng.uniform(31, 330))
        lots.append(
            {"state": "AVAILABLE", "amount": _cents(rng), "occurred": occurred,
             "available_at": occurred + timedelta(days=30),
             "expires_at": occurred + timedelta(days=395), "n": n}
        )  # fmt: skip
    for n in range(rng.randint(0, 3)):
        occurred = now - timedelta(days=rng.uniform(0, 27))
        lots.append(
            {"state": "PENDING", "amount": _cents(rng), "occurred": occurred,
             "available_at": occurred + timedelta(days=30),
             "expires_at": occurred + timedelta(days=395), "n": 100 + n}
        )  # fmt: skip
    for lot in lots:
        lot["remaining"], lot["spent"] = lot["amount"], 0
        status = "AVAILABLE" if lot["state"] == "AVAILABLE" else "PENDING"
        key = f"bench-home:{c}:{lot['n']}"
        lot["entry"] = book.entry(
            c, "CASHBACK", status, lot["amount"], lot["occurred"], lot["available_at"],
            lot["expires_at"], "Cashback", "bench", lot["n"], key, None, lot["occurred"],
            lot["occurred"],
        )  # fmt: skip
        account = "AVAILABLE" if status == "AVAILABLE" else "PENDING"
        book.transfer(
            c, "CREDIT", lot["entry"], lot["occurred"],
            ("FUNDING", -lot["amount"]), (account, lot["amount"]),
        )  # fmt: skip
    matured = sorted(
        (lot for lot in lots if lot["state"] == "AVAILABLE"), key=lambda lot: lot["expires_at"]
    )
    total = sum(int(lot["amount"]) for lot in matured)  # type: ignore[call-overload]
    if total > 1 and rng.random() < SPENT_SHARE:
        # A captured redemption: the soonest-expiring credits are spent first.
        spend = rng.randint(1, total // 2 or 1)
        at = now - timedelta(days=rng.uniform(1, 30))
        entry = book.entry(
            c, "REDEMPTION", "COMPLETED", spend, at, None, None, "Redemption", "bench", 1,
            f"bench-home:{c}:spent", None, at, at,
        )  # fmt: skip
        book.transfer(c, "CAPTURE", entry, at, ("AVAILABLE", -spend), ("SPENT", spend))
        left = spend
        for lot in matured:
            take = min(left, int(lot["remaining"]))  # type: ignore[call-overload]
            lot["remaining"] = int(lot["remaining"]) - take  # type: ignore[call-overload]
            lot["spent"] = take
            left -= take
            if not left:
                break
    open_lots = [lot for lot in matured if int(lot["remaining"]) > 0]  # type: ignore[call-overload]
    available = sum(int(lot["remaining"]) for lot in open_lots)  # type: ignore[call-overload]
    reserved, lapse = 0, None
    if available > 3 and rng.random() < RESERVED_SHARE:
        # Held by an open redemption. Real ones lapse within 30 minutes; this one is held
        # for weeks so that the wallet does not settle during a run.
        reserved = rng.randint(1, available // 3)
        lapse = now + timedelta(days=45)
        entry = book.entry(
            c, "REDEMPTION", "RESERVED", reserved, now, None, lapse, "Redemption", "bench", 2,
            None, f"bench-home:{c}:reserved", now, now,
        )  # fmt: skip
        book.transfer(c, "RESERVE", entry, now, ("AVAILABLE", -reserved), ("RESERVED", reserved))
    for lot in lots:
        state = lot["state"] if int(lot["remaining"]) > 0 else "CLOSED"  # type: ignore[call-overload]
        book.lots.append(
            (c, CURRENCY, lot["entry"], state, lot["amount"], lot["remaining"], lot["spent"],
             0, 0, 0, lot["available_at"], lot["expires_at"], "bench", lot["n"], lot["occurred"])
        )  # fmt: skip
    pending = [lot for lot in lots if lot["state"] == "PENDING"]
    next_expiry = min((lot["expires_at"] for lot in open_lots), default=None)  # type: ignore[type-var]
    expiry_amount = (
        sum(int(lot["remaining"]) for lot in open_lots if lot["expires_at"] == next_expiry)  # type: ignore[call-overload]
        if next_expiry is not None
        else None
    )
    moments = [next_expiry, lapse, min((lot["available_at"] for lot in pending), default=None)]  # type: ignore[type-var]
    book.wallets.append(
        (c, CURRENCY, available - reserved, sum(int(lot["amount"]) for lot in pending),  # type: ignore[call-overload]
         reserved, sum(int(lot["amount"]) for lot in lots),  # type: ignore[call-overload]
         min((m for m in moments if m is not None), default=None),  # type: ignore[type-var]
         expiry_amount, next_expiry, now, now)
    )  # fmt: skip


async def seed_money(conn: asyncpg.Connection, seed: int) -> int:
    """Every customer's wallet written again, dated now (the ledger's tables are emptied
    first: only this script writes them in this database). The number of wallets."""
    rng = random.Random(seed)
    now = clock.now()
    customers = [r["id"] for r in await conn.fetch("SELECT id FROM users ORDER BY id")]
    book = _Ledger()
    for c in tqdm(customers, unit=" customers", desc="money"):
        if rng.random() < WALLET_SHARE:
            _wallet(book, c, now, rng)
    async with conn.transaction():
        await conn.execute(
            "TRUNCATE ledger_postings, ledger_transfers, ledger_lots, ledger_entries,"
            " ledger_wallets RESTART IDENTITY"
        )
        for table, columns, records in (
            ("ledger_entries", _ENTRY_COLUMNS, book.entries),
            ("ledger_lots", _LOT_COLUMNS, book.lots),
            ("ledger_transfers", _TRANSFER_COLUMNS, book.transfers),
            ("ledger_postings", _POSTING_COLUMNS, book.postings),
            ("ledger_wallets", _WALLET_COLUMNS, book.wallets),
        ):
            await conn.copy_records_to_table(table, records=records, columns=columns)
        for table in ("ledger_entries", "ledger_transfers"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )
    await conn.execute("ANALYZE ledger_wallets, ledger_lots, ledger_entries")
    return len(book.wallets)


async def money_is_stale(conn: asyncpg.Connection) -> bool:
    """Whether some wallet would change by itself within `MONEY_MARGIN`."""
    soonest = await conn.fetchval("SELECT MIN(next_change_at) FROM ledger_wallets")
    return soonest is not None and soonest <= clock.now() + MONEY_MARGIN


# --- the build ------------------------------------------------------------------------------


async def build(url: str, scale: float) -> None:
    """Everything, from an empty schema (see the module's docstring)."""
    started = time.perf_counter()
    shape = shape_for(scale)
    rng = random.Random(shape.seed + 100)
    dataset = await data.load(url, shape)
    print(
        f"loaded {len(dataset.customers):,} customers, {len(dataset.products):,} products, "
        f"{dataset.purchases:,} purchases with {dataset.lines:,} lines in {dataset.seconds:.0f}s"
    )
    await suggestion_bench.seed_rules(dataset, random.Random(shape.seed))
    conn = await asyncpg.connect(dsn(url))
    try:
        await seed_people(conn, rng)
        offers = max(20, round(OFFERS * scale))
        await ensure_offer_categories(conn, dataset)
        await offer_bench.seed_templates(dataset.merchants, clock.now())
        await offer_bench.seed_offers(conn, offers, dataset.merchants, rng)
        standings = await offer_bench.seed_standings(conn, STANDING_SHARE, rng)
        print(f"{offers:,} offers, {standings:,} activations and uses")
        step = time.perf_counter()
        profiles = await rebuild_profiles(now=clock.now())
        print(f"rebuild_profiles: {profiles:,} profiles in {time.perf_counter() - step:.0f}s")
        step = time.perf_counter()
        print("rebuild_co_purchases (about 4 minutes at scale 1)...", flush=True)
        counted = await baskets.rebuild_co_purchases()
        print(f"rebuild_co_purchases: {counted:,} purchases in {time.perf_counter() - step:.0f}s")
        wallets = await seed_money(conn, shape.seed + 200)
        print(f"{wallets:,} wallets")
        await seed_sessions(conn)
        await conn.execute("VACUUM ANALYZE")
        await conn.execute(f"CREATE TABLE {META} (scale double precision, built_at timestamptz)")
        await conn.execute(f"INSERT INTO {META} VALUES ($1, now())", scale)
    finally:
        await conn.close()
    print(f"built bench_home at scale {scale:g} in {time.perf_counter() - started:.0f}s")


async def write_tokens(url: str, settings: Settings, path: Path) -> int:
    """One long-lived access token per customer, naming their session."""
    conn = await asyncpg.connect(dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT ON (s.user_id) s.user_id, s.id FROM auth_sessions s"
            " JOIN users u ON u.id = s.user_id WHERE s.ended_at IS NULL"
            " AND u.deleted_at IS NULL AND u.role = 'CUSTOMER' ORDER BY s.user_id, s.id"
        )
    finally:
        await conn.close()
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    lines = []
    for row in rows:
        token, _ = issue_access_token(
            settings, user_id=row["user_id"], role="CUSTOMER", session_id=row["id"]
        )
        lines.append(f"{row['user_id']} {token}\n")
    await asyncio.to_thread(path.write_text, "".join(lines))
    return len(lines)


async def prepare(url: str, scale: float, *, fresh: bool, tokens: Path) -> None:
    """The database ready for a run (built or reused, money fresh) and the tokens written."""
    await ensure_database(url)
    conn = await asyncpg.connect(dsn(url))
    try:
        found = await built_scale(conn)
    finally:
        await conn.close()
    settings = settings_for(url)
    rebuild = fresh or found is None or abs(found - scale) > 1e-9
    if rebuild:
        if found is not None and not fresh:
            print(f"bench_home holds scale {found:g}, not {scale:g}: rebuilding")
        await fresh_database(url)
    else:
        print(f"reusing bench_home (scale {found:g})")
    # Migrations made since the build apply to a reused database too.
    await db.migrate_db(settings)
    await db.close_db()
    await db.init_db(settings)
    try:
        if rebuild:
            await build(url, scale)
        # The tier spend rows the app keeps per customer, as its own rebuild writes them
        # (the dataset copies purchases in without them).
        step = time.perf_counter()
        spends = await rebuild_window_spends(now=clock.now())
        print(f"rebuild_window_spends: {spends:,} customers in {time.perf_counter() - step:.0f}s")
        conn = await asyncpg.connect(dsn(url))
        try:
            await ensure_newcomers(conn, max(5, round(CUSTOMERS * NEWCOMER_SHARE * scale)))
            if await money_is_stale(conn):
                print("some wallet would change by itself soon: writing the money again")
                await seed_money(conn, shape_for(scale).seed + 200)
        finally:
            await conn.close()
        problems = await ledger.reconcile()
        if problems:
            raise SystemExit(
                "the bench ledger does not reconcile:\n  " + "\n  ".join(problems[:10])
            )
        count = await write_tokens(url, settings, tokens)
        print(f"{count:,} tokens in {tokens}")
    finally:
        await db.close_db()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--fresh", action="store_true", help="rebuild even when built")
    parser.add_argument("--tokens", type=Path, default=DEFAULT_TOKENS)
    args = parser.parse_args()
    if not db.is_postgres(args.database_url):
        print("error: this benchmark runs on PostgreSQL", file=sys.stderr)
        return 2
    asyncio.run(prepare(args.database_url, args.scale, fresh=args.fresh, tokens=args.tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main())
