"""Batch functions for per-request DataLoaders that are more than a service function
(merchants, stores and a merchant's stores load with `service.merchants_by_ids`,
`stores_by_ids` and `stores_of_merchants` themselves)."""

from __future__ import annotations

from app.catalog import service
from app.catalog.models import Product
from app.core.errors import DomainError
from app.core.pagination import Page

# (merchant id, first, after, category): one merchant's page of products.
ProductsKey = tuple[int, int, str | None, str | None]


async def product_pages(keys: list[ProductsKey]) -> list[Page[Product] | DomainError]:
    """One statement for all the merchants that ask for the same page (in a list they
    all do); a bad cursor or `first` fails only the keys that carry it."""
    groups: dict[tuple[int, str | None, str | None], list[int]] = {}
    for merchant_id, first, after, category in keys:
        groups.setdefault((first, after, category), []).append(merchant_id)
    found: dict[ProductsKey, Page[Product] | DomainError] = {}
    for (first, after, category), merchant_ids in groups.items():
        try:
            pages = await service.products_of_merchants(
                merchant_ids=merchant_ids, first=first, after=after, category=category
            )
        except DomainError as error:
            for merchant_id in merchant_ids:
                found[(merchant_id, first, after, category)] = error
            continue
        for merchant_id in merchant_ids:
            found[(merchant_id, first, after, category)] = pages[merchant_id]
    return [found[key] for key in keys]
