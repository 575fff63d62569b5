"""A customer's offer activations and uses for their data export, and erasing their
standings when the account is deleted. What purchases took from offer budgets
(`offer_uses`) stays with the anonymised purchases: a later refund gives it back."""

from __future__ import annotations

from collections.abc import AsyncIterator

from app import db
from app.core.export import Record, money, pages_by_id, when


async def export_activations(*, customer_id: int) -> AsyncIterator[Record]:
    """The customer's standing with each offer: when they activated it, how often used."""
    async for page in pages_by_id(
        "SELECT id, offer_id, activated_at, uses FROM offer_customers WHERE customer_id = ?",
        customer_id,
    ):
        titles = await _titles([int(row["offer_id"]) for row in page])
        for row in page:
            yield {
                "offerId": int(row["offer_id"]),
                "title": titles.get(int(row["offer_id"])),
                "activatedAt": when(row["activated_at"]),
                "uses": int(row["uses"]),
            }


async def export_uses(*, customer_id: int) -> AsyncIterator[Record]:
    """What each of the customer's purchases got from an offer."""
    async for page in pages_by_id(
        "SELECT u.id AS id, u.offer_id, u.purchase_id, u.amount_minor, u.returned_minor,"
        " u.created_at, o.currency FROM offer_uses u JOIN offers o ON o.id = u.offer_id"
        " WHERE u.customer_id = ?",
        customer_id,
        column="u.id",
    ):
        for row in page:
            yield {
                "offerId": int(row["offer_id"]),
                "purchaseId": int(row["purchase_id"]),
                "amount": money(row["amount_minor"], row["currency"]),
                "returned": money(row["returned_minor"], row["currency"]),
                "usedAt": when(row["created_at"]),
            }


async def _titles(offer_ids: list[int]) -> dict[int, str]:
    rows = await db.rows(
        f"SELECT id, title FROM offers WHERE id IN ({db.marks(len(offer_ids))})",  # noqa: S608
        *offer_ids,
    )
    return {int(row["id"]): row["title"] for row in rows}


async def erase_customer(*, customer_id: int) -> None:
    """Inside the deletion's transaction: the customer's activations and use counts go."""
    await db.execute("DELETE FROM offer_customers WHERE customer_id = ?", customer_id)
