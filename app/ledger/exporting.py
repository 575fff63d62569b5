"""A customer's ledger for their data export: balances, activity (each entry with its
explanation) and credits (lots), read page by page (see app.core.export)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from app import db
from app.core.export import Record, money, pages_by_id, plain, when


async def customer_balances(*, customer_id: int) -> list[Record]:
    """Each wallet's totals (one row per currency)."""
    rows = await db.rows(
        "SELECT currency, available, pending, reserved, lifetime_earned FROM ledger_wallets"
        " WHERE customer_id = ? ORDER BY currency",
        customer_id,
    )
    return [
        {
            "currencyCode": row["currency"],
            "available": money(row["available"], row["currency"]),
            "pending": money(row["pending"], row["currency"]),
            "reserved": money(row["reserved"], row["currency"]),
            "lifetimeEarned": money(row["lifetime_earned"], row["currency"]),
        }
        for row in rows
    ]


async def customer_activity(*, customer_id: int) -> AsyncIterator[Record]:
    """Every ledger entry of the customer, oldest first: credits with their explanation,
    redemptions, reversals, expiries."""
    async for page in pages_by_id(
        "SELECT id, currency, kind, status, amount, occurred_at, available_at, expires_at,"
        " description, merchant_id, source_type, source_id, details FROM ledger_entries"
        " WHERE customer_id = ?",
        customer_id,
    ):
        for row in page:
            yield {
                "id": int(row["id"]),
                "kind": row["kind"],
                "status": row["status"],
                "amount": money(row["amount"], row["currency"]),
                "occurredAt": when(row["occurred_at"]),
                "availableAt": when(row["available_at"]),
                "expiresAt": when(row["expires_at"]),
                "description": row["description"],
                "merchantId": row["merchant_id"],
                "source": {"type": row["source_type"], "id": row["source_id"]}
                if row["source_type"]
                else None,
                "details": plain(db.from_json(row["details"])),
            }


async def customer_credits(*, customer_id: int) -> AsyncIterator[Record]:
    """Every credit (lot) of the customer: how much, what is left, when it matures and
    expires, and what became of the rest."""
    async for page in pages_by_id(
        "SELECT id, entry_id, currency, state, amount, remaining, spent, expired, taken_back,"
        " clawed_back, available_at, expires_at FROM ledger_lots WHERE customer_id = ?",
        customer_id,
    ):
        for row in page:
            currency = row["currency"]
            yield {
                "id": int(row["id"]),
                "entryId": int(row["entry_id"]),
                "state": row["state"],
                "amount": money(row["amount"], currency),
                "remaining": money(row["remaining"], currency),
                "spent": money(row["spent"], currency),
                "expired": money(row["expired"], currency),
                "takenBack": money(row["taken_back"], currency),
                "availableAt": when(row["available_at"]),
                "expiresAt": when(row["expires_at"]),
            }


async def customers_holding(*, customer_ids: list[int]) -> list[int]:
    """Those of these customers whose wallets hold anything (pending, available or
    reserved), in one statement."""
    if not customer_ids:
        return []
    rows = await db.rows(
        "SELECT DISTINCT customer_id FROM ledger_wallets"  # noqa: S608
        f" WHERE customer_id IN ({db.marks(len(customer_ids))})"
        " AND available + pending + reserved > 0 ORDER BY customer_id",
        *customer_ids,
    )
    return [int(row["customer_id"]) for row in rows]
