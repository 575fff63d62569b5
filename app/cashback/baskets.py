"""What the suggestions feature learns from purchases in bulk: every counted purchase (not
fully refunded) with the skus of its items, to rebuild the co-purchase statistics from
(`python -m app rebuild-suggestions`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from app import db
from app.cashback.models import Purchase, PurchaseItem, PurchaseStatus
from app.catalog import service as catalog
from app.suggestions import statistics as co_purchases

# Purchases per chunk handed to the statistics.
CHUNK = 2_000
# Only table names and a fixed value are formatted in; values are parameters.
_BASKETS = (
    "SELECT p.id, p.customer_id, p.merchant_id, p.occurred_at, i.sku"  # noqa: S608
    f" FROM {Purchase._meta.db_table} p JOIN {PurchaseItem._meta.db_table} i"
    " ON i.purchase_id = p.id"
    f" WHERE p.status <> '{PurchaseStatus.REFUNDED.value}' AND p.id > ? AND p.id <= ?"
    " ORDER BY p.id, i.id"
)


async def _baskets() -> AsyncIterator[list[co_purchases.Basket]]:
    """Counted purchases with items, oldest id first, `CHUNK` ids at a time."""
    top = await db.one(f"SELECT MAX(id) AS top FROM {Purchase._meta.db_table}")  # noqa: S608
    last = int(top["top"] or 0) if top else 0
    for start in range(0, last, CHUNK):
        found: dict[int, tuple[dict[str, object], list[str]]] = {}
        for row in await db.rows(_BASKETS, start, start + CHUNK):
            found.setdefault(int(row["id"]), (row, []))[1].append(str(row["sku"]))
        keys = await catalog.product_keys_of(
            (int(str(row["merchant_id"])), sku) for row, skus in found.values() for sku in skus
        )
        chunk = []
        for row, skus in found.values():
            occurred_at = db.to_datetime(row["occurred_at"])
            assert occurred_at is not None
            chunk.append(
                co_purchases.Basket(
                    purchase_id=int(str(row["id"])),
                    customer_id=int(str(row["customer_id"])),
                    occurred_at=occurred_at,
                    products=co_purchases.products_of(
                        keys.get((int(str(row["merchant_id"])), sku), (None, None)) for sku in skus
                    ),
                )
            )
        yield chunk


async def rebuild_co_purchases() -> int:
    """Every co-purchase statistic computed again from the purchases recorded here, in one
    transaction; the number of purchases counted."""
    return await co_purchases.replace_all(_baskets())
