"""Batch functions for per-request DataLoaders: `info.context.loader(merchants_by_id).load(id)`."""

from __future__ import annotations

from app.catalog import service
from app.catalog.models import Merchant, Store


async def merchants_by_id(ids: list[int]) -> list[Merchant | None]:
    return await service.merchants_by_ids(ids)


async def stores_by_id(ids: list[int]) -> list[Store | None]:
    return await service.stores_by_ids(ids)


async def stores_by_merchant_id(merchant_ids: list[int]) -> list[list[Store]]:
    return await service.stores_of_merchants(merchant_ids)
