"""Merchants, stores and products, made through the catalogue's own service."""

from __future__ import annotations

import itertools
from decimal import Decimal

from app.catalog import service
from app.catalog.models import Merchant, Product, Store
from app.catalog.values import Channel
from app.core.ids import encode_id

_numbers = itertools.count(1)


async def make_merchant(*, name: str | None = None, percent: str = "2") -> Merchant:
    return await service.create_merchant(
        name=name or f"Merchant {next(_numbers)}",
        logo_url=None,
        cashback_percent=Decimal(percent),
    )


async def make_store(
    merchant: Merchant | None = None,
    *,
    channel: Channel = Channel.IN_STORE,
    name: str | None = None,
    percent: str = "2",
) -> Store:
    merchant = merchant or await make_merchant(percent=percent)
    return await service.create_store(
        merchant_id=merchant.id, name=name or f"Store {next(_numbers)}", channel=channel
    )


async def make_product(
    merchant: Merchant, *, sku: str, category: str = "Groceries", price: str = "10.00"
) -> Product:
    [product] = await service.upsert_products(
        merchant_id=merchant.id,
        products=[
            service.ProductData(
                sku=sku,
                name=f"Product {sku}",
                category=category,
                price_amount=Decimal(price),
                price_currency="USD",
            )
        ],
    )
    return product


def gid(type_name: str, pk: int) -> str:
    return encode_id(type_name, pk)
