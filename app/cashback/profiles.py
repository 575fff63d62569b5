"""What the segments feature learns from purchases: each purchase's spend split over its
categories when it is recorded, each refund's split when it is made, and a rebuild of every
profile from this feature's own tables.

A purchase's spend is its total (what tiers count), split over the normalised categories
of its items in proportion to their lines (quantity x unit price); without items it is all
in the unknown category. A refund takes from each category what its share of the amount
kept lost: split(kept before) - split(kept after). The shares of one purchase therefore
always equal split(total - refunded), however many refunds it took, which is exactly what
`rebuild_profiles` computes: the rebuild and the incremental profiles agree to the minor
unit, buckets included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time
from typing import Any

from tortoise.transactions import in_transaction

from app import db
from app.accounts import erasure as accounts_erasure
from app.cashback.models import Purchase, PurchaseItem, PurchaseStatus
from app.catalog.service import normalize_category
from app.catalog.values import Channel
from app.segments import service as segments


def split_in_proportion(amount: int, weights: Mapping[str | None, int]) -> dict[str | None, int]:
    """`amount` split over the keys in proportion to their weights, in whole minor units
    that add up to it exactly: each key gets the growth of floor(amount x cumulative weight
    / total) in key order. Without a positive weight, the first key takes it all; without
    keys, the unknown category (None)."""
    keys = sorted(weights, key=lambda key: key or "")
    if not keys:
        return {None: amount}
    whole = sum(max(0, weights[key]) for key in keys)
    if whole <= 0:
        return {keys[0]: amount}
    shares: dict[str | None, int] = {}
    running = before = 0
    for key in keys:
        running += max(0, weights[key])
        upto = amount * running // whole
        shares[key] = upto - before
        before = upto
    return shares


def category_weights(lines: Iterable[tuple[str | None, int]]) -> dict[str | None, int]:
    """Line amounts added up by normalised category."""
    weights: dict[str | None, int] = {}
    for category, amount in lines:
        key = normalize_category(category)
        weights[key] = weights.get(key, 0) + amount
    return weights


def spend_by_category(
    total_minor: int, lines: Iterable[tuple[str | None, int]]
) -> dict[str | None, int]:
    """A purchase's total split over the categories of its lines (category as reported or
    from the catalogue, amount)."""
    return split_in_proportion(total_minor, category_weights(lines))


async def refunded_by_category(purchase: Purchase, refunded_minor: int) -> dict[str | None, int]:
    """What each category of `purchase` loses when what is refunded of it grows from
    `purchase.refunded_minor` to `refunded_minor`."""
    items = await PurchaseItem.filter(purchase_id=purchase.id).values_list(
        "category", "quantity", "unit_price_minor"
    )
    weights = category_weights((category, q * price) for category, q, price in items)
    before = split_in_proportion(purchase.total_minor - purchase.refunded_minor, weights)
    after = split_in_proportion(purchase.total_minor - refunded_minor, weights)
    return {key: before[key] - after.get(key, 0) for key in before}


# --- the rebuild ------------------------------------------------------------------------

_PURCHASES = Purchase._meta.db_table
_ITEMS = PurchaseItem._meta.db_table
_NOT_REFUNDED = f"status <> '{PurchaseStatus.REFUNDED.value}'"
# Only table names and fixed values are formatted into these; values are parameters.
_TOTALS = (
    "SELECT customer_id,"  # noqa: S608
    f" SUM(CASE WHEN {_NOT_REFUNDED} THEN 1 ELSE 0 END) AS purchase_count,"
    " MIN(occurred_at) AS first_purchase_at, MAX(occurred_at) AS last_purchase_at,"
    " SUM(total_minor - refunded_minor) AS spend_minor,"
    f" SUM(CASE WHEN {_NOT_REFUNDED} AND channel = '{Channel.ONLINE.value}' THEN 1 ELSE 0 END)"
    " AS online_count,"
    f" SUM(CASE WHEN {_NOT_REFUNDED} AND channel = '{Channel.IN_STORE.value}' THEN 1 ELSE 0 END)"
    " AS in_store_count"
    f" FROM {_PURCHASES} GROUP BY customer_id ORDER BY customer_id"
)
# Each purchase of the window with something kept, and its line amounts by category as
# stored (no items: one row without a category or an amount).
_LINES = (
    "SELECT p.id, p.customer_id, p.merchant_id, p.occurred_at,"  # noqa: S608
    " p.total_minor - p.refunded_minor AS kept_minor, i.category,"
    " SUM(i.quantity * i.unit_price_minor) AS line_minor"
    f" FROM {_PURCHASES} p LEFT JOIN {_ITEMS} i ON i.purchase_id = p.id"
    " WHERE p.occurred_at >= ? AND p.refunded_minor < p.total_minor"
    " GROUP BY p.id, p.customer_id, p.merchant_id, p.occurred_at, p.total_minor,"
    " p.refunded_minor, i.category ORDER BY p.id"
)


def _totals(row: Mapping[str, Any]) -> segments.ProfileTotals:
    return segments.ProfileTotals(
        customer_id=int(row["customer_id"]),
        purchase_count=int(row["purchase_count"]),
        first_purchase_at=db.to_datetime(row["first_purchase_at"]),
        last_purchase_at=db.to_datetime(row["last_purchase_at"]),
        spend_minor=int(row["spend_minor"]),
        online_count=int(row["online_count"]),
        in_store_count=int(row["in_store_count"]),
    )


def _spend_days(rows: Iterable[Mapping[str, Any]]) -> list[segments.SpendDay]:
    """The rows of `_LINES` (a purchase's rows together) as day buckets: each purchase's
    kept amount split over its categories, as the incremental path left them."""
    purchases: dict[int, tuple[Mapping[str, Any], list[tuple[str | None, int]]]] = {}
    for row in rows:
        _, lines = purchases.setdefault(int(row["id"]), (row, []))
        if row["line_minor"] is not None:
            lines.append((row["category"], int(row["line_minor"])))
    days = []
    for row, lines in purchases.values():
        occurred_at = db.to_datetime(row["occurred_at"])
        assert occurred_at is not None
        for category, spend in spend_by_category(int(row["kept_minor"]), lines).items():
            days.append(
                segments.SpendDay(
                    customer_id=int(row["customer_id"]),
                    day=occurred_at.date(),
                    merchant_id=int(row["merchant_id"]),
                    category=category,
                    spend_minor=spend,
                )
            )
    return days


async def rebuild_profiles(*, now: datetime) -> int:
    """Every customer's profile rebuilt from the purchases and refunds recorded here, in
    one transaction; the number of profiles. Profile writes wait while it runs (a purchase
    recorded meanwhile counts itself in once the rebuild commits); reads go on.

    Totals come from one aggregate over all purchases (a fully refunded purchase counts in
    no count; spend is totals less refunds); the favourites' buckets from each purchase of
    the window with its line amounts per category, split exactly as recording did."""
    since = datetime.combine(segments.window_start(now), time(0), tzinfo=UTC)
    async with in_transaction():
        await segments.lock_profiles()
        # A deleted account's purchases stay for the books, but its profile went with it.
        deleted = await accounts_erasure.all_deleted_ids()
        totals = [_totals(row) for row in await db.rows(_TOTALS)]
        days = _spend_days(await db.rows(_LINES, since))
        totals = [t for t in totals if t.customer_id not in deleted]
        days = [d for d in days if d.customer_id not in deleted]
        return await segments.replace_profiles(totals, days, now=now)
