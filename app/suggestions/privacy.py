"""A customer's basket lines (the catalogue products of their counted purchases, which
suggestions read) for their data export. Erasing the account leaves them: like the
purchases they come from, they then name only the anonymous id, and the program-wide
co-purchase counts are made of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

from app.core.export import Record, pages_by_id

_EPOCH = date(1970, 1, 1)


async def export_basket_lines(*, customer_id: int) -> AsyncIterator[Record]:
    async for page in pages_by_id(
        "SELECT id, purchase_id, product_id, day FROM suggestion_basket_lines"
        " WHERE customer_id = ?",
        customer_id,
    ):
        for row in page:
            yield {
                "purchaseId": int(row["purchase_id"]),
                "productId": int(row["product_id"]),
                "day": (_EPOCH + timedelta(days=int(row["day"]))).isoformat(),
            }
