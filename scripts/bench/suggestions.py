"""Suggestions on a year of purchases (50,000 products, 1,000,000 purchase lines), and what
keeping their co-purchase statistics adds to recording a purchase.

    .venv/bin/python scripts/bench/suggestions.py [--database-url ...] [--scale 1] \
        [--customers 20000 --products 50000 --lines 1000000] [--samples 200] \
        [--rounds 10 --purchases 500 --alone 300] [--explain-rebuild]

Runs against PostgreSQL: --database-url (or BENCH_DATABASE_URL), by default
postgres://postgres@127.0.0.1:5432/bench_suggestions, created if missing, emptied and migrated
with the app's migrations. The catalogue, customers and purchases are copied in by
`dataset.load` (see dataset.py for their shape); then the app's own rebuilds make the
customers' profiles (`rebuild_profiles`) and the co-purchase statistics
(`rebuild_co_purchases`), each timed, the second split by what it waited on.

1. For `--samples` random customers with purchases, `suggestions_for` (personalized; first 6
   and 50; from their history, and from their latest purchase) is timed through the app's
   pool, then every statement it sent runs again under EXPLAIN (ANALYZE, TIMING OFF):
   database time is the sum of their planning and execution times (the candidates'
   statement is also shown alone, with the pairs and indexes its plan read, and the slowest
   one's plan in full). `related_products` is
   measured the same way for the most bought products and for rarely bought ones. Goal:
   under 10 ms of database time.
2. Purchases of 5 catalogue items, for customers with a purchase in the last 20 days (so the
   follow-up window holds others), are recorded through
   `app.cashback.purchases.record_purchases` (batches of 100) in alternating rounds in one
   run: A with the statistics (`app.suggestions.statistics.record_purchase`), B with it
   replaced by a no-op. Their medians' difference is what the statistics add to a purchase
   (goal: under 2 ms). Then `--alone` purchases are recorded one at a time, the hook's read
   and write timed apart.

--explain-rebuild prints, last, the plan of the rebuild's pair count, run again and rolled
back (which leaves the pairs' table twice its size until vacuumed).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import os
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg
import dataset as data
from bench_db import fresh_database
from tortoise.backends.asyncpg.client import AsyncpgDBClient

from app import db
from app.cashback import baskets
from app.cashback.profiles import rebuild_profiles
from app.cashback.purchases import CustomerRef, ItemInput, PurchaseInput, record_purchases
from app.cashback.rules import create_rule
from app.catalog import service as catalog
from app.core import clock
from app.core.ids import encode_id
from app.settings import Settings
from app.suggestions import service as suggestions
from app.suggestions import statistics as co_purchases

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_suggestions"
SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
READ_GOAL_MS = 10.0
WRITE_GOAL_MS = 2.0
BATCH = 100
ITEMS = 5
RECENT_DAYS = 20
# (first, from the latest purchase): all personalized.
CONFIGS = ((6, False), (6, True), (50, False), (50, True))
RELATED_FIRST = (6, 50)
CANDIDATES = "CROSS JOIN LATERAL"


# --- what the database did ------------------------------------------------------------------


@contextmanager
def sent_statements() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """Every statement sent through the app's asyncpg client meanwhile (ORM and raw SQL)."""
    sent: list[tuple[str, tuple[Any, ...]]] = []
    query, query_dict = AsyncpgDBClient.execute_query, AsyncpgDBClient.execute_query_dict

    async def execute_query(self: Any, sql: str, values: list[Any] | None = None) -> Any:
        sent.append((sql, tuple(values or ())))
        return await query(self, sql, values)

    async def execute_query_dict(self: Any, sql: str, values: list[Any] | None = None) -> Any:
        sent.append((sql, tuple(values or ())))
        return await query_dict(self, sql, values)

    AsyncpgDBClient.execute_query = execute_query  # type: ignore[method-assign]
    AsyncpgDBClient.execute_query_dict = execute_query_dict  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        AsyncpgDBClient.execute_query = query  # type: ignore[method-assign]
        AsyncpgDBClient.execute_query_dict = query_dict  # type: ignore[method-assign]


def pairs_read(plan: dict[str, Any]) -> int:
    """Rows of suggestion_pairs the plan read (over all its loops)."""
    own = plan["Actual Rows"] * plan["Actual Loops"]
    found = own if plan.get("Relation Name") == "suggestion_pairs" else 0
    return found + sum(pairs_read(child) for child in plan.get("Plans", ()))


def indexes_read(plan: dict[str, Any]) -> Iterator[str]:
    """`Node Type on index` for each index the plan read."""
    if "Index Name" in plan:
        yield f"{plan['Node Type']} on {plan['Index Name']}"
    for child in plan.get("Plans", ()):
        yield from indexes_read(child)


@dataclass
class Sample:
    call: float = 0.0  # seconds through the app's pool
    database: float = 0.0  # seconds: planning + execution of every statement sent
    candidates: float = 0.0  # seconds: the same, of the candidates' statement alone
    statements: int = 0
    shown: int = 0
    from_pairs: int = 0  # suggestions that a pair brought
    pairs_read: int = 0  # rows of suggestion_pairs the candidates' plan read
    indexes: list[str] = field(default_factory=list)
    candidates_sent: tuple[str, tuple[Any, ...]] | None = None


async def explain_all(
    conn: asyncpg.Connection, sent: Sequence[tuple[str, tuple[Any, ...]]], sample: Sample
) -> None:
    for sql, params in sent:
        if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
            raise SystemExit(f"a read sent a write: {sql[:80]}")
        # Without timing each node (its clock reads would add to the time measured).
        text = await conn.fetchval("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + sql, *params)
        [report] = json.loads(text)
        seconds = (report["Planning Time"] + report["Execution Time"]) / 1000
        sample.database += seconds
        if CANDIDATES in sql:
            sample.candidates += seconds
            sample.indexes += indexes_read(report["Plan"])
            sample.pairs_read += pairs_read(report["Plan"])
            sample.candidates_sent = (sql, params)
    sample.statements = len(sent)


async def measured(
    conn: asyncpg.Connection, call: Callable[[], Awaitable[Sequence[Any]]]
) -> tuple[Sample, Sequence[Any]]:
    with sent_statements() as sent:
        started = time.perf_counter()
        found = await call()
        seconds = time.perf_counter() - started
    sample = Sample(call=seconds, shown=len(found))
    await explain_all(conn, sent, sample)
    return sample, found


# --- the data and the rebuilds --------------------------------------------------------------


class Phases:
    """Time spent in some of the app's functions while on, by label."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.restore: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: Callable[[tuple[Any, ...]], str]) -> None:
        original = getattr(owner, name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                self.seconds[label(args)] += time.perf_counter() - started

        setattr(owner, name, timed)
        self.restore.append((owner, name, original))

    def undo(self) -> None:
        for owner, name, original in reversed(self.restore):
            setattr(owner, name, original)


def statement_label(args: tuple[Any, ...]) -> str:
    sql = str(args[0]).lstrip()
    if sql.startswith("INSERT INTO suggestion_pairs"):
        return "counting pairs (_COUNT_PAIRS)"
    return f"other statements ({sql.split()[0]})"


async def rebuild_statistics() -> tuple[int, float, Counter[str]]:
    """`rebuild_co_purchases`, timed as a whole and by phase."""
    phases = Phases()
    phases.wrap(db, "rows", lambda _: "reading purchases (baskets._BASKETS)")
    phases.wrap(catalog, "product_keys_of", lambda _: "reading their products (catalogue)")
    phases.wrap(db, "execute_many", lambda _: "inserting basket lines and products")
    phases.wrap(db, "execute", statement_label)
    started = time.perf_counter()
    try:
        counted = await baskets.rebuild_co_purchases()
    finally:
        phases.undo()
    seconds = time.perf_counter() - started
    phases.seconds["Python (baskets, chunks)"] = seconds - sum(phases.seconds.values())
    return counted, seconds, phases.seconds


async def explain_rebuild(conn: asyncpg.Connection) -> None:
    """The pair count's plan with its times (run again, then rolled back)."""
    # The rebuild's own statement (a private name: the bench reads it, the app does not).
    sql = db.numbered(co_purchases._COUNT_PAIRS)
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute("DELETE FROM suggestion_pairs")
        text = await conn.fetchval(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *[co_purchases.FOLLOW_UP_DAYS] * 4
        )
    finally:
        await transaction.rollback()

    def nodes(plan: dict[str, Any], depth: int) -> Iterator[str]:
        loops = plan["Actual Loops"]
        spilled = [
            f"{key} {plan[key]:,} kB"
            for key in ("Sort Space Used", "Disk Usage", "Peak Memory Usage")
            if key in plan
        ]
        yield (
            f"{'  ' * depth}{plan['Node Type']} {plan.get('Relation Name', '')}"
            f" {plan.get('Strategy', '')} {plan.get('Sort Method', '')} {', '.join(spilled)}"
            f" rows={plan['Actual Rows'] * loops:,}"
            f" until {plan['Actual Total Time'] * loops / 1000:.1f}s"
        )
        for child in plan.get("Plans", ()):
            yield from nodes(child, depth + 1)

    [report] = json.loads(text)
    print("the pair count's plan (EXPLAIN ANALYZE; each node's time includes its children's):")
    for line in nodes(report["Plan"], 1):
        print(line)


async def seed_rules(dataset: data.Dataset, rng: random.Random) -> None:
    """A few category rules above the merchants' own percents: some suggestions earn more."""
    categories = sorted({p.category for p in dataset.products.values()})
    for category in rng.sample(categories, min(10, len(categories))):
        await create_rule(
            name=f"{category} week", percent=Decimal("6"), terms="Benchmark", category=category
        )


async def prepare(
    url: str, shape: data.Shape, args: argparse.Namespace
) -> tuple[data.Dataset, float]:
    """The data loaded and both rebuilds made; the seconds the statistics' rebuild took."""
    dataset = await data.load(url, shape)
    print(
        f"loaded {len(dataset.customers):,} customers, {len(dataset.products):,} products of "
        f"{len(dataset.merchants)} merchants in {len(dataset.bundles):,} bundles, "
        f"{dataset.purchases:,} purchases with {dataset.lines:,} lines in {dataset.seconds:.1f}s"
    )
    await seed_rules(dataset, random.Random(shape.seed))
    started = time.perf_counter()
    profiles = await rebuild_profiles(now=clock.now())
    print(f"rebuild_profiles: {profiles:,} profiles in {time.perf_counter() - started:.1f}s")
    counted, seconds, phases = await rebuild_statistics()
    print(f"rebuild_co_purchases: {counted:,} purchases in {seconds:.1f}s, of which")
    for label, spent in phases.most_common():
        print(f"  {spent:7.1f}s  {label}")
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("ANALYZE")
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM suggestion_basket_lines) AS lines,"
            " (SELECT count(*) FROM suggestion_products WHERE purchases > 0) AS products,"
            " (SELECT count(*) FROM suggestion_pairs) AS pairs,"
            " (SELECT count(*) FROM suggestion_pairs WHERE together + follow_ups >= $1) AS kept,"
            " (SELECT max(together) FROM suggestion_pairs) AS top",
            suggestions.MIN_SUPPORT,
        )
        print(
            f"statistics: {counts['lines']:,} basket lines, {counts['products']:,} products "
            f"bought, {counts['pairs']:,} ordered pairs ({counts['kept']:,} with support "
            f">= {suggestions.MIN_SUPPORT}; the best pair bought together {counts['top']:,} times)"
        )
    finally:
        await conn.close()
    return dataset, seconds


# --- 1. reading ------------------------------------------------------------------------------


async def show_one(dataset: data.Dataset, customer: int) -> None:
    """One customer's suggestions in full: the service works on this data."""
    purchase = encode_id("Purchase", dataset.latest[customer][0])
    found = await suggestions.suggestions_for(
        customer_id=customer, personalized=True, first=6, purchase_id=purchase
    )
    if not found:
        raise SystemExit(f"no suggestion for customer {customer}")
    print(f"\ncustomer {customer}'s suggestions after their latest purchase:")
    for s in found:
        print(
            f"  {s.product.name:<36} {s.estimated_cashback.minor:>5} cents back"
            f"{'  affordable' if s.affordable_with_balance else ''}  ({s.reason})"
        )


async def measure_suggestions(
    conn: asyncpg.Connection, dataset: data.Dataset, customers: Sequence[int], warm_up: int
) -> dict[str, list[Sample]]:
    found: dict[str, list[Sample]] = defaultdict(list)
    for i, customer in enumerate(customers):
        latest = encode_id("Purchase", dataset.latest[customer][0])
        for first, after_purchase in CONFIGS:
            call = functools.partial(
                suggestions.suggestions_for,
                customer_id=customer,
                personalized=True,
                first=first,
                purchase_id=latest if after_purchase else None,
            )
            sample, shown = await measured(conn, call)
            sample.from_pairs = sum(s.reason.startswith("Often bought with") for s in shown)
            if i >= warm_up:
                label = f"first {first}, {'latest purchase' if after_purchase else 'history'}"
                found[label].append(sample)
    return found


async def _related(product: int, first: int) -> Sequence[Any]:
    """One product's related products, as `Product.related` loads them."""
    [found] = await suggestions.related_products([(product, first)])
    return found


async def measure_related(
    conn: asyncpg.Connection, groups: dict[str, Sequence[int]], warm_up: int
) -> dict[str, list[Sample]]:
    found: dict[str, list[Sample]] = defaultdict(list)
    for name, products in groups.items():
        for i, product in enumerate(products):
            for first in RELATED_FIRST:
                sample, _ = await measured(conn, functools.partial(_related, product, first))
                if i >= warm_up:
                    found[f"{name}, first {first}"].append(sample)
    return found


async def related_groups(conn: asyncpg.Connection, count: int) -> dict[str, list[int]]:
    """The most bought products, and as many bought 1 to 3 times."""
    popular = await conn.fetch(
        "SELECT product_id FROM suggestion_products ORDER BY purchases DESC LIMIT $1", count
    )
    rare = await conn.fetch(
        "SELECT product_id FROM suggestion_products WHERE purchases BETWEEN 1 AND 3"
        " ORDER BY random() LIMIT $1",
        count,
    )
    return {
        "popular products": [r["product_id"] for r in popular],
        "rare products (1-3 purchases)": [r["product_id"] for r in rare],
    }


def percentile(samples: Sequence[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f}"


def report(title: str, found: dict[str, list[Sample]], *, reasons: bool = True) -> float:
    """Print one table; the worst p99 of database time, in seconds."""
    print(f"\n{title}, times in ms")
    print(
        f"{'':<42}{'db median':>9} {'p99':>7}   {'candidates median':>17} {'p99':>7}"
        f"   {'call median':>11} {'p99':>7}  statements  pairs read  shown  from pairs"
    )
    worst = 0.0
    for label, samples in found.items():
        database = [s.database for s in samples]
        candidates = [s.candidates for s in samples]
        calls = [s.call for s in samples]
        worst = max(worst, percentile(database, 0.99))
        print(
            f"{label:<42}{ms(statistics.median(database)):>9} {ms(percentile(database, 0.99))}"
            f"   {ms(statistics.median(candidates)):>17} {ms(percentile(candidates, 0.99))}"
            f"   {ms(statistics.median(calls)):>11} {ms(percentile(calls, 0.99))}"
            f"  {statistics.median(s.statements for s in samples):>10.0f}"
            f"  {statistics.median(s.pairs_read for s in samples):>10.0f}"
            f"  {statistics.mean(s.shown for s in samples):>5.1f}"
            + (f"  {statistics.mean(s.from_pairs for s in samples):>10.1f}" if reasons else "")
        )
    indexes: Counter[str] = Counter()
    for samples in found.values():
        for s in samples:
            indexes.update(set(s.indexes))
    total = sum(len(samples) for samples in found.values())
    print("indexes the candidates' plans read (share of calls):")
    for name, count in indexes.most_common():
        print(f"  {count / total:6.1%}  {name}")
    return worst


async def show_slowest(conn: asyncpg.Connection, found: dict[str, list[Sample]]) -> None:
    """The plan of the slowest candidates' statement, run again."""
    slowest = max((s for samples in found.values() for s in samples), key=lambda s: s.candidates)
    assert slowest.candidates_sent is not None
    sql, params = slowest.candidates_sent
    rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *params)
    print(f"the slowest candidates' statement ({ms(slowest.candidates).strip()} ms), again:")
    for row in rows:
        print(f"  {row[0]}")


# --- 2. writing ------------------------------------------------------------------------------


class Basketeer:
    """Purchases of 5 catalogue items (one bundle completed from its merchant's products)
    for customers who bought in the last `RECENT_DAYS` days."""

    def __init__(self, dataset: data.Dataset) -> None:
        self.dataset = dataset
        since = dataset.now - timedelta(days=RECENT_DAYS)
        self.customers = sorted(c for c, (_, at) in dataset.latest.items() if at >= since)
        self.sold: dict[int, list[data.Product]] = defaultdict(list)
        for product in dataset.products.values():
            if product.active:
                self.sold[product.merchant_id].append(product)
        self.bundles = [
            b for b in dataset.bundles if len(self.sold[dataset.products[b[0]].merchant_id]) >= 8
        ][:2_000]

    def items(self, rng: random.Random) -> tuple[int, list[data.Product]]:
        bundle = [self.dataset.products[pk] for pk in rng.choice(self.bundles)]
        merchant = bundle[0].merchant_id
        chosen = {p.id: p for p in bundle if p.active}
        while len(chosen) < ITEMS:
            product = rng.choice(self.sold[merchant])
            chosen.setdefault(product.id, product)
        return merchant, list(chosen.values())[:ITEMS]

    def purchases(self, size: int, counter: Iterator[int]) -> list[PurchaseInput]:
        rng = random.Random(next(counter))
        made = []
        for _ in range(size):
            merchant, products = self.items(rng)
            store, _ = self.dataset.stores[merchant][0]
            items = [
                ItemInput(
                    sku=p.sku,
                    quantity=rng.randint(1, 2),
                    unit_price_amount=Decimal(p.price_minor).scaleb(-2),
                    unit_price_currency=self.dataset.currency,
                    name=p.name,
                    category=p.category,
                )
                for p in products
            ]
            made.append(
                PurchaseInput(
                    store_id=encode_id("Store", store),
                    external_id=f"bench-{next(counter)}",
                    customer=CustomerRef(
                        member_code=self.dataset.customers[rng.choice(self.customers)]
                    ),
                    total_amount=sum((i.unit_price_amount * i.quantity for i in items), Decimal(0)),
                    total_currency=self.dataset.currency,
                    occurred_at=clock.now() - timedelta(minutes=rng.randrange(2 * 24 * 60)),
                    items=items,
                )
            )
        return made


async def no_statistics(basket: co_purchases.Basket) -> None:
    return None


class Timed:
    """The real hook, timing its own statements (a second view, less noisy than rounds)."""

    def __init__(self, hook: Callable[[co_purchases.Basket], Awaitable[None]]) -> None:
        self.hook, self.seconds, self.calls = hook, 0.0, 0

    async def __call__(self, basket: co_purchases.Basket) -> None:
        started = time.perf_counter()
        await self.hook(basket)
        self.seconds += time.perf_counter() - started
        self.calls += 1


async def timed_round(
    hook: Callable[[co_purchases.Basket], Awaitable[None]],
    basketeer: Basketeer,
    count: int,
    counter: Iterator[int],
) -> float:
    """Seconds per purchase recorded with `hook` standing for `statistics.record_purchase`."""
    original = co_purchases.record_purchase
    co_purchases.record_purchase = hook  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        for _ in range(count // BATCH):
            outcomes = await record_purchases(
                basketeer.purchases(BATCH, counter), merchant_scope=None
            )
            refused = [o.error for o in outcomes if o.error is not None]
            if refused:
                raise SystemExit(f"refused purchases in the benchmark: {refused[:3]}")
        return (time.perf_counter() - started) / (count // BATCH * BATCH)
    finally:
        co_purchases.record_purchase = original  # type: ignore[assignment]


class HookAlone:
    """The real hook with its statements timed apart (its read of the neighbours, its one
    write) and the pairs it adds to: to be run one purchase at a time."""

    def __init__(self) -> None:
        self.hook = co_purchases.record_purchase
        self.inside = False
        self.seconds: Counter[str] = Counter()
        self.pairs: list[int] = []
        self.calls = 0

    async def __call__(self, basket: co_purchases.Basket) -> None:
        self.inside = True
        started = time.perf_counter()
        try:
            await self.hook(basket)
        finally:
            self.inside = False
            self.seconds["the whole hook"] += time.perf_counter() - started
            self.calls += 1

    def timing(self, label: str, original: Callable[..., Awaitable[Any]]) -> Any:
        async def timed(*args: Any) -> Any:
            if not self.inside:
                return await original(*args)
            started = time.perf_counter()
            try:
                return await original(*args)
            finally:
                self.seconds[label] += time.perf_counter() - started

        return timed

    def counting(self, original: Callable[..., co_purchases.Deltas]) -> Any:
        def counted(*args: Any) -> co_purchases.Deltas:
            found = original(*args)
            self.pairs.append(len(found))
            return found

        return counted


async def hook_alone(basketeer: Basketeer, count: int, counter: Iterator[int]) -> None:
    """Purchases recorded one at a time (no other lane on the CPUs), the hook split up."""
    alone = HookAlone()
    patches: dict[tuple[Any, str], Any] = {
        (db, "rows"): alone.timing("reading the neighbours (FOR SHARE)", db.rows),
        (db, "execute"): alone.timing("writing lines, products, pairs", db.execute),
        (co_purchases, "pair_deltas"): alone.counting(co_purchases.pair_deltas),
        (co_purchases, "record_purchase"): alone,
    }
    originals = {key: getattr(*key) for key in patches}
    for (owner, name), value in patches.items():
        setattr(owner, name, value)
    try:
        for _ in range(count):
            await record_purchases(basketeer.purchases(1, counter), merchant_scope=None)
    finally:
        for (owner, name), value in originals.items():
            setattr(owner, name, value)
    whole = alone.seconds["the whole hook"] / count
    print(
        f"one purchase at a time ({count}): the hook {whole * 1000:.3f} ms a call, adding to "
        f"{statistics.median(alone.pairs):.0f} pairs (median) a purchase:"
    )
    for label, spent in alone.seconds.most_common()[1:]:
        print(f"  {ms(spent / count)} ms  {label}")


async def neighbours(conn: asyncpg.Connection, customers: Sequence[int]) -> float:
    """The median number of the customers' purchases in the window around today."""
    today = co_purchases.day_number(clock.now())
    rows = await conn.fetch(
        "SELECT count(DISTINCT purchase_id) AS n FROM suggestion_basket_lines"
        " WHERE customer_id = ANY($1::bigint[]) AND day >= $2 GROUP BY customer_id",
        list(customers),
        today - co_purchases.FOLLOW_UP_DAYS,
    )
    return statistics.median(r["n"] for r in rows)


async def measure_writes(
    conn: asyncpg.Connection, dataset: data.Dataset, args: argparse.Namespace
) -> float:
    """What the statistics add to a purchase, in seconds."""
    basketeer = Basketeer(dataset)
    print(
        f"\nrecording purchases of {ITEMS} items for {len(basketeer.customers):,} customers "
        f"who bought in the last {RECENT_DAYS} days (median "
        f"{await neighbours(conn, basketeer.customers):.0f} purchases of theirs in the "
        f"{co_purchases.FOLLOW_UP_DAYS}-day window)"
    )
    counter = itertools.count(1)
    real = Timed(co_purchases.record_purchase)
    await timed_round(real, basketeer, BATCH, counter)  # warm-up: both paths prepared
    await timed_round(no_statistics, basketeer, BATCH, counter)
    real.seconds, real.calls = 0.0, 0
    seconds: dict[str, list[float]] = {"A": [], "B": []}
    print(f"{'round':>5}  {'statistics':<10} {'purchases':>9}  {'ms/purchase':>11}")
    for n in range(args.rounds):
        mode = "AB"[n % 2]
        hook = real if mode == "A" else no_statistics
        per = await timed_round(hook, basketeer, args.purchases, counter)
        seconds[mode].append(per)
        label = "kept" if mode == "A" else "no-op"
        print(f"{n + 1:>5}  {label:<10} {args.purchases:>9}  {per * 1000:>11.3f}")
    kept, skipped = statistics.median(seconds["A"]), statistics.median(seconds["B"])
    inside = real.seconds / real.calls
    print(
        f"median: {kept * 1000:.3f} ms a purchase with the statistics kept, "
        f"{skipped * 1000:.3f} ms without; added: {(kept - skipped) * 1000:.3f} ms "
        f"(goal < {WRITE_GOAL_MS:g} ms); the hook's own statements: {inside * 1000:.3f} ms a call "
        f"(batches of {BATCH}, {os.cpu_count()} CPUs)"
    )
    await hook_alone(basketeer, args.alone, counter)
    return kept - skipped


# --- the run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    url = args.database_url
    given = {k: getattr(args, k) for k in ("customers", "products", "lines")}
    shape = dataclasses.replace(
        data.Shape().scaled(args.scale), **{k: v for k, v in given.items() if v}
    )
    await fresh_database(url)
    settings = Settings(
        app_env="production",
        database_url=url,
        jwt_secret=SECRET,
        db_pool_max=10,
        db_statement_timeout_ms=0,
        log_level="WARNING",
    )
    await db.migrate_db(settings)
    await db.close_db()
    await db.init_db(settings)
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        dataset, rebuild = await prepare(url, shape, args)
        rng = random.Random(shape.seed + 10)
        customers = rng.sample(sorted(dataset.latest), min(len(dataset.latest), args.samples))
        await show_one(dataset, customers[0])
        read = await measure_suggestions(conn, dataset, customers, args.warm_up)
        worst = report(
            f"suggestions_for, personalized, {len(customers) - args.warm_up} random customers",
            read,
        )
        await show_slowest(conn, read)
        groups = await related_groups(conn, args.related)
        related = await measure_related(conn, groups, args.warm_up // 5)
        worst_related = report("related_products", related, reasons=False)
        added = await measure_writes(conn, dataset, args)
        if args.explain_rebuild:  # last: it leaves the pairs' table twice its size until vacuumed
            await explain_rebuild(conn)
    finally:
        await conn.close()
        await db.close_db()
    read_met, write_met = worst * 1000 < READ_GOAL_MS, added * 1000 < WRITE_GOAL_MS
    print(
        f"\nworst p99 of database time: suggestions {worst * 1000:.2f} ms, related products "
        f"{worst_related * 1000:.2f} ms (goal < {READ_GOAL_MS:g} ms: "
        f"{'met' if read_met else 'NOT met'}); added to a purchase: {added * 1000:.3f} ms "
        f"(goal < {WRITE_GOAL_MS:g} ms: {'met' if write_met else 'NOT met'}); "
        f"rebuild {rebuild:.1f}s"
    )
    return 0 if read_met and write_met else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--scale", type=float, default=1.0, help="times the default shape")
    parser.add_argument("--customers", type=int, help="default 20,000 (times --scale)")
    parser.add_argument("--products", type=int, help="default 50,000 (times --scale)")
    parser.add_argument("--lines", type=int, help="purchase lines, default 1,000,000")
    parser.add_argument("--samples", type=int, default=200, help="customers measured")
    parser.add_argument("--related", type=int, default=100, help="products of each kind")
    parser.add_argument("--warm-up", type=int, default=20, help="customers read first, untimed")
    parser.add_argument("--rounds", type=int, default=10, help="A and B rounds in all (even)")
    parser.add_argument("--purchases", type=int, default=500, help="purchases per round")
    parser.add_argument("--alone", type=int, default=300, help="purchases one at a time")
    parser.add_argument("--explain-rebuild", action="store_true", help="the pair count's plan")
    args = parser.parse_args()
    if not db.is_postgres(args.database_url):
        print("error: this benchmark runs on PostgreSQL (pass a postgres:// URL)", file=sys.stderr)
        return 2
    args.samples += args.warm_up
    import uvloop

    return uvloop.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
