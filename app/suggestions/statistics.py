"""Co-purchase statistics, kept current in the transactions that record purchases and full
refunds, so that "related" is an index lookup and never a scan of history.

What is counted, over counted purchases (recorded and not fully refunded) and the products
of their items that the catalogue knows (a sku it does not know is left out):
- a product's `purchases`: the counted purchases holding it (its support and popularity);
- a pair's `together`: the counted purchases holding both products;
- a pair's `follow_ups`: the pairs of one customer's counted purchases at most
  `FOLLOW_UP_DAYS` apart (by UTC day) where one holds the one product and the other holds
  the other ("bought by the same customer": the phone, then its case a week later).

Pairs are stored both ways. A purchase adds to the counts when it is recorded, and a full
refund takes back exactly what it added (a partial refund changes nothing: the purchase
still happened). `replace_all` computes the same counts from a whole history in bulk, so
the rebuild and the incremental statistics agree.

A purchase writes its statistics after the customer's profile (app/segments) in the same
transaction: the profile row serialises one customer's purchases, so each sees the others'
lines, and rows are written in key order, so two purchases never wait on each other in a
circle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import combinations

from tortoise.transactions import in_transaction

from app import db
from app.catalog.service import normalize_category

FOLLOW_UP_DAYS = 30
_EPOCH = date(1970, 1, 1)
# Rows per statement of a rebuild, and the memory its aggregates may use (PostgreSQL).
CHUNK = 1_000
REBUILD_WORK_MEM = "256MB"


def day_number(at: datetime) -> int:
    """Whole days from 1970-01-01 to `at`'s UTC date."""
    return (at.astimezone(UTC).date() - _EPOCH).days


@dataclass(frozen=True, slots=True)
class Basket:
    """A recorded purchase as the statistics see it: its catalogue products, each with its
    normalised category key (see `products_of`)."""

    purchase_id: int
    customer_id: int
    occurred_at: datetime
    products: tuple[tuple[int, str], ...]


def products_of(found: Iterable[tuple[int | None, str | None]]) -> tuple[tuple[int, str], ...]:
    """A basket's products from its items' (catalogue id or None, catalogue category): the
    items the catalogue knows, each product once, by id."""
    products = {pk: normalize_category(category) or "" for pk, category in found if pk}
    return tuple(sorted(products.items()))


Deltas = dict[tuple[int, int], tuple[int, int]]


def pair_deltas(products: Iterable[int], neighbours: Iterable[Iterable[int]]) -> Deltas:
    """What a purchase of `products` adds to each ordered pair: (together, follow_ups), with
    `neighbours` the products of each of the customer's other purchases in the window."""
    own = sorted(set(products))
    deltas: Deltas = {}
    for a, b in combinations(own, 2):
        deltas[(a, b)] = deltas[(b, a)] = (1, 0)
    for other in neighbours:
        theirs = set(other)
        linked = {(a, b) for a in own for b in theirs if a != b}
        for a, b in linked | {(b, a) for a, b in linked}:
            together, follow_ups = deltas.get((a, b), (0, 0))
            deltas[(a, b)] = (together, follow_ups + 1)
    return deltas


async def record_purchase(basket: Basket) -> None:
    """Count a purchase just recorded (in its transaction)."""
    if not basket.products:
        return
    categories = dict(basket.products)
    day = day_number(basket.occurred_at)
    neighbours = await _neighbours(basket.customer_id, basket.purchase_id, day)
    deltas = pair_deltas(categories, neighbours)
    if db.dialect() == "postgres":
        pairs = sorted(deltas.items())
        await db.execute(
            _ADD_PG,  # the product ids twice: for the lines and for the products
            basket.purchase_id,
            basket.customer_id,
            day,
            list(categories),
            list(categories),
            list(categories.values()),
            [a for (a, _), _ in pairs],
            [b for (_, b), _ in pairs],
            [t for _, (t, _) in pairs],
            [f for _, (_, f) in pairs],
        )
        return
    lines = [(basket.purchase_id, basket.customer_id, pk, day) for pk in categories]
    await db.execute(f"{_INSERT_LINES} VALUES {_tuples(4, len(lines))}", *_flat(lines))
    await db.execute(
        _ADD_PRODUCTS.format(values=_tuples(3, len(categories))),
        *_flat((pk, category, 1) for pk, category in categories.items()),
    )
    if deltas:
        rows = [(a, b, t, f) for (a, b), (t, f) in sorted(deltas.items())]
        await db.execute(_ADD_PAIRS.format(values=_tuples(4, len(rows))), *_flat(rows))


async def forget_purchase(purchase_id: int) -> None:
    """Take back what a purchase added, now that it is fully refunded (in the refund's
    transaction)."""
    lines = await db.rows(
        "SELECT customer_id, product_id, day FROM suggestion_basket_lines WHERE purchase_id = ?"  # noqa: S608
        + _WAITING_FOR_REBUILD[db.dialect() == "postgres"],
        purchase_id,
    )
    if not lines:
        return
    customer_id, day = int(lines[0]["customer_id"]), int(lines[0]["day"])
    products = sorted(int(line["product_id"]) for line in lines)
    neighbours = await _neighbours(customer_id, purchase_id, day)
    deltas = sorted(pair_deltas(products, neighbours).items())
    await db.execute("DELETE FROM suggestion_basket_lines WHERE purchase_id = ?", purchase_id)
    await db.execute(
        "UPDATE suggestion_products SET purchases = purchases - 1"  # noqa: S608
        f" WHERE product_id IN ({db.marks(len(products))})",
        *products,
    )
    if not deltas:
        return
    if db.dialect() == "postgres":
        await db.execute(
            _TAKE_PAIRS_PG,
            [a for (a, _), _ in deltas],
            [b for (_, b), _ in deltas],
            [t for _, (t, _) in deltas],
            [f for _, (_, f) in deltas],
        )
    else:
        rows = [(a, b, t, f) for (a, b), (t, f) in deltas]
        await db.execute(_TAKE_PAIRS_SQLITE.format(values=_tuples(4, len(rows))), *_flat(rows))


async def _neighbours(customer_id: int, purchase_id: int, day: int) -> list[list[int]]:
    """The products of each of the customer's other counted purchases in the window."""
    rows = await db.rows(
        "SELECT purchase_id, product_id FROM suggestion_basket_lines"  # noqa: S608
        " WHERE customer_id = ? AND day BETWEEN ? AND ? AND purchase_id <> ?"
        + _WAITING_FOR_REBUILD[db.dialect() == "postgres"],
        customer_id,
        day - FOLLOW_UP_DAYS,
        day + FOLLOW_UP_DAYS,
        purchase_id,
    )
    by_purchase: dict[int, list[int]] = {}
    for row in rows:
        by_purchase.setdefault(int(row["purchase_id"]), []).append(int(row["product_id"]))
    return list(by_purchase.values())


# On PostgreSQL a rebuild holds the lines in EXCLUSIVE mode: reading them FOR SHARE waits
# for it, so a purchase counts itself against the rebuilt lines, never the old ones. (SQLite
# runs one writer at a time.)
_WAITING_FOR_REBUILD = ("", " FOR SHARE")


def _tuples(width: int, count: int) -> str:
    return ", ".join([f"({db.marks(width)})"] * count)


def _flat(rows: Iterable[Sequence[object]]) -> list[object]:
    return [value for row in rows for value in row]


_INSERT_LINES = "INSERT INTO suggestion_basket_lines (purchase_id, customer_id, product_id, day)"
_ADD_PRODUCTS = (
    "INSERT INTO suggestion_products (product_id, category, purchases) VALUES {values}"
    " ON CONFLICT (product_id) DO UPDATE SET category = excluded.category,"
    " purchases = suggestion_products.purchases + excluded.purchases"
)
_ADD_PAIRS = (
    "INSERT INTO suggestion_pairs (product_id, related_id, together, follow_ups) VALUES {values}"
    " ON CONFLICT (product_id, related_id) DO UPDATE SET"
    " together = suggestion_pairs.together + excluded.together,"
    " follow_ups = suggestion_pairs.follow_ups + excluded.follow_ups"
)
# One statement of constant text (prepared once per connection) for the three tables.
_ADD_PG = (
    "WITH lines AS (INSERT INTO suggestion_basket_lines (purchase_id, customer_id, product_id,"
    " day) SELECT ?::bigint, ?::bigint, v.pk, ?::int FROM unnest(?::bigint[]) AS v(pk)),"
    " products AS (INSERT INTO suggestion_products (product_id, category, purchases)"
    " SELECT v.pk, v.category, 1 FROM unnest(?::bigint[], ?::varchar[]) AS v(pk, category)"
    " ON CONFLICT (product_id) DO UPDATE SET category = excluded.category,"
    " purchases = suggestion_products.purchases + 1)"
    " INSERT INTO suggestion_pairs (product_id, related_id, together, follow_ups)"
    " SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::int[], ?::int[])"
    " ON CONFLICT (product_id, related_id) DO UPDATE SET"
    " together = suggestion_pairs.together + excluded.together,"
    " follow_ups = suggestion_pairs.follow_ups + excluded.follow_ups"
)
_TAKE_PAIRS_PG = (
    "UPDATE suggestion_pairs AS p SET together = p.together - v.t,"
    " follow_ups = p.follow_ups - v.f"
    " FROM unnest(?::bigint[], ?::bigint[], ?::int[], ?::int[]) AS v(a, b, t, f)"
    " WHERE p.product_id = v.a AND p.related_id = v.b"
)
_TAKE_PAIRS_SQLITE = (
    "WITH v(a, b, t, f) AS (VALUES {values})"
    " UPDATE suggestion_pairs SET"
    " together = together - (SELECT v.t FROM v WHERE v.a = product_id AND v.b = related_id),"
    " follow_ups = follow_ups - (SELECT v.f FROM v WHERE v.a = product_id AND v.b = related_id)"
    " WHERE (product_id, related_id) IN (SELECT a, b FROM v)"
)


# --- the rebuild ------------------------------------------------------------------------


async def replace_all(baskets: AsyncIterable[Sequence[Basket]]) -> int:
    """Every statistic computed again from a whole history (counted purchases, in chunks),
    in one transaction; the number of purchases counted."""
    counted = 0
    async with in_transaction():
        if db.dialect() == "postgres":
            await db.execute("LOCK TABLE suggestion_basket_lines IN EXCLUSIVE MODE")
            # The pair count's aggregates in memory rather than spilled to disk, and no
            # statement timeout: on a large history the pair count takes minutes.
            await db.execute(f"SET LOCAL work_mem = '{REBUILD_WORK_MEM}'")
            await db.execute("SET LOCAL statement_timeout = 0")
        for table in ("suggestion_pairs", "suggestion_products", "suggestion_basket_lines"):
            await db.execute(f"DELETE FROM {table}")  # noqa: S608
        categories: dict[int, str] = {}
        holding: Counter[int] = Counter()
        async for chunk in baskets:
            lines: list[tuple[int, int, int, int]] = []
            for basket in chunk:
                if not basket.products:
                    continue
                counted += 1
                day = day_number(basket.occurred_at)
                for pk, category in basket.products:
                    categories[pk] = category
                    holding[pk] += 1
                    lines.append((basket.purchase_id, basket.customer_id, pk, day))
            for start in range(0, len(lines), CHUNK):
                await db.execute_many(
                    f"{_INSERT_LINES} VALUES ({db.marks(4)})", lines[start : start + CHUNK]
                )
        await db.execute_many(
            "INSERT INTO suggestion_products (product_id, category, purchases) VALUES (?, ?, ?)",
            [(pk, category, holding[pk]) for pk, category in sorted(categories.items())],
        )
        await db.execute(_COUNT_PAIRS, *[FOLLOW_UP_DAYS] * 4)
    return counted


# Both counts of every ordered pair, from the lines alone, inserted in key order (the
# indexes then grow at their end). A pair of purchases (p < q) links
# (x, y) when x is in one and y in the other; DISTINCT counts it once when both hold both.
_COUNT_PAIRS = """
INSERT INTO suggestion_pairs (product_id, related_id, together, follow_ups)
SELECT x, y, SUM(t), SUM(f) FROM (
    SELECT a.product_id AS x, b.product_id AS y, 1 AS t, 0 AS f
    FROM suggestion_basket_lines a JOIN suggestion_basket_lines b
    ON b.purchase_id = a.purchase_id AND b.product_id <> a.product_id
    UNION ALL
    SELECT x, y, 0, 1 FROM (
        SELECT DISTINCT p, q, x, y FROM (
            SELECT a.purchase_id AS p, b.purchase_id AS q, a.product_id AS x, b.product_id AS y
            FROM suggestion_basket_lines a JOIN suggestion_basket_lines b
            ON b.customer_id = a.customer_id AND b.purchase_id > a.purchase_id
            AND b.day BETWEEN a.day - ? AND a.day + ?
            AND b.product_id <> a.product_id
            UNION ALL
            SELECT a.purchase_id, b.purchase_id, b.product_id, a.product_id
            FROM suggestion_basket_lines a JOIN suggestion_basket_lines b
            ON b.customer_id = a.customer_id AND b.purchase_id > a.purchase_id
            AND b.day BETWEEN a.day - ? AND a.day + ?
            AND b.product_id <> a.product_id
        ) AS linked
    ) AS distinct_links
) AS parts
GROUP BY x, y
ORDER BY x, y
"""
