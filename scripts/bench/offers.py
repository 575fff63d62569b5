"""Listing one customer's live offers: 2,000 offers over 10 audiences, 10,000 customers.

    .venv/bin/python scripts/bench/offers.py [--database-url ...] \
        [--customers 10000 --offers 2000 --samples 500]

Runs against PostgreSQL: --database-url (or BENCH_DATABASE_URL), by default
postgres://postgres@127.0.0.1:5432/bench_offers, created if missing, emptied and migrated with
the app's migrations. One offer per audience is made through `create_offer`; the others are
copied from those (COPY) with their own terms: merchant, category, kind, window, activation,
per-customer limit, budget. Customers are one account made through the service and the
others copied from it; a share of them activated or used some offers (`offer_customers`).
Each customer's tier and purchase profile are drawn at random into the `Member` that
audiences compare (app.segments keeps no profiles to read them from).

For `--samples` random customers the script calls `offers_for` (first 10 and 50, in the
program's order and personalized) and times the call through the app's asyncpg pool, then
runs the statement it sent under EXPLAIN (ANALYZE, FORMAT JSON): database time is its
planning plus execution time. It prints the median and p99 of each, per configuration and
per kind of customer, and the rows the plan sorted (personalized: every live offer in the
customer's audience; in the program's order, read from the (status, uses_count) index, only
those up to the page's end). Goal: under 5 ms of database time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg
from bench_db import fresh_database

from app import db
from app.accounts.service import create_user
from app.cashback.earning import OfferKind
from app.catalog import service as catalog
from app.catalog.service import normalize_category
from app.catalog.values import Channel
from app.core import clock
from app.core.ids import encode_id
from app.offers import feed
from app.offers.audience import Member, age_at, generation_of
from app.offers.service import AudienceSpec, OfferSpec, create_offer
from app.settings import Settings

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_offers"
GOAL_MS = 5.0
MERCHANTS = 20
CATEGORIES = (
    "Groceries", "Electronics", "Home", "Garden", "Toys", "Books", "Music", "Sports",
    "Beauty", "Health", "Fashion", "Shoes", "Jewellery", "Pets", "Baby", "Auto",
    "Office", "Travel", "Restaurants", "Games",
)  # fmt: skip
TIERS = (("BRONZE", 60), ("SILVER", 25), ("GOLD", 15))

# The ten audiences ("segments") offers are spread over, each made from the offer's number.
AUDIENCES: tuple[tuple[str, Callable[[int], AudienceSpec | None]], ...] = (
    ("everyone", lambda n: None),
    ("GOLD tier", lambda n: AudienceSpec(tiers=["GOLD"])),
    ("SILVER tier", lambda n: AudienceSpec(tiers=["SILVER"])),
    ("aged 18-34", lambda n: AudienceSpec(min_age=18, max_age=34)),
    ("birthday month", lambda n: AudienceSpec(birthday_month=True)),
    ("favourite category", lambda n: AudienceSpec(favorite_category=category_of(n))),
    ("new customers", lambda n: AudienceSpec(new_customers=True)),
    ("lapsed 90 days", lambda n: AudienceSpec(lapsed_days=90)),
    ("online and in store", lambda n: AudienceSpec(channels=[Channel.ONLINE, Channel.IN_STORE])),
    ("monetary score 4+", lambda n: AudienceSpec(min_monetary_score=4)),
)
CONFIGS = ((10, False), (10, True), (50, False), (50, True))


def category_of(n: int) -> str:
    return CATEGORIES[n % len(CATEGORIES)]


@dataclass(frozen=True, slots=True)
class Customer:
    id: int
    member: Member
    favorite_merchant_ids: tuple[int, ...]
    average_ticket_minor: int

    def reader(self, personalized: bool) -> feed.Reader:
        return feed.Reader(
            customer_id=self.id,
            member=self.member,
            personalized=personalized,
            favorite_category=self.member.favorite_category if personalized else None,
            favorite_merchant_ids=self.favorite_merchant_ids if personalized else (),
            average_ticket_minor=self.average_ticket_minor if personalized else 0,
        )


# --- the data ----------------------------------------------------------------------------


async def seed_catalog() -> list[int]:
    merchants = []
    for m in range(MERCHANTS):
        merchant = await catalog.create_merchant(
            name=f"Merchant {m}", logo_url=None, cashback_percent=Decimal("2")
        )
        await catalog.create_store(
            merchant_id=merchant.id, name=f"Merchant {m} online", channel=Channel.ONLINE
        )
        await catalog.create_store(
            merchant_id=merchant.id, name=f"Merchant {m} downtown", channel=Channel.IN_STORE
        )
        await catalog.upsert_products(
            merchant_id=merchant.id,
            products=[
                catalog.ProductData(
                    sku=f"SKU-{i}",
                    name=f"Product {i}",
                    category=category_of(m + i),
                    price_amount=Decimal("9.99"),
                    price_currency="USD",
                )
                for i in range(50)
            ],
        )
        merchants.append(merchant.id)
    return merchants


async def seed_customers(conn: asyncpg.Connection, count: int, rng: random.Random) -> None:
    """One account through the service, the others copied from it (the password hash is
    deliberately slow and not what this measures)."""
    first = await create_user(email="offers0@example.com", password="x" * 12, display_name="C0")
    now = clock.now()
    records = [
        (
            f"offers{i}@example.com",
            first.password_hash,
            "CUSTOMER",
            f"C{i}",
            date(rng.randint(1945, 2008), rng.randint(1, 12), rng.randint(1, 28)),
            f"O{i:07}",
            f"R{i:07}",
            rng.random() < 0.5,
            False,
            now,
            now,
        )
        for i in range(1, count)
    ]
    await conn.copy_records_to_table(
        "users",
        records=records,
        columns=[
            "email", "password_hash", "role", "display_name", "birth_date", "member_code",
            "referral_code", "consent_personalization", "consent_marketing", "created_at",
            "updated_at",
        ],
    )  # fmt: skip


async def seed_templates(merchants: list[int], now: datetime) -> None:
    """One offer per audience, through the service (so the columns are the app's own)."""
    for n, (label, audience) in enumerate(AUDIENCES):
        await create_offer(
            OfferSpec(
                title=f"Offer {n}: {label}",
                description="Benchmark offer",
                kind=OfferKind.BOOSTED_CASHBACK,
                percent=Decimal("3"),
                starts_at=now - timedelta(days=10),
                ends_at=now + timedelta(days=60),
                terms="Benchmark terms",
                merchant_id=encode_id("Merchant", merchants[n % len(merchants)]),
                audience=audience(n),
            )
        )


def varied(template: dict[str, Any], n: int, merchants: list[int], rng: random.Random) -> None:
    """Offer number `n`: its template's audience with terms of its own."""
    now = template["created_at"]
    template["title"] = f"Offer {n}"
    if rng.random() < 0.7:
        template.update(
            kind=OfferKind.BOOSTED_CASHBACK.value,
            percent=Decimal(rng.choice(("1", "2", "2.5", "3", "5", "10"))),
            bonus_minor=None,
            minimum_spend_minor=None,
        )
    else:
        template.update(
            kind=OfferKind.BONUS_CREDITS.value,
            percent=None,
            bonus_minor=rng.choice((100, 250, 500, 1000)),
            minimum_spend_minor=rng.choice((None, 2000, 5000, 10000)),
        )
    template["merchant_id"] = rng.choice(merchants) if rng.random() < 0.6 else None
    category = rng.choice(CATEGORIES) if rng.random() < 0.4 else None
    template.update(category=category, category_key=normalize_category(category))
    template["channels"] = rng.choice((None, None, None, "ONLINE", "IN_STORE"))
    template["starts_at"] = now - timedelta(days=rng.randint(0, 60), minutes=1)
    template["ends_at"] = now + timedelta(days=rng.randint(1, 120))
    template["requires_activation"] = rng.random() < 0.25
    template["per_customer_limit"] = rng.choice((1, 2, 3, 5)) if rng.random() < 0.3 else None
    template["budget_minor"] = 50_000_000 if rng.random() < 0.1 else None
    template["budget_used_minor"] = rng.randrange(1_000_000) if template["budget_minor"] else 0
    template["uses_count"] = rng.randrange(5_000)
    if not template["targeted"]:
        template["members_only"] = rng.random() < 0.3
    if template["aud_favorite_category"] is not None:
        template["aud_favorite_category"] = normalize_category(category_of(n))


async def seed_offers(
    conn: asyncpg.Connection, count: int, merchants: list[int], rng: random.Random
) -> None:
    templates = [dict(r) for r in await conn.fetch("SELECT * FROM offers ORDER BY id")]
    columns = [c for c in templates[0] if c != "id"]
    records = []
    for n in range(len(templates), count):
        row = dict(templates[n % len(templates)])
        varied(row, n, merchants, rng)
        records.append(tuple(row[c] for c in columns))
    await conn.copy_records_to_table("offers", records=records, columns=columns)


async def seed_standings(conn: asyncpg.Connection, share: float, rng: random.Random) -> int:
    """Activations and uses: `share` of the customers have 1 to 15 offers each."""
    offers = await conn.fetch("SELECT id, requires_activation, per_customer_limit FROM offers")
    customers = [r["id"] for r in await conn.fetch("SELECT id FROM users")]
    now = clock.now()
    records = []
    for customer in rng.sample(customers, int(len(customers) * share)):
        for offer in rng.sample(offers, rng.randint(1, 15)):
            limit = offer["per_customer_limit"] or 3
            if offer["requires_activation"]:
                activated, uses = now - timedelta(days=rng.randint(0, 30)), rng.randint(0, limit)
            else:
                activated, uses = None, rng.randint(1, limit)
            records.append((offer["id"], customer, activated, uses))
    await conn.copy_records_to_table(
        "offer_customers",
        records=records,
        columns=["offer_id", "customer_id", "activated_at", "uses"],
    )
    return len(records)


def drawn_member(birth_date: date, now: datetime, rng: random.Random) -> Member:
    """A customer as audiences see them: a tier and a purchase profile drawn at random
    (15 % new customers, about 10 % lapsed for 90 days or more)."""
    tier = rng.choices([t for t, _ in TIERS], [w for _, w in TIERS])[0]
    common = dict(
        tier_code=tier,
        age=age_at(birth_date, now.date()),
        generation=generation_of(birth_date),
        in_birthday_month=birth_date.month == now.month,
    )
    if rng.random() < 0.15:
        return Member(
            **common,
            favorite_category=None,
            purchase_count=0,
            days_since_last_purchase=None,
            channels_used=None,
            recency=0,
            frequency=0,
            monetary=0,
        )
    return Member(
        **common,
        favorite_category=normalize_category(rng.choice(CATEGORIES)),
        purchase_count=rng.randint(1, 80),
        days_since_last_purchase=min(700, int(rng.expovariate(1 / 40))),
        channels_used=rng.choice(("ONLINE", "IN_STORE", "BOTH")),
        recency=rng.randint(1, 5),
        frequency=rng.randint(1, 5),
        monetary=rng.randint(1, 5),
    )


async def customers_of(
    conn: asyncpg.Connection, merchants: list[int], now: datetime, rng: random.Random
) -> list[Customer]:
    rows = await conn.fetch("SELECT id, birth_date FROM users WHERE birth_date IS NOT NULL")
    return [
        Customer(
            id=r["id"],
            member=drawn_member(r["birth_date"], now, rng),
            favorite_merchant_ids=tuple(rng.sample(merchants, rng.randint(0, 3))),
            average_ticket_minor=rng.randint(1_000, 20_000),
        )
        for r in rows
    ]


# --- the measure -------------------------------------------------------------------------


class Sent:
    """The statement `offers_for` sends, kept as it goes through `db.rows`."""

    def __init__(self) -> None:
        self.original = db.rows
        self.query: tuple[str, tuple[Any, ...]] | None = None

    async def rows(self, query: str, *params: Any) -> list[dict[str, Any]]:
        self.query = (query, params)
        return await self.original(query, *params)


@dataclass
class Sample:
    call: float  # seconds, the call through the app's pool
    database: float  # seconds, planning + execution as EXPLAIN ANALYZE reports them
    sorted_rows: int | None  # rows the plan's sort took in


def rows_sorted(plan: dict[str, Any]) -> int | None:
    """The rows the plan's sort took in: personalized, every live offer in the customer's
    audience; in the program's order, those read from the index until the page was full."""
    if plan["Node Type"] in ("Sort", "Incremental Sort"):
        return int(plan["Plans"][0]["Actual Rows"])
    for child in plan.get("Plans", ()):
        found = rows_sorted(child)
        if found is not None:
            return found
    return None


async def explained(conn: asyncpg.Connection, query: str, params: Sequence[Any]) -> Sample:
    text = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + db.numbered(query), *params)
    [report] = json.loads(text)
    return Sample(
        call=0.0,
        database=(report["Planning Time"] + report["Execution Time"]) / 1000,
        sorted_rows=rows_sorted(report["Plan"]),
    )


async def measure(
    conn: asyncpg.Connection, customers: Sequence[Customer], warm_up: int
) -> dict[tuple[int, bool], list[tuple[Customer, Sample]]]:
    sent = Sent()
    db.rows = sent.rows  # type: ignore[assignment]
    found: dict[tuple[int, bool], list[tuple[Customer, Sample]]] = defaultdict(list)
    try:
        for i, customer in enumerate(customers):
            for first, personalized in CONFIGS:
                now = clock.now()
                started = time.perf_counter()
                await feed.offers_for(
                    customer.reader(personalized),
                    first=first,
                    after=None,
                    merchant_id=None,
                    category=None,
                    now=now,
                )
                call = time.perf_counter() - started
                assert sent.query is not None
                sample = await explained(conn, *sent.query)
                sample.call = call
                if i >= warm_up:
                    found[first, personalized].append((customer, sample))
    finally:
        db.rows = sent.original  # type: ignore[assignment]
    return found


def groups_of(member: Member) -> list[str]:
    """The kinds of customer the report splits samples by (a customer is in several)."""
    found = [f"{member.tier_code} tier"]
    tests = {
        "new customer": member.purchase_count == 0,
        "lapsed 90+ days": (member.days_since_last_purchase or 0) >= 90,
        "online and in store": member.channels_used == "BOTH",
        "birthday month": member.in_birthday_month,
        "aged 18-34": member.age is not None and 18 <= member.age <= 34,
        "monetary score 4+": member.monetary >= 4,
    }
    return found + [name for name, holds in tests.items() if holds]


def percentile(samples: Sequence[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f}"


def figures(samples: Sequence[Sample]) -> str:
    database, call = [s.database for s in samples], [s.call for s in samples]
    counts = [s.sorted_rows for s in samples if s.sorted_rows is not None]
    return (
        f"{ms(statistics.median(database))} {ms(percentile(database, 0.99))} "
        f"{ms(max(database))}   {ms(statistics.median(call))} {ms(percentile(call, 0.99))}"
        f"   {int(statistics.median(counts)) if counts else '-':>6}"
    )


def report(found: dict[tuple[int, bool], list[tuple[Customer, Sample]]]) -> float:
    """Print the tables; the worst p99 of database time, in seconds."""
    header = "db median    p99     max   call median  p99   rows sorted (median)"
    print(f"{'first  order':<26}{header}")
    worst = 0.0
    for (first, personalized), pairs in found.items():
        samples = [s for _, s in pairs]
        worst = max(worst, percentile([s.database for s in samples], 0.99))
        order = "personalized" if personalized else "program"
        print(f"{first:>5}  {order:<18}{figures(samples)}")
    pairs = found[10, True]
    print(f"\nby kind of customer, first 10, personalized ({len(pairs)} customers):")
    print(f"{'':<26}{header}")
    by_group: dict[str, list[Sample]] = defaultdict(list)
    for customer, sample in pairs:
        for group in groups_of(customer.member):
            by_group[group].append(sample)
    for group, samples in sorted(by_group.items()):
        print(f"{group:<18} {len(samples):>5}  {figures(samples)}")
    return worst


async def seed(url: str, args: argparse.Namespace, rng: random.Random) -> tuple[list[int], int]:
    now = clock.now()
    started = time.perf_counter()
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        merchants = await seed_catalog()
        await seed_customers(conn, args.customers, rng)
        await seed_templates(merchants, now)
        await seed_offers(conn, args.offers, merchants, rng)
        standings = await seed_standings(conn, 0.3, rng)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    print(
        f"seeded {args.customers:,} customers, {args.offers:,} live offers over "
        f"{len(AUDIENCES)} audiences, {standings:,} activations and uses in "
        f"{time.perf_counter() - started:.1f}s"
    )
    return merchants, standings


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--offers", type=int, default=2_000)
    parser.add_argument("--samples", type=int, default=500, help="customers measured")
    parser.add_argument("--warm-up", type=int, default=50, help="customers read first, untimed")
    args = parser.parse_args()
    url = args.database_url
    if not db.is_postgres(url):
        print("error: this benchmark runs on PostgreSQL (pass a postgres:// URL)", file=sys.stderr)
        return 2
    rng = random.Random(20_000)
    await fresh_database(url)
    settings = Settings(database_url=url, app_env="development", db_statement_timeout_ms=0)
    await db.migrate_db(settings)
    await db.close_db()
    await db.init_db(settings)
    conn = None
    try:
        merchants, _ = await seed(url, args, rng)
        conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
        customers = await customers_of(conn, merchants, clock.now(), rng)
        chosen = rng.sample(customers, min(len(customers), args.samples + args.warm_up))
        found = await measure(conn, chosen, args.warm_up)
    finally:
        if conn is not None:
            await conn.close()
        await db.close_db()
    print(
        f"offers_for, {len(chosen) - args.warm_up} random customers, times in ms "
        f"(database: EXPLAIN ANALYZE planning + execution; call: through the app's pool)"
    )
    worst = report(found)
    met = worst * 1000 < GOAL_MS
    print(
        f"\nworst p99 of database time: {worst * 1000:.2f} ms "
        f"(goal < {GOAL_MS:g} ms: {'met' if met else 'NOT met'})"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
