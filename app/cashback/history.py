"""Reading purchases: a partner's by its own reference, a customer's newest first, the
items of many at once, and who may see one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.accounts.tokens import Principal
from app.cashback.earning import Part
from app.cashback.models import Purchase, PurchaseItem
from app.catalog import service as catalog
from app.core.columns import fits_column
from app.core.pagination import Page, keyset_page

PARTNER_PURCHASE_SCOPES = frozenset({"purchases:write", "purchases:read"})


async def purchase_by_external_id(
    *, store_id: str, external_id: str, merchant_scope: int | None
) -> Purchase | None:
    store = await catalog.store_in_scope(store_id, merchant_scope)
    reference = external_id.strip()
    if not fits_column(Purchase, "external_id", reference):
        return None
    return await Purchase.get_or_none(store_id=store.id, external_id=reference)


async def get_purchase(purchase_id: int) -> Purchase | None:
    return await Purchase.get_or_none(id=purchase_id)


def may_see_purchase(caller: Principal | None, purchase: Purchase) -> bool:
    """Its customer, an admin, or a partner with a purchases scope bound to its merchant
    (or to no merchant)."""
    if caller is None:
        return False
    if caller.is_customer:
        return purchase.customer_id == caller.subject_id
    if caller.is_partner:
        return bool(caller.scopes & PARTNER_PURCHASE_SCOPES) and caller.merchant_id in (
            None,
            purchase.merchant_id,
        )
    return caller.is_admin


async def list_purchases(*, customer_id: int, first: int, after: str | None) -> Page[Purchase]:
    return await keyset_page(
        Purchase.filter(customer_id=customer_id),
        first=first,
        after=after,
        order_by=("-occurred_at", "-id"),
    )


async def items_of_purchases(purchase_ids: Sequence[int]) -> list[list[PurchaseItem]]:
    """The items of each purchase, in order (a DataLoader's batch function)."""
    found: dict[int, list[PurchaseItem]] = {i: [] for i in purchase_ids}
    for item in await PurchaseItem.filter(purchase_id__in=set(purchase_ids)).order_by("id"):
        found[item.purchase_id].append(item)
    return [found[i] for i in purchase_ids]


async def purchases_of_customer(keys: Sequence[tuple[int, int]]) -> list[Purchase | None]:
    """Purchases by (customer id, purchase id): None for one of another customer (a
    DataLoader's batch function)."""
    ids = {pk for _, pk in keys}
    rows = {p.id: p for p in await Purchase.filter(id__in=ids)}
    found = []
    for customer_id, pk in keys:
        row = rows.get(pk)
        found.append(row if row is not None and row.customer_id == customer_id else None)
    return found


def cashback_status(purchase: Purchase, now: datetime) -> str:
    """NONE (nothing earned), REVERSED (all taken back), PENDING or AVAILABLE."""
    if purchase.cashback_minor == 0:
        return "NONE"
    if purchase.cashback_reversed_minor >= purchase.cashback_minor:
        return "REVERSED"
    if purchase.cashback_available_at is not None and now < purchase.cashback_available_at:
        return "PENDING"
    return "AVAILABLE"


def explanation_parts(data: Any) -> list[Part]:
    if not isinstance(data, list):
        return []
    return [Part.from_json(p) for p in data if isinstance(p, dict)]
