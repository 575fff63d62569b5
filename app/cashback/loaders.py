"""Batch functions for per-request DataLoaders (`info.context.loader(fn).load(key)`)."""

from __future__ import annotations

from decimal import Decimal

from app.cashback import service
from app.cashback.models import Purchase, PurchaseItem


async def items_by_purchase_id(purchase_ids: list[int]) -> list[list[PurchaseItem]]:
    return await service.items_of_purchases(purchase_ids)


async def purchase_of_customer(keys: list[tuple[int, int]]) -> list[Purchase | None]:
    """Keys are (customer id, purchase id): another customer's purchase loads as None."""
    return await service.purchases_of_customer(keys)


async def best_catalogue_percent(keys: list[tuple[int, str, int]]) -> list[Decimal]:
    """Keys are (merchant id, category, price in minor units) of products."""
    return await service.best_catalogue_percents(keys)
