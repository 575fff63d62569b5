"""A customer's redemptions for their data export, and releasing the open ones when the
account is deleted (their credits go back to available, then the ledger forfeits them)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from app.core.export import Record, money, pages_by_id, when
from app.redemptions.models import Redemption, RedemptionStatus
from app.redemptions.service import _release, current_status


async def release_open(*, customer_id: int) -> int:
    """Release every open redemption of the customer (joining the caller's transaction);
    how many were open. A lapsed one is written down as expired, as a release would."""
    open_ids = sorted(
        int(pk)
        for (pk,) in await Redemption.filter(
            customer_id=customer_id, status=RedemptionStatus.RESERVED
        ).values_list("id")
    )
    for pk in open_ids:
        await _release(pk, customer_id=customer_id, field=None)
    return len(open_ids)


async def export_redemptions(*, customer_id: int) -> AsyncIterator[Record]:
    """Every redemption of the customer, oldest first; never a code or its hash."""
    async for page in pages_by_id("SELECT id FROM redemptions WHERE customer_id = ?", customer_id):
        rows = await Redemption.filter(id__in=[int(r["id"]) for r in page]).order_by("id")
        for row in rows:
            currency = row.currency
            yield {
                "id": row.id,
                "merchantId": row.merchant_id,
                "channel": row.channel.value,
                "status": current_status(row).value,
                "amount": money(row.amount_minor, currency),
                "orderTotal": money(row.order_total_minor, currency),
                "createdAt": when(row.created_at),
                "expiresAt": when(row.expires_at),
                "capturedAt": when(row.captured_at),
                "closedAt": when(row.closed_at),
                "storeId": row.store_id,
                "orderReference": row.order_reference,
                "capturedOrderTotal": money(row.captured_order_total_minor, currency),
            }
