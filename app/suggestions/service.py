"""Related products and a customer's suggestions, ranked from the co-purchase statistics
(app/suggestions/statistics.py). Callable by any feature; no GraphQL here.

How a product relates to another: the cosine of their co-occurrence,
    (together + follow_ups / 2) / sqrt(purchases(a) x purchases(b)),
which, unlike a raw count, does not just favour best-sellers. A pair counts only from
`MIN_SUPPORT` purchases (together plus follow-ups) on, and only once bought together:
follow-ups strengthen a pair, they never make one (one customer's visits to two shops in a
month are too often a coincidence). Too few related products are completed with the most
bought products of the same categories, then of the whole program.

A customer's suggestions start from seed products: those of the given purchase, or (with
consent to personalization) those of their last `SEED_PURCHASES` purchases, completed with
their favourite category's most bought products. Without consent nothing of their history
is read: the given purchase and program-wide popularity only. What seeds them (what they
just bought) is never suggested, nor a product no longer sold.

With consent, the ranking then favours what the customer can pay with their credits and
what earns more than the merchant's own percent (a rule or an offer): each of these
advantages moves a product up `ADVANTAGE_PLACES` places (so past one product without it),
and when that moved it up, its reason names what it has that the products it passed lack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from app import db
from app.cashback import history
from app.cashback.earning import Earning
from app.cashback.errors import UnknownPurchase
from app.cashback.preview import ProductQuote, estimate_cashback
from app.catalog import service as catalog
from app.core.decimals import plain_decimal
from app.core.errors import InvalidInput, NotFound
from app.core.ids import decode_id
from app.core.money import Money
from app.ledger.reading import get_balance
from app.program.service import get_program
from app.segments import service as segments

MAX_FIRST = 50
# Each seed's pairs read at most (those most bought together): the cosine then ranks these.
PAIRS_PER_SEED = 60
MIN_SUPPORT = 2
SEED_PURCHASES = 5
MAX_SEEDS = 10
# Candidates read beyond `first`, so that products no longer sold and the re-ranking
# still leave `first` to show.
EXTRA_CANDIDATES = 10
ADVANTAGE_PLACES = 1.5


class ProductRow(Protocol):
    """A catalogue product as suggestions read it."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def sku(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def merchant_id(self) -> int: ...
    @property
    def price_minor(self) -> int: ...
    @property
    def active(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Suggestion:
    product: ProductRow
    reason: str
    affordable_with_balance: bool
    estimated_cashback: Money


@dataclass(frozen=True, slots=True)
class _Candidate:
    product_id: int
    source: str  # "pair" (with `seed`), "category" or "popular"
    seed: int | None


@dataclass(frozen=True, slots=True)
class _Scored:
    candidate: _Candidate
    position: int  # in the order of relevance
    affordable: bool
    better: str | None  # what earns more than the merchant's percent, in words
    cashback_minor: int

    @property
    def place(self) -> float:
        """Its position less what its advantages are worth."""
        return self.position - ADVANTAGE_PLACES * (int(self.affordable) + int(bool(self.better)))


def check_first(first: int) -> int:
    if not 0 <= first <= MAX_FIRST:
        raise InvalidInput(f"first is between 0 and {MAX_FIRST}.", field=["first"])
    return first


# --- related products -----------------------------------------------------------------


async def related_products(keys: Sequence[tuple[int, int]]) -> list[list[ProductRow]]:
    """For each (product id, first): products bought with it, best first, completed with
    its category's most bought products; sold ones only, never the product itself. Four
    statements however many products ask (a DataLoader's batch function: a list of
    products with their related ones costs no more than one)."""
    for _, first in keys:
        check_first(first)
    limit = max((first for _, first in keys), default=0) + EXTRA_CANDIDATES
    products = await catalog.products_by_ids(pk for pk, first in keys if first > 0)
    categories = {pk: catalog.normalize_category(p.category) or "" for pk, p in products.items()}
    paired = await _pairs_of(list(products), limit)
    popular = await _popular_in(sorted(set(categories.values())), limit + 1)
    ranked = {
        pk: list(
            dict.fromkeys(c for c in [*paired.get(pk, []), *popular.get(category, [])] if c != pk)
        )
        for pk, category in categories.items()
    }
    rows: Mapping[int, ProductRow] = await catalog.products_by_ids(
        c for found in ranked.values() for c in found
    )
    return [
        [rows[c] for c in ranked.get(pk, []) if c in rows and rows[c].active][:first]
        for pk, first in keys
    ]


def _scored_pairs(seeds: str) -> str:
    """SQL of (seed, candidate, part): each seed's `PAIRS_PER_SEED` (a parameter) pairs most
    bought together (an index range, read from its end), those bought together at least
    once with `MIN_SUPPORT` (a parameter) purchases in all, with their cosine. `seeds` is
    what goes in `IN (...)`: marks, or a SELECT of them. Parameters: the seeds' (if any),
    how many pairs per seed, the minimum support."""
    if db.dialect() == "postgres":
        # The seeds that have statistics, then each one's top pairs from the index.
        top = (
            "SELECT s.product_id AS seed, p.related_id AS candidate, p.together, p.follow_ups"  # noqa: S608
            f" FROM (SELECT product_id FROM suggestion_products WHERE product_id IN ({seeds}))"
            " AS s CROSS JOIN LATERAL (SELECT related_id, together, follow_ups"
            " FROM suggestion_pairs WHERE product_id = s.product_id AND together > 0"
            " ORDER BY together DESC, related_id DESC LIMIT ?) AS p"
        )
    else:
        top = (
            "SELECT seed, candidate, together, follow_ups FROM (SELECT product_id AS seed,"  # noqa: S608
            " related_id AS candidate, together, follow_ups, ROW_NUMBER() OVER (PARTITION BY"
            " product_id ORDER BY together DESC, related_id DESC) AS k FROM suggestion_pairs"
            f" WHERE product_id IN ({seeds}) AND together > 0) AS ranked WHERE k <= ?"
        )
    return (
        "SELECT t.seed, t.candidate, (t.together + 0.5 * t.follow_ups)"  # noqa: S608
        " / sqrt(CAST(a.purchases AS DOUBLE PRECISION) * b.purchases) AS part"
        f" FROM ({top}) AS t"
        " JOIN suggestion_products a ON a.product_id = t.seed"
        " JOIN suggestion_products b ON b.product_id = t.candidate"
        " WHERE t.together + t.follow_ups >= ? AND a.purchases > 0 AND b.purchases > 0"
    )


async def _pairs_of(seeds: Sequence[int], limit: int) -> dict[int, list[int]]:
    """Each seed's related products, best first, `limit` at most."""
    if not seeds:
        return {}
    rows = await db.rows(
        "SELECT seed, candidate FROM (SELECT seed, candidate, ROW_NUMBER() OVER"  # noqa: S608
        " (PARTITION BY seed ORDER BY part DESC, candidate) AS n"
        f" FROM ({_scored_pairs(db.marks(len(seeds)))}) AS parts) AS ranked"
        " WHERE n <= ? ORDER BY seed, n",
        *seeds,
        max(PAIRS_PER_SEED, limit),
        MIN_SUPPORT,
        limit,
    )
    found: dict[int, list[int]] = {}
    for row in rows:
        found.setdefault(int(row["seed"]), []).append(int(row["candidate"]))
    return found


async def _popular_in(categories: Sequence[str], limit: int) -> dict[str, list[int]]:
    """Each category's most bought products, `limit` at most."""
    if not categories:
        return {}
    rows = await db.rows(
        "SELECT category, product_id FROM (SELECT category, product_id, ROW_NUMBER() OVER"  # noqa: S608
        " (PARTITION BY category ORDER BY purchases DESC, product_id) AS n"
        f" FROM suggestion_products WHERE category IN ({db.marks(len(categories))})"
        " AND purchases > 0) AS ranked WHERE n <= ? ORDER BY category, n",
        *categories,
        limit,
    )
    found: dict[str, list[int]] = {}
    for row in rows:
        found.setdefault(str(row["category"]), []).append(int(row["product_id"]))
    return found


# --- a customer's suggestions -----------------------------------------------------------


async def suggestions_for(
    *, customer_id: int, personalized: bool, first: int, purchase_id: str | None = None
) -> list[Suggestion]:
    """The customer's suggestions (see the module's docstring). `purchase_id` must be one of
    their own purchases (another's is unknown to them). Their candidates come with their
    products (and what seeded them) in one statement, which also reads the customer's
    latest purchases when those seed them."""
    check_first(first)
    seeds: Seeds
    categories: list[str] = []
    if purchase_id is not None:
        bought = await _products_of_purchase(customer_id, purchase_id)
        # The first products bought seed it; what was just bought says which categories
        # to complete with.
        seeds = list(bought)[:MAX_SEEDS]
        categories = sorted(set(bought.values()))
    elif personalized:
        seeds = RecentPurchases(customer_id)
    else:
        seeds = []
    if first == 0:
        return []
    # History only with consent.
    if personalized:
        profile = (await segments.profiles_of([customer_id]))[customer_id]
        if profile.favorite_category:
            categories.append(profile.favorite_category)
    candidates, rows = await _candidates(
        seeds=seeds, categories=categories, limit=first + EXTRA_CANDIDATES
    )
    sold = [c for c in candidates if c.product_id in rows and rows[c.product_id].active]
    return await _ranked(customer_id, sold, rows, personalized=personalized, first=first)


async def _ranked(
    customer_id: int,
    candidates: Sequence[_Candidate],
    rows: Mapping[int, ProductRow],
    *,
    personalized: bool,
    first: int,
) -> list[Suggestion]:
    program = await get_program()
    currency = program.currency_code
    balance = await get_balance(customer_id=customer_id, currency=currency)
    earnings = await estimate_cashback(
        customer_id=customer_id,
        products=[
            ProductQuote(
                key=c.product_id,
                merchant_id=rows[c.product_id].merchant_id,
                sku=rows[c.product_id].sku,
                category=rows[c.product_id].category,
                price_minor=rows[c.product_id].price_minor,
            )
            for c in candidates
        ],
    )
    scored = []
    for position, candidate in enumerate(candidates):
        earning = earnings.get(candidate.product_id)
        scored.append(
            _Scored(
                candidate=candidate,
                position=position,
                affordable=0 < rows[candidate.product_id].price_minor <= balance.available,
                better=_better_part(earning),
                cashback_minor=earning.amount_minor if earning else 0,
            )
        )
    if personalized:
        scored.sort(key=lambda s: (s.place, s.position))
    suggestions = []
    for rank, chosen in enumerate(scored[:first]):
        # What it has that the products it passed lack is what moved it up.
        passed = [s for s in scored[rank + 1 :] if s.position < chosen.position]
        if chosen.better and any(s.better is None for s in passed):
            reason = chosen.better
        elif chosen.affordable and any(not s.affordable for s in passed):
            reason = "You can pay for it with your credits"
        else:
            reason = _reason(chosen.candidate, rows)
        suggestions.append(
            Suggestion(
                product=rows[chosen.candidate.product_id],
                reason=reason,
                affordable_with_balance=chosen.affordable,
                estimated_cashback=Money.from_minor(chosen.cashback_minor, currency),
            )
        )
    return suggestions


def _better_part(earning: Earning | None) -> str | None:
    """What earns more than the merchant's own percent, in words; None when nothing does."""
    for part in earning.parts if earning else []:
        if part.source.startswith("offer:") and part.percent is None:
            return f"Bonus credits with {part.label}"
        if part.source != "merchant" and part.percent is not None:
            return f"{plain_decimal(part.percent)}% back with {part.label}"
    return None


def _reason(candidate: _Candidate, rows: Mapping[int, ProductRow]) -> str:
    seed = rows.get(candidate.seed) if candidate.seed is not None else None
    if candidate.source == "pair" and seed is not None:
        return f"Often bought with {seed.name}"
    if candidate.source == "category":
        return f"Popular in {rows[candidate.product_id].category}"
    return "Popular with members"


async def _products_of_purchase(customer_id: int, purchase_id: str) -> dict[int, str]:
    """The catalogue products (and their category keys) of one of the customer's purchases;
    UnknownPurchase for an id that is not one (another customer's included)."""
    unknown = UnknownPurchase("None of your purchases has this id.", field=["purchaseId"])
    try:
        pk = decode_id(purchase_id, "Purchase")
    except NotFound:
        raise unknown from None
    purchase = await history.get_purchase(pk)
    if purchase is None or purchase.customer_id != customer_id:
        raise unknown
    [items] = await history.items_of_purchases([pk])
    keys = await catalog.product_keys(purchase.merchant_id, (item.sku for item in items))
    return {
        pk: catalog.normalize_category(category) or "" for pk, category in sorted(keys.values())
    }


# --- candidates -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecentPurchases:
    """Seeds read in the candidates' statement: the products of the customer's last
    `SEED_PURCHASES` counted purchases, the latest first (the first `MAX_SEEDS`)."""

    customer_id: int


# Seed product ids, in their order, or the customer whose latest purchases seed it.
Seeds = list[int] | RecentPurchases

# The seeds as a CTE of `product_id`s: those of the latest purchases (the products with
# statistics, in the order the purchases were made, latest first, then by product)...
_RECENT_SEEDS = (
    "recent AS (SELECT DISTINCT purchase_id, day FROM suggestion_basket_lines"
    " WHERE customer_id = ? ORDER BY day DESC, purchase_id DESC LIMIT ?),"
    " lines AS (SELECT l.product_id, ROW_NUMBER() OVER"
    " (ORDER BY r.day DESC, r.purchase_id DESC, l.product_id) AS k"
    " FROM suggestion_basket_lines l JOIN recent r ON r.purchase_id = l.purchase_id"
    " JOIN suggestion_products s ON s.product_id = l.product_id),"
    " seeds AS (SELECT product_id FROM lines GROUP BY product_id ORDER BY MIN(k) LIMIT ?)"
)
# ... or those given that have statistics (only they can seed pairs or be candidates).
_GIVEN_SEEDS = "seeds AS (SELECT product_id FROM suggestion_products WHERE product_id IN ({}))"
_CANDIDATES = (
    " cands AS (SELECT * FROM (SELECT 'pair' AS source, candidate AS product_id, seed,"
    " 0 AS bought, score FROM (SELECT candidate, seed, SUM(part) OVER (PARTITION BY"
    " candidate) AS score, ROW_NUMBER() OVER (PARTITION BY candidate ORDER BY part DESC,"
    " seed) AS n FROM ({pairs}) AS parts"
    " WHERE candidate NOT IN (SELECT product_id FROM seeds)) AS scored"
    " WHERE n = 1 ORDER BY score DESC, candidate LIMIT ?) AS pairs"
    " UNION ALL SELECT * FROM (SELECT 'category', product_id, CAST(NULL AS BIGINT),"
    " purchases, 0 FROM suggestion_products WHERE category IN ({categories})"
    " AND purchases > 0 AND product_id NOT IN (SELECT product_id FROM seeds)"
    " ORDER BY purchases DESC, product_id LIMIT ?) AS in_category"
    " UNION ALL SELECT * FROM (SELECT 'popular', product_id, CAST(NULL AS BIGINT),"
    " purchases, 0 FROM suggestion_products WHERE purchases > 0"
    " AND product_id NOT IN (SELECT product_id FROM seeds)"
    " ORDER BY purchases DESC, product_id LIMIT ?) AS everywhere)"
)


async def _candidates(
    *, seeds: Seeds, categories: Sequence[str], limit: int
) -> tuple[list[_Candidate], dict[int, ProductRow]]:
    """Products related to the seeds, best first, then the most bought in the categories,
    then in the program: `limit` of each at most, no seed and none twice; with the
    products of these and of the seeds. One statement."""
    params: list[object]
    if isinstance(seeds, RecentPurchases):
        with_seeds = _RECENT_SEEDS
        params = [seeds.customer_id, SEED_PURCHASES, MAX_SEEDS]
    else:
        # An empty IN () is not SQL: NULL matches nothing.
        given: list[int | None] = [*seeds] or [None]
        with_seeds = _GIVEN_SEEDS.format(db.marks(len(given)))
        params = [*given]
    category_list: list[str | None] = [*categories] or [None]
    product = catalog.product_join(alias="p", product_id="c.product_id")
    # Only placeholders and constant SQL are formatted in; values are parameters.
    sql = (
        f"WITH {with_seeds},"  # noqa: S608
        + _CANDIDATES.format(
            pairs=_scored_pairs("SELECT product_id FROM seeds"),
            categories=db.marks(len(category_list)),
        )
        + f" SELECT c.source, c.product_id, c.seed, c.bought, c.score, {product.columns}"  # noqa: S608
        f" FROM cands c {product.join}"
        f" UNION ALL SELECT 'seed', c.product_id, NULL, 0, 0, {product.columns}"
        f" FROM seeds c {product.join}"
    )
    params += [max(PAIRS_PER_SEED, limit), MIN_SUPPORT, limit, *category_list, limit, limit]
    rows = await db.rows(sql, *params)
    found: dict[int, _Candidate] = {}
    order = {"pair": 0, "category": 1, "popular": 2}
    ranked = sorted(
        (row for row in rows if row["source"] != "seed"),
        key=lambda r: (
            order[r["source"]],
            -float(r["score"] or 0),
            -int(r["bought"] or 0),
            int(r["product_id"]),
        ),
    )
    for row in ranked:
        pk = int(row["product_id"])
        if pk not in found:
            seed = row["seed"]
            found[pk] = _Candidate(pk, row["source"], None if seed is None else int(seed))
    candidates = list(found.values())[:limit]
    # The products shown, and those that seeded them (named in the reasons).
    wanted = {c.product_id for c in candidates} | {c.seed for c in candidates if c.seed is not None}
    products: dict[int, ProductRow] = {}
    for row in rows:
        pk = int(row["product_id"])
        if pk in wanted and pk not in products:
            products[pk] = product.product_of(row)
    return candidates, products
