"""programMetrics over a year of 1,000,000 purchases (goal: under 2 s on PostgreSQL).

    .venv/bin/python scripts/bench/metrics.py [--scale 1] [--rounds 5] [--fresh]
    ./scripts/bench/run metrics [--scale 1] [--rounds 5] [--fresh]

Builds postgres://postgres@127.0.0.1:5432/bench_metrics (DATABASE_URL to change it; made
when missing, reused while its scale matches) with COPY: at --scale 1, 50,000 customers who
signed up over two years, 60 merchants with a shop and an online store, 1,000,000 purchases
over 400 days (some paid partly with credits, some refunded in part or in full, at the
tier of their customer), the ledger's transfers and postings of their cashback (credited,
matured, taken back, expired, reserved and captured by redemptions) with every wallet's
totals equal to its postings, the captured redemptions, 100 offers with their uses and
activations. Lots and entries are left out: programMetrics does not read them.

Then it asks the service, through the real GraphQL app, for the contract's ProgramMetrics
document and for the full one (every addition: channels, segments, cohorts, a series,
top offers) over the last 365 days and the last 30 days, one warm-up and --rounds timed
runs each, and prints the median and the worst. Last, it runs EXPLAIN ANALYZE on each
statement the full document sends and names the indexes each plan uses. The tables are
written to scripts/bench/results/metrics.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg
import httpx
from bench_db import bench_customers, ensure_database, fresh_database
from tortoise.backends.asyncpg.client import AsyncpgDBClient

from app import db
from app.accounts.models import Role
from app.accounts.service import create_user
from app.accounts.tokens import issue_access_token
from app.cashback.tiers import list_tiers
from app.catalog.service import create_merchant, create_store
from app.catalog.values import Channel
from app.core import clock
from app.main import create_app
from app.offers.models import Offer
from app.program.service import get_program
from app.settings import Settings

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_metrics"
RESULTS = Path(__file__).resolve().parent / "results" / "metrics.md"
META = "bench_metrics_meta"
COPY_ROWS = 100_000
DAYS = 400
PENDING_DAYS = 30
VALID_DAYS = 180
MONEY = "{ amount currencyCode }"
CONTRACT = """
query ProgramMetrics($from: DateTime!, $to: DateTime!) {
  programMetrics(from: $from, to: $to) {
    activeCustomers repurchaseRate retentionRate omnichannelRate
    averageTicket { amount currencyCode }
    averageTicketWithRedemption { amount currencyCode }
    averageTicketWithoutRedemption { amount currencyCode }
    lifetimeValue { amount currencyCode }
    cashbackIssued { amount currencyCode }
    cashbackRedeemed { amount currencyCode }
    cashbackExpired { amount currencyCode }
    outstandingLiability { amount currencyCode }
  }
}
"""
FULL = f"""
query Full($from: DateTime!, $to: DateTime!, $interval: MetricsInterval!) {{
  programMetrics(from: $from, to: $to) {{
    activeCustomers repurchaseRate retentionRate omnichannelRate
    averageTicket {MONEY} averageTicketWithRedemption {MONEY}
    averageTicketWithoutRedemption {MONEY} lifetimeValue {MONEY}
    cashbackIssued {MONEY} cashbackRedeemed {MONEY} cashbackExpired {MONEY}
    outstandingLiability {MONEY} purchaseCount sales {MONEY}
    finance {{ pending {MONEY} available {MONEY} reserved {MONEY} issued {MONEY}
      redeemed {MONEY} expired {MONEY} reversed {MONEY} clawedBack {MONEY} forfeited {MONEY} }}
    byChannel {{ channel activeCustomers purchaseCount sales {MONEY} redemptionCount }}
    bySegment {{ kind key activeCustomers purchaseCount sales {MONEY} }}
    cohorts {{ signUpMonth customers activeCustomers retentionRate }}
    series(interval: $interval) {{ from activeCustomers purchaseCount repurchaseRate
      retentionRate outstandingLiability {MONEY} }}
    topOffers(first: 5) {{ offerId title activations purchaseCount cashbackIssued {MONEY} }}
  }}
}}
"""


@dataclass
class Books:
    """What the generator wrote, to fill the tables in COPY batches."""

    transfers: list[tuple[Any, ...]] = field(default_factory=list)
    postings: list[tuple[Any, ...]] = field(default_factory=list)
    wallets: dict[int, list[int]] = field(default_factory=dict)  # pending, available, reserved
    earned: dict[int, int] = field(default_factory=dict)
    next_transfer: int = 1

    def move(self, customer: int, kind: str, at: datetime, lines: list[tuple[str, int]]) -> None:
        pk = self.next_transfer
        self.next_transfer += 1
        self.transfers.append((pk, customer, "USD", kind, at))
        wallet = self.wallets.setdefault(customer, [0, 0, 0])
        for account, amount in lines:
            self.postings.append((pk, customer, "USD", account, amount, at))
            index = ("PENDING", "AVAILABLE", "RESERVED").index(account) if account in (
                "PENDING", "AVAILABLE", "RESERVED") else None  # fmt: skip
            if index is not None:
                wallet[index] += amount
        if kind == "CREDIT":
            self.earned[customer] = self.earned.get(customer, 0) + lines[1][1]

    def in_time_order(self) -> None:
        """Ids in the order of time, as the ledger writes them (the draws are not)."""
        order = sorted(range(len(self.transfers)), key=lambda i: self.transfers[i][4])
        new_id = [0] * len(self.transfers)
        for rank, i in enumerate(order, 1):
            new_id[i] = rank
        self.transfers = [(new_id[i], *self.transfers[i][1:]) for i in order]
        self.postings = sorted(
            ((new_id[p[0] - 1], *p[1:]) for p in self.postings), key=lambda p: p[0]
        )


async def _copy(conn: asyncpg.Connection, table: str, rows: list[Any], columns: list[str]) -> None:
    for start in range(0, len(rows), COPY_ROWS):
        await conn.copy_records_to_table(
            table, records=rows[start : start + COPY_ROWS], columns=columns
        )


def _tier_of(customer: int, codes: list[str]) -> str:
    return codes[-1] if customer % 10 == 0 else codes[1] if customer % 10 < 3 else codes[0]


async def build(url: str, scale: float) -> None:
    started = time.perf_counter()
    rng = random.Random(7)
    now = clock.now()
    purchases_n, customers_n = round(1_000_000 * scale), max(100, round(50_000 * scale))
    program = await get_program()
    tiers = [t.code for t in await list_tiers(currency=program.currency_code)]
    await create_user(
        email="admin@bench.example", password="x" * 12, display_name="Admin", role=Role.ADMIN
    )
    stores: list[tuple[int, int, Channel]] = []
    for m in range(60):
        merchant = await create_merchant(
            name=f"Merchant {m}", logo_url=None, cashback_percent=Decimal("5")
        )
        for channel in Channel:
            store = await create_store(merchant_id=merchant.id, name=f"S{m}", channel=channel)
            stores.append((store.id, merchant.id, channel))
    await bench_customers(customers_n)
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("SELECT setseed(0.5)")
        await conn.execute(
            "UPDATE users SET created_at = $1::timestamptz - random() * interval '730 days'"
            " WHERE role = 'CUSTOMER'",
            now,
        )
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM users WHERE role = 'CUSTOMER'")]
        print(f"catalogue and {len(ids):,} customers in {time.perf_counter() - started:.0f}s")
        books, purchases, redemptions, uses = Books(), [], [], []
        for pk in range(1, purchases_n + 1):
            # Skewed: a few customers buy often, most rarely.
            customer = ids[int(len(ids) * rng.random() ** 2)]
            store, merchant, channel = rng.choice(stores)
            at = now - timedelta(days=DAYS * rng.random())
            total = int(rng.lognormvariate(8.3, 0.8))
            credits = min(total // 5, 1500) if rng.random() < 0.08 else 0
            refunded = total if rng.random() < 0.03 else total // 2 if rng.random() < 0.04 else 0
            cashback = (total - credits) * 5 // 100
            reversed_ = cashback * refunded // total if total else 0
            status = "REFUNDED" if refunded == total else (
                "PARTIALLY_REFUNDED" if refunded else "COMPLETED")  # fmt: skip
            purchases.append(
                (pk, store, merchant, customer, f"m-{pk}", channel.value, "USD", total, credits,
                 0, refunded, cashback, reversed_, _tier_of(customer, tiers), 1, status, at, at)
            )  # fmt: skip
            if cashback == 0:
                continue
            books.move(customer, "CREDIT", at, [("FUNDING", -cashback), ("PENDING", cashback)])
            left = cashback
            if reversed_:
                books.move(
                    customer, "TAKE_BACK", at + timedelta(days=3),
                    [("PENDING", -reversed_), ("FUNDING", reversed_)],
                )  # fmt: skip
                left -= reversed_
            matures = at + timedelta(days=PENDING_DAYS)
            if left == 0 or matures > now:
                continue
            books.move(customer, "MATURE", matures, [("PENDING", -left), ("AVAILABLE", left)])
            if rng.random() < 0.15 and matures + timedelta(days=10) < now:
                when = matures + timedelta(days=10)
                rid = len(redemptions) + 1
                books.move(customer, "RESERVE", when, [("AVAILABLE", -left), ("RESERVED", left)])
                books.move(customer, "CAPTURE", when, [("RESERVED", -left), ("SPENT", left)])
                spend_store, spend_merchant, spend_channel = rng.choice(stores)
                redemptions.append(
                    (rid, customer, spend_merchant, spend_channel.value, "CAPTURED", left, "USD",
                     f"bench-{rid}", when + timedelta(minutes=30), when, when, when,
                     f"order-{rid}", spend_store, spend_channel.value)
                )  # fmt: skip
            elif matures + timedelta(days=VALID_DAYS) < now:
                books.move(
                    customer, "EXPIRE", matures + timedelta(days=VALID_DAYS),
                    [("AVAILABLE", -left), ("EXPIRED", left)],
                )  # fmt: skip
            if rng.random() < 0.1:
                uses.append((rng.randint(1, 100), customer, pk, cashback // 5, 0, False, at))
        books.in_time_order()
        print(f"drew {len(purchases):,} purchases, {len(books.postings):,} postings")
        await _copy(conn, "cashback_purchases", purchases, [
            "id", "store_id", "merchant_id", "customer_id", "external_id", "channel",
            "currency", "total_minor", "credits_used_minor", "redeemed_minor",
            "refunded_minor", "cashback_minor", "cashback_reversed_minor", "tier_code",
            "terms_version", "status", "occurred_at", "created_at"])  # fmt: skip
        await _copy(conn, "ledger_transfers", books.transfers,
                    ["id", "customer_id", "currency", "kind", "created_at"])  # fmt: skip
        await _copy(conn, "ledger_postings", books.postings,
                    ["transfer_id", "customer_id", "currency", "account", "amount",
                     "created_at"])  # fmt: skip
        await _copy(conn, "ledger_wallets", [
            (c, "USD", w[1], w[0], w[2], books.earned.get(c, 0), now, now)
            for c, w in books.wallets.items()
        ], ["customer_id", "currency", "available", "pending", "reserved", "lifetime_earned",
            "created_at", "updated_at"])  # fmt: skip
        await _copy(conn, "redemptions", redemptions, [
            "id", "customer_id", "merchant_id", "channel", "status", "amount_minor", "currency",
            "idempotency_key", "expires_at", "created_at", "captured_at", "closed_at",
            "order_reference", "store_id", "captured_channel"])  # fmt: skip
        for table in ("cashback_purchases", "ledger_transfers", "redemptions"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT MAX(id) FROM {table}))"
            )
        offers = [
            Offer(title=f"Offer {n}", description="Bench", terms="Terms", kind="BONUS_CREDITS",
                  currency="USD", bonus_minor=500, starts_at=now - timedelta(days=DAYS),
                  ends_at=now + timedelta(days=30), created_at=now, updated_at=now)
            for n in range(1, 101)
        ]  # fmt: skip
        await Offer.bulk_create(offers)
        first_offer = await conn.fetchval("SELECT MIN(id) FROM offers")
        await _copy(conn, "offer_uses", [(u[0] + first_offer - 1, *u[1:]) for u in uses], [
            "offer_id", "customer_id", "purchase_id", "amount_minor", "returned_minor",
            "use_returned", "created_at"])  # fmt: skip
        activations = {
            (rng.randint(1, 100) + first_offer - 1, rng.choice(ids)) for _ in range(30_000)
        }
        await _copy(conn, "offer_customers", [
            (o, c, now - timedelta(days=DAYS * rng.random()), 0) for o, c in activations
        ], ["offer_id", "customer_id", "activated_at", "uses"])  # fmt: skip
        # VACUUM too: it sets the visibility map, without which the postings' and purchases'
        # covering indexes would still visit the heap.
        await conn.execute("VACUUM ANALYZE")
        await conn.execute(f"CREATE TABLE {META} (scale double precision, built_at timestamptz)")
        await conn.execute(f"INSERT INTO {META} VALUES ($1, now())", scale)
    finally:
        await conn.close()
    print(f"built bench_metrics at scale {scale:g} in {time.perf_counter() - started:.0f}s")


async def built_scale(url: str) -> float | None:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        if await conn.fetchval("SELECT to_regclass($1)", META) is None:
            return None
        return float(await conn.fetchval(f"SELECT scale FROM {META} LIMIT 1"))
    finally:
        await conn.close()


class Captured:
    """The statements (and their arguments) the app sends inside the block."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []
        self._originals: list[tuple[type, Any]] = []

    def __enter__(self) -> Captured:
        for cls in (AsyncpgDBClient,):  # the transaction wrapper inherits it
            original = cls.__dict__["execute_query_dict"]
            self._originals.append((cls, original))

            async def wrapped(
                self_: Any, query: str, values: Any = None, _o: Any = original
            ) -> Any:
                self.sent.append((query, list(values or [])))
                return await _o(self_, query, values)

            cls.execute_query_dict = wrapped  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        for cls, original in self._originals:
            cls.execute_query_dict = original  # type: ignore[method-assign]


# Which figure a statement computes, by a piece of its text.
LABELS = (
    ("WITH per AS", "headline (summary)"),
    ("'in' AS part", "finance (books)"),
    ("staged AS", "bySegment"),
    ("GROUP BY channel", "byChannel"),
    ("signed_up_month", "cohorts"),
    ("WITH b(i, ps, s, e)", "series"),
    ("WITH b(i, s, e)", "series liability"),
    ("counted AS", "topOffers"),
)
INDEX = re.compile(r"(?:Index|Index Only|Bitmap Index) Scan (?:Backward )?using (\w+)")


async def explain(
    url: str, statements: list[tuple[str, list[Any]]]
) -> list[tuple[str, float, list[str]]]:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    found = []
    try:
        # As app/insights/reading.py runs them.
        await conn.execute("SET jit = off; SET work_mem = '64MB'")
        for query, args in statements:
            if "ledger_" not in query and "cashback_" not in query:
                continue
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN ANALYZE {query}", *args))
            ms = float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1))  # type: ignore[union-attr]
            indexes = sorted(set(INDEX.findall(plan)))
            label = next((name for mark, name in LABELS if mark in query), "?")
            found.append((label, ms, indexes))
    finally:
        await conn.close()
    return found


async def measure(url: str, rounds: int) -> list[str]:
    settings = Settings(app_env="development", database_url=url, jwt_secret="b" * 64,
                        db_statement_timeout_ms=30_000, request_timeout_seconds=60)  # fmt: skip
    app = create_app(settings)
    lines = []
    async with app.router.lifespan_context(app):
        admin = await db.one("SELECT id FROM users WHERE role = 'ADMIN' LIMIT 1")
        assert admin is not None
        token, _ = issue_access_token(settings, user_id=admin["id"], role="ADMIN")
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            now = clock.now()
            cases = [
                ("contract document", CONTRACT, 365, {}),
                ("full document, monthly series", FULL, 365, {"interval": "MONTH"}),
                ("contract document", CONTRACT, 30, {}),
                ("full document, daily series", FULL, 30, {"interval": "DAY"}),
            ]
            header = "| Document | Period | Median | Max | Active customers | Purchases |"
            lines += [header, "|---|---|---|---|---|---|"]
            for name, query, days, extra in cases:
                variables = {
                    "from": (now - timedelta(days=days)).isoformat(),
                    "to": now.isoformat(),
                    **extra,
                }
                body = {"query": query, "variables": variables}
                headers = {"Authorization": f"Bearer {token}"}
                times, answer = [], {}
                for n in range(rounds + 1):
                    began = time.perf_counter()
                    response = await client.post("/graphql", json=body, headers=headers)
                    if n:
                        times.append(time.perf_counter() - began)
                    answer = response.json()
                    assert "errors" not in answer, answer
                found = answer["data"]["programMetrics"]
                count = found.get("purchaseCount", "")
                line = (f"| {name} | {days} days | {statistics.median(times) * 1000:,.0f} ms"
                        f" | {max(times) * 1000:,.0f} ms | {found['activeCustomers']:,} |"
                        f" {count if count == '' else f'{count:,}'} |")  # fmt: skip
                print(line, flush=True)
                lines.append(line)
            for days, interval in ((365, "MONTH"), (30, "DAY")):
                variables = {"from": (now - timedelta(days=days)).isoformat(),
                             "to": now.isoformat(), "interval": interval}  # fmt: skip
                with Captured() as captured:
                    await client.post(
                        "/graphql",
                        json={"query": FULL, "variables": variables},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                lines += [
                    "",
                    f"EXPLAIN ANALYZE of the full document's statements, {days} days:",
                    "",
                    "| Statement | Execution | Indexes |",
                    "|---|---|---|",
                ]
                for table, ms, indexes in await explain(url, captured.sent):
                    line = f"| {table} | {ms:,.1f} ms | {', '.join(indexes) or '(sequential)'} |"
                    print(line, flush=True)
                    lines.append(line)
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 1,000,000 purchases")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fresh", action="store_true", help="rebuild the data")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    await ensure_database(url)
    if args.fresh or await built_scale(url) != args.scale:
        await fresh_database(url)
        settings = Settings(app_env="development", database_url=url)
        await db.migrate_db(settings)
        await db.init_db(settings)
        try:
            await build(url, args.scale)
        finally:
            await db.close_db()
    lines = await measure(url, args.rounds)
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        purchases = await conn.fetchval("SELECT COUNT(*) FROM cashback_purchases")
        postings = await conn.fetchval("SELECT COUNT(*) FROM ledger_postings")
    finally:
        await conn.close()
    RESULTS.write_text(
        "# programMetrics benchmark\n\n"
        f"{purchases:,} purchases, {postings:,} ledger postings (scale {args.scale:g});"
        f" {args.rounds} timed rounds after a warm-up, through the GraphQL app on"
        f" PostgreSQL; measured {clock.now():%Y-%m-%d}.\n\n" + "\n".join(lines) + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    asyncio.run(main())
