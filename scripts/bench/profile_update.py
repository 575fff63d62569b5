"""What keeping customer profiles adds to recording a purchase, on PostgreSQL.

    .venv/bin/python scripts/bench/profile_update.py \
        [postgres://postgres@127.0.0.1:5432/test_h1] [--rounds 6] [--purchases 1000]

Drops and migrates the database's schema, then records purchases with three items in
three categories through `app.cashback.purchases.record_purchases` (batches of 100, one of
`--customers` customers each), in alternating rounds in one run: A with the profile hook
(`segments.record_purchase`: the day's buckets, then the profile with its favourites), B
with it replaced by a no-op. Prints each round and the median time per purchase of each
mode; their difference is what the profile adds (goal: under 1 ms).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_db import bench_customers, fresh_database
from tortoise import Tortoise

from app import db
from app.cashback.purchases import CustomerRef, ItemInput, PurchaseInput, record_purchases
from app.catalog import service as catalog
from app.catalog.values import Channel
from app.core import clock
from app.core.ids import encode_id
from app.segments import service as segments
from app.settings import Settings

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/test_h1"
SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
BATCH = 100
CATEGORIES = ("Food", "Home", "Toys")
PRICE = Decimal("4.99")


async def setup(settings: Settings, customers: int) -> tuple[str, list[str]]:
    await db.migrate_db(settings)
    await Tortoise.close_connections()
    await db.init_db(settings)
    merchant = await catalog.create_merchant(
        name="Bench Mart", logo_url=None, cashback_percent=Decimal("2.5")
    )
    store = await catalog.create_store(
        merchant_id=merchant.id, name="Bench Mart online", channel=Channel.ONLINE
    )
    codes = await bench_customers(customers)
    return encode_id("Store", store.id), codes


def purchases(store: str, codes: list[str], size: int, counter: Any) -> list[PurchaseInput]:
    rng = random.Random(next(counter))
    occurred = clock.now() - timedelta(days=rng.randrange(90))
    made = []
    for _ in range(size):
        items = [
            ItemInput(
                sku=f"SKU-{n}",
                quantity=rng.randint(1, 3),
                unit_price_amount=PRICE,
                unit_price_currency="USD",
                category=category,
            )
            for n, category in enumerate(CATEGORIES)
        ]
        made.append(
            PurchaseInput(
                store_id=store,
                external_id=f"bench-{next(counter)}",
                customer=CustomerRef(member_code=rng.choice(codes)),
                total_amount=sum((PRICE * i.quantity for i in items), Decimal(0)),
                total_currency="USD",
                occurred_at=occurred,
                items=items,
            )
        )
    return made


async def no_profile(**_: Any) -> None:
    return None


class Timed:
    """The real hook, timing its own statements (a second view, less noisy than rounds)."""

    def __init__(self, hook: Callable[..., Awaitable[None]]) -> None:
        self.hook, self.seconds, self.calls = hook, 0.0, 0

    async def __call__(self, **kwargs: Any) -> None:
        started = time.perf_counter()
        await self.hook(**kwargs)
        self.seconds += time.perf_counter() - started
        self.calls += 1


async def timed_round(
    hook: Callable[..., Awaitable[None]], store: str, codes: list[str], count: int, counter: Any
) -> float:
    """Seconds per purchase recorded with `hook` standing for `segments.record_purchase`."""
    original = segments.record_purchase
    segments.record_purchase = hook  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        for _ in range(count // BATCH):
            outcomes = await record_purchases(
                purchases(store, codes, BATCH, counter), merchant_scope=None
            )
            refused = [o.error for o in outcomes if o.error is not None]
            if refused:
                raise SystemExit(f"refused purchases in the benchmark: {refused[:3]}")
        return (time.perf_counter() - started) / (count // BATCH * BATCH)
    finally:
        segments.record_purchase = original  # type: ignore[assignment]


async def run(args: argparse.Namespace) -> None:
    await fresh_database(args.database_url)
    settings = Settings(
        app_env="production",
        database_url=args.database_url,
        jwt_secret=SECRET,
        db_pool_max=10,
        log_level="WARNING",
    )
    store, codes = await setup(settings, args.customers)
    counter = itertools.count(1)
    real = Timed(segments.record_purchase)
    await timed_round(real, store, codes, BATCH, counter)  # warm-up: both paths prepared
    await timed_round(no_profile, store, codes, BATCH, counter)
    seconds: dict[str, list[float]] = {"A": [], "B": []}
    print(f"{'round':>5}  {'profile':<8} {'purchases':>9}  {'ms/purchase':>11}")
    for n in range(args.rounds):
        mode = "AB"[n % 2]
        hook = real if mode == "A" else no_profile
        per = await timed_round(hook, store, codes, args.purchases, counter)
        seconds[mode].append(per)
        label = "kept" if mode == "A" else "no-op"
        print(f"{n + 1:>5}  {label:<8} {args.purchases:>9}  {per * 1000:>11.3f}")
    kept, skipped = statistics.median(seconds["A"]), statistics.median(seconds["B"])
    inside = real.seconds / real.calls
    await Tortoise.close_connections()
    print(
        f"\nmedian: {kept * 1000:.3f} ms with the profile kept, {skipped * 1000:.3f} ms "
        f"without; added per purchase: {(kept - skipped) * 1000:.3f} ms (goal < 1 ms); "
        f"the hook's own statements: {inside * 1000:.3f} ms a call "
        f"({args.customers} customers, batches of {BATCH}, {os.cpu_count()} CPUs)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "database_url", nargs="?", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--rounds", type=int, default=6, help="A and B rounds in all (even)")
    parser.add_argument("--purchases", type=int, default=1_000, help="purchases per round")
    parser.add_argument("--customers", type=int, default=500)
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        print("this benchmark measures PostgreSQL: pass a postgres:// URL", file=sys.stderr)
        return 2
    import uvloop

    uvloop.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
