"""A customer's purchases for their data export, and what erasing the account changes
here: purchases and refunds stay for the books (keyed by the now-anonymous customer id),
but the free text partners sent with them (item names, refund reasons) goes, and so does
the customer's stored tier spend (derived from the purchases: a read recomputes it)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from app import db
from app.core.export import Record, money, pages_by_id, plain, when


async def export_purchases(*, customer_id: int) -> AsyncIterator[Record]:
    """Every purchase of the customer, oldest first, each with its items and refunds
    (read for a page of purchases at a time)."""
    async for page in pages_by_id(
        "SELECT id, store_id, merchant_id, external_id, channel, currency, total_minor,"
        " credits_used_minor, redeemed_minor, refunded_minor, cashback_minor,"
        " cashback_reversed_minor, cashback_available_at, cashback_expires_at, explanation,"
        " no_cashback_reason, tier_code, status, occurred_at, created_at"
        " FROM cashback_purchases WHERE customer_id = ?",
        customer_id,
    ):
        ids = [int(row["id"]) for row in page]
        items, refunds = await _items_of(ids), await _refunds_of(ids)
        for row in page:
            yield _purchase(row, items[int(row["id"])], refunds[int(row["id"])])


def _purchase(row: dict[str, Any], items: list[Record], refunds: list[Record]) -> Record:
    currency = row["currency"]
    return {
        "id": int(row["id"]),
        "storeId": int(row["store_id"]),
        "merchantId": int(row["merchant_id"]),
        "externalId": row["external_id"],
        "channel": row["channel"],
        "status": row["status"],
        "occurredAt": when(row["occurred_at"]),
        "recordedAt": when(row["created_at"]),
        "total": money(row["total_minor"], currency),
        "creditsUsed": money(row["credits_used_minor"], currency),
        "redeemed": money(row["redeemed_minor"], currency),
        "refunded": money(row["refunded_minor"], currency),
        "cashback": money(row["cashback_minor"], currency),
        "cashbackReversed": money(row["cashback_reversed_minor"], currency),
        "cashbackAvailableAt": when(row["cashback_available_at"]),
        "cashbackExpiresAt": when(row["cashback_expires_at"]),
        "explanation": plain(db.from_json(row["explanation"])),
        "noCashbackReason": row["no_cashback_reason"],
        "tier": row["tier_code"],
        "items": [{**item, "unitPrice": money(item["unitPrice"], currency)} for item in items],
        "refunds": [
            {**refund, **{k: money(refund[k], currency) for k in _REFUND_AMOUNTS}}
            for refund in refunds
        ],
    }


_REFUND_AMOUNTS = ("amount", "cashbackTaken")


async def _items_of(purchase_ids: list[int]) -> dict[int, list[Record]]:
    found: dict[int, list[Record]] = defaultdict(list)
    rows = await db.rows(
        "SELECT purchase_id, sku, name, category, quantity, unit_price_minor"  # noqa: S608
        f" FROM cashback_purchase_items WHERE purchase_id IN ({db.marks(len(purchase_ids))})"
        " ORDER BY id",
        *purchase_ids,
    )
    for row in rows:
        found[int(row["purchase_id"])].append(
            {
                "sku": row["sku"],
                "name": row["name"],
                "category": row["category"],
                "quantity": int(row["quantity"]),
                "unitPrice": row["unit_price_minor"],
            }
        )
    return found


async def _refunds_of(purchase_ids: list[int]) -> dict[int, list[Record]]:
    found: dict[int, list[Record]] = defaultdict(list)
    rows = await db.rows(
        "SELECT purchase_id, amount_minor, reason, cashback_taken_minor, created_at"  # noqa: S608
        f" FROM cashback_refunds WHERE purchase_id IN ({db.marks(len(purchase_ids))})"
        " ORDER BY id",
        *purchase_ids,
    )
    for row in rows:
        found[int(row["purchase_id"])].append(
            {
                "amount": row["amount_minor"],
                "reason": row["reason"],
                "cashbackTaken": row["cashback_taken_minor"],
                "refundedAt": when(row["created_at"]),
            }
        )
    return found


async def anonymise_customer(*, customer_id: int) -> None:
    """Inside the deletion's transaction: drop the partners' free text from the customer's
    purchases (item names, refund reasons) and the stored tier spend."""
    mine = "purchase_id IN (SELECT id FROM cashback_purchases WHERE customer_id = ?)"
    await db.execute(f"UPDATE cashback_purchase_items SET name = NULL WHERE {mine}", customer_id)  # noqa: S608
    await db.execute(f"UPDATE cashback_refunds SET reason = NULL WHERE {mine}", customer_id)  # noqa: S608
    await db.execute("DELETE FROM cashback_customer_spend WHERE customer_id = ?", customer_id)
