"""A year of purchases for the benchmarks: merchants, stores, products, customers,
purchases and their items, copied into a migrated database (COPY) in a few minutes.

    dataset = await load(url, Shape(customers=20_000, products=50_000, lines=1_000_000))

The database must be migrated and Tortoise initialised on it (customers are made by
`bench_customers`). What is made, from one seed:
- `categories` categories, named after 20 departments; each merchant sells in 2 to 6
  neighbouring ones, and has a share of the products (some merchants are much bigger);
- each merchant's products grouped in small bundles (2 to 7 products, mostly of one
  category: a phone, its case, its charger), 2 % no longer sold;
- bundles ranked once at random, bought with a Zipf-ish weight 1 / (rank + 10) ^ 0.9: a few
  bundles are in thousands of purchases, most in a handful, and many products never sold;
- customers of very unequal activity, each purchase at a random moment of the last `days`
  days; 40 % of the purchases made within 30 days of the customer's previous one complete
  that one's bundle ("the case a week after the phone");
- a purchase: 1 to 5 products of one bundle, and 40 % of the time 1 or 2 other products of
  the same merchant, each line 1 to 3 of the product at its price; at the merchant's
  online store or its shop. Purchase ids follow time; exactly `lines` lines in all.

Purchases carry no cashback and the ledger no credit for them (a missing wallet reads as
zero); profiles (app/segments) and co-purchase statistics are left for the caller to
rebuild with the app's own commands.
"""

from __future__ import annotations

import random
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate

import asyncpg
from bench_db import bench_customers
from tqdm import tqdm

from app import cache
from app.cashback.models import PurchaseStatus
from app.cashback.tiers import list_tiers
from app.catalog.values import Channel
from app.core import clock
from app.program.service import get_program

DEPARTMENTS = (
    "Groceries", "Electronics", "Home", "Garden", "Toys", "Books", "Music", "Sports",
    "Beauty", "Health", "Fashion", "Shoes", "Jewellery", "Pets", "Baby", "Auto",
    "Office", "Travel", "Kitchen", "Games",
)  # fmt: skip
KINDS = ("", " Accessories", " Essentials", " Premium", " Kids", " Outdoor", " Care", " Deals")
FOLLOW_UP_DAYS = 30
FOLLOW_UP_SHARE = 0.4
EXTRAS_SHARE = 0.4
INACTIVE_SHARE = 0.02
ZIPF_EXPONENT = 0.9
ZIPF_OFFSET = 10
# Rows per COPY call.
COPY_ROWS = 50_000

_PURCHASE_COLUMNS = (
    "id", "store_id", "merchant_id", "customer_id", "external_id", "channel", "currency",
    "total_minor", "credits_used_minor", "redeemed_minor", "refunded_minor", "cashback_minor",
    "cashback_reversed_minor", "tier_code", "terms_version", "status", "occurred_at",
    "created_at",
)  # fmt: skip
_ITEM_COLUMNS = ("purchase_id", "sku", "name", "category", "quantity", "unit_price_minor")


@dataclass(frozen=True, slots=True)
class Shape:
    customers: int = 20_000
    products: int = 50_000
    lines: int = 1_000_000
    merchants: int = 300
    categories: int = 100
    days: int = 365
    seed: int = 1

    def scaled(self, scale: float) -> Shape:
        """Customers, products, merchants and lines times `scale` (categories stay)."""
        return Shape(
            customers=max(10, round(self.customers * scale)),
            products=max(100, round(self.products * scale)),
            lines=max(100, round(self.lines * scale)),
            merchants=max(3, round(self.merchants * scale)),
            categories=self.categories,
            days=self.days,
            seed=self.seed,
        )


@dataclass(frozen=True, slots=True)
class Product:
    id: int
    merchant_id: int
    sku: str
    name: str
    category: str
    price_minor: int
    active: bool


@dataclass(frozen=True, slots=True)
class Purchase:
    occurred_at: datetime
    customer_id: int
    merchant_id: int
    bundle: int
    items: tuple[tuple[int, int], ...]  # (product id, quantity)


@dataclass
class Dataset:
    shape: Shape
    now: datetime
    currency: str
    merchants: list[int]
    # Each merchant's stores: the online shop first, then its shop in town (half have one).
    stores: dict[int, list[tuple[int, Channel]]]
    products: dict[int, Product]
    bundles: list[tuple[int, ...]]  # product ids, most bought bundle first
    customers: dict[int, str]  # id -> member code
    purchases: int = 0
    lines: int = 0
    # Each customer's latest purchase: (purchase id, when).
    latest: dict[int, tuple[int, datetime]] = field(default_factory=dict)
    seconds: float = 0.0


def category_names(count: int) -> list[str]:
    """`count` category names, departments first, then their kinds, each next to its own."""
    names = [f"{d}{k}" for k in KINDS for d in DEPARTMENTS]
    names += [f"Category {n}" for n in range(len(names), count)]
    return sorted(names[:count])


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders), each part at least 1."""
    whole = sum(weights)
    exact = [max(1.0, total * w / whole) for w in weights]
    parts = [int(x) for x in exact]
    order = sorted(range(len(parts)), key=lambda i: parts[i] - exact[i])
    for i in order[: max(0, total - sum(parts))]:
        parts[i] += 1
    while sum(parts) > total:
        biggest = max(range(len(parts)), key=parts.__getitem__)
        parts[biggest] -= 1
    return parts


def _bundles_of(size: int, rng: random.Random) -> Iterator[int]:
    """Bundle sizes (2 to 7, mostly 3 to 5) adding up to `size`."""
    left = size
    while left > 0:
        take = min(left, rng.choice((2, 3, 3, 4, 4, 4, 5, 5, 6, 7)))
        yield take
        left -= take


class _Catalogue:
    """Products and bundles before they have ids: (merchant index, sku, name, category,
    price, active) rows, and bundles as row numbers."""

    def __init__(self, shape: Shape, rng: random.Random) -> None:
        categories = category_names(shape.categories)
        sizes = _split(shape.products, [rng.lognormvariate(0, 0.8) for _ in range(shape.merchants)])
        self.rows: list[tuple[int, str, str, str, int, bool]] = []
        self.bundles: list[list[int]] = []
        for merchant, size in enumerate(sizes):
            first = rng.randrange(len(categories))
            sold = [categories[(first + k) % len(categories)] for k in range(rng.randint(2, 6))]
            for bundle_size in _bundles_of(size, rng):
                main = rng.choice(sold)
                bundle = []
                for _ in range(bundle_size):
                    n = len(self.rows)
                    category = main if rng.random() < 0.8 else rng.choice(sold)
                    price = min(500_000, max(99, int(rng.lognormvariate(7.6, 1.0))))
                    active = rng.random() >= INACTIVE_SHARE
                    self.rows.append(
                        (merchant, f"P{n:07}", f"{category} item {n}", category, price, active)
                    )
                    bundle.append(n)
                self.bundles.append(bundle)
        rng.shuffle(self.bundles)  # the rank of a bundle: its place now


class _Purchases:
    """Purchases drawn for customers over the days, as product row numbers."""

    def __init__(self, shape: Shape, catalogue: _Catalogue, rng: random.Random) -> None:
        self.rng = rng
        self.shape = shape
        self.catalogue = catalogue
        weights = [(rank + ZIPF_OFFSET) ** -ZIPF_EXPONENT for rank in range(len(catalogue.bundles))]
        self.bundle_weights = list(accumulate(weights))
        self.merchant_rows: dict[int, list[int]] = {}
        for n, row in enumerate(catalogue.rows):
            self.merchant_rows.setdefault(row[0], []).append(n)
        self.bundle_of = {n: b for b, rows in enumerate(catalogue.bundles) for n in rows}

    def bundle(self) -> int:
        point = self.rng.random() * self.bundle_weights[-1]
        return min(bisect_left(self.bundle_weights, point), len(self.bundle_weights) - 1)

    def basket(self, previous: tuple[float, int, frozenset[int]] | None, day: float) -> list[int]:
        """Product rows of one purchase on `day`, after the customer's `previous` one (its
        day, bundle and rows)."""
        rng = self.rng
        follows = previous is not None and day - previous[0] <= FOLLOW_UP_DAYS
        if previous is not None and follows and rng.random() < FOLLOW_UP_SHARE:
            bundle = self.catalogue.bundles[previous[1]]
            rest = [n for n in bundle if n not in previous[2]] or bundle
            return rng.sample(rest, min(len(rest), rng.choice((1, 1, 2))))
        bundle = self.catalogue.bundles[self.bundle()]
        rows = rng.sample(bundle, min(len(bundle), rng.choice((1, 2, 2, 3, 3, 4, 5))))
        if rng.random() < EXTRAS_SHARE:
            own = self.merchant_rows[self.catalogue.rows[bundle[0]][0]]
            rows += [n for n in rng.sample(own, min(len(own), rng.randint(1, 2))) if n not in rows]
        return rows

    def of_customers(self, customers: int, count: int) -> Iterator[tuple[float, int, list[int]]]:
        """About `count` purchases of `customers` customers: (days ago, customer index,
        product rows), each customer's in order."""
        rng = self.rng
        activity = [rng.lognormvariate(0, 1.0) for _ in range(customers)]
        if count >= customers:
            slots = _split(count, activity)
        else:  # a top-up: one more purchase for some customers
            chosen = set(rng.sample(range(customers), count))
            slots = [int(c in chosen) for c in range(customers)]
        for customer, n in enumerate(slots):
            previous: tuple[float, int, frozenset[int]] | None = None
            for day in sorted(rng.random() * self.shape.days for _ in range(n)):
                rows = self.basket(previous, day)
                previous = (day, self.bundle_of[rows[0]], frozenset(rows))
                yield self.shape.days - day, customer, rows


async def _copy_catalogue(
    conn: asyncpg.Connection, shape: Shape, catalogue: _Catalogue, now: datetime, currency: str
) -> tuple[list[int], dict[int, list[tuple[int, Channel]]], list[int]]:
    """Merchants, stores and products copied; their ids (products by row number)."""
    rng = random.Random(shape.seed + 1)
    await conn.copy_records_to_table(
        "catalog_merchants",
        records=[
            (f"Merchant {m}", None, Decimal(rng.choice(("1", "2", "2", "3", "5"))), now)
            for m in range(shape.merchants)
        ],
        columns=["name", "logo_url", "cashback_percent", "created_at"],
    )
    merchants = [r["id"] for r in await conn.fetch("SELECT id FROM catalog_merchants ORDER BY id")]
    records = [
        (m, f"Merchant {i} online", Channel.ONLINE.value, now) for i, m in enumerate(merchants)
    ]
    records += [
        (m, f"Merchant {i} in town", Channel.IN_STORE.value, now)
        for i, m in enumerate(merchants)
        if i % 2 == 0
    ]
    await conn.copy_records_to_table(
        "catalog_stores", records=records, columns=["merchant_id", "name", "channel", "created_at"]
    )
    stores: dict[int, list[tuple[int, Channel]]] = {}
    for r in await conn.fetch("SELECT id, merchant_id, channel FROM catalog_stores ORDER BY id"):
        stores.setdefault(r["merchant_id"], []).append((r["id"], Channel(r["channel"])))
    await conn.copy_records_to_table(
        "catalog_products",
        records=[
            (merchants[m], sku, name, category, price, currency, None, active, now, now)
            for m, sku, name, category, price, active in catalogue.rows
        ],
        columns=[
            "merchant_id", "sku", "name", "category", "price_minor", "currency", "image_url",
            "active", "created_at", "updated_at",
        ],
    )  # fmt: skip
    by_sku = {r["sku"]: r["id"] for r in await conn.fetch("SELECT id, sku FROM catalog_products")}
    return merchants, stores, [by_sku[row[1]] for row in catalogue.rows]


def _drawn(
    shape: Shape, catalogue: _Catalogue, customers: list[int], now: datetime, bar: tqdm
) -> list[tuple[datetime, int, list[int]]]:
    """Purchases of exactly `shape.lines` lines, oldest first: (when, customer, rows)."""
    rng = random.Random(shape.seed + 2)
    drawer = _Purchases(shape, catalogue, rng)
    found: list[tuple[datetime, int, list[int]]] = []
    lines = 0
    while lines < shape.lines:
        # A few more purchases than needed (the excess is dropped below), at the lines a
        # purchase had so far (3 at first).
        size = lines / len(found) if found else 3.0
        wanted = max(1, int((shape.lines - lines) / size * 1.02))
        for days_ago, customer, rows in drawer.of_customers(len(customers), wanted):
            found.append((now - timedelta(days=days_ago), customers[customer], rows))
            lines += len(rows)
            bar.update(max(0, min(len(rows), shape.lines - bar.n)))
    rng.shuffle(found)
    while lines - len(found[-1][2]) >= shape.lines:
        lines -= len(found.pop()[2])
    if lines > shape.lines:
        last = found[-1]
        found[-1] = (last[0], last[1], last[2][: len(last[2]) - (lines - shape.lines)])
    found.sort(key=lambda p: p[0])
    return found


async def _copy_purchases(
    conn: asyncpg.Connection,
    dataset: Dataset,
    drawn: Sequence[tuple[datetime, int, list[int]]],
    product_ids: Sequence[int],
    tier_code: str,
    terms_version: int,
    bar: tqdm,
) -> None:
    rng = random.Random(dataset.shape.seed + 3)
    products = dataset.products
    for start in range(0, len(drawn), COPY_ROWS):
        purchases, items = [], []
        for pk, (when, customer, rows) in enumerate(drawn[start : start + COPY_ROWS], start + 1):
            lines = [products[product_ids[n]] for n in rows]
            merchant = lines[0].merchant_id
            store, channel = rng.choice(dataset.stores[merchant])
            quantities = [rng.choice((1, 1, 1, 2, 2, 3)) for _ in lines]
            total = sum(q * p.price_minor for q, p in zip(quantities, lines, strict=True))
            purchases.append(
                (pk, store, merchant, customer, f"gen-{pk}", channel.value, dataset.currency,
                 total, 0, 0, 0, 0, 0, tier_code, terms_version,
                 PurchaseStatus.COMPLETED.value, when, when)
            )  # fmt: skip
            items += [
                (pk, p.sku, p.name, p.category, q, p.price_minor)
                for q, p in zip(quantities, lines, strict=True)
            ]
            dataset.latest[customer] = (pk, when)
        await conn.copy_records_to_table(
            "cashback_purchases", records=purchases, columns=_PURCHASE_COLUMNS
        )
        await conn.copy_records_to_table(
            "cashback_purchase_items", records=items, columns=_ITEM_COLUMNS
        )
        bar.update(len(items))
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence('cashback_purchases', 'id'), $1)", len(drawn)
    )


async def load(url: str, shape: Shape, *, progress: bool = True) -> Dataset:
    """`shape`'s catalogue, customers and purchases copied into the migrated database at
    `url` (see the module's docstring)."""
    started = time.perf_counter()
    now = clock.now()
    program = await get_program()
    tiers = await list_tiers(currency=program.currency_code)
    catalogue = _Catalogue(shape, random.Random(shape.seed))
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        merchants, stores, product_ids = await _copy_catalogue(
            conn, shape, catalogue, now, program.currency_code
        )
        # Copied behind the services' back: servers already running read them anew.
        await cache.changed_everything()
        products = {
            pk: Product(pk, merchants[m], sku, name, category, price, active)
            for pk, (m, sku, name, category, price, active) in zip(
                product_ids, catalogue.rows, strict=True
            )
        }
        codes = await bench_customers(shape.customers)
        customers = {
            r["id"]: r["member_code"]
            for r in await conn.fetch("SELECT id, member_code FROM users ORDER BY id")
        }
        assert len(customers) == len(codes)
        dataset = Dataset(
            shape=shape,
            now=now,
            currency=program.currency_code,
            merchants=merchants,
            stores=stores,
            products=products,
            bundles=[tuple(product_ids[n] for n in b) for b in catalogue.bundles],
            customers=customers,
        )
        with tqdm(total=shape.lines, unit=" lines", desc="drawing", disable=not progress) as bar:
            drawn = _drawn(shape, catalogue, list(customers), now, bar)
        with tqdm(total=shape.lines, unit=" lines", desc="copying", disable=not progress) as bar:
            await _copy_purchases(
                conn, dataset, drawn, product_ids, tiers[0].code, program.terms_version, bar
            )
        dataset.purchases = len(drawn)
        dataset.lines = sum(len(rows) for _, _, rows in drawn)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    dataset.seconds = time.perf_counter() - started
    return dataset
