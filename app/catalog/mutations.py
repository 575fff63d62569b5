from __future__ import annotations

import strawberry

from app.catalog import service
from app.catalog.product_type import Product
from app.catalog.types import (
    CreateMerchantInput,
    CreateMerchantPayload,
    CreateStoreInput,
    CreateStorePayload,
    Merchant,
    ProductInput,
    Store,
    UpsertProductsPayload,
)
from app.catalog.values import Channel as ChannelValue
from app.graphql.errors import returns_user_errors
from app.graphql.permissions import IsAdmin


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[IsAdmin])
    @returns_user_errors(CreateMerchantPayload)
    async def create_merchant(self, input: CreateMerchantInput) -> CreateMerchantPayload:
        row = await service.create_merchant(
            name=input.name, logo_url=input.logo_url, cashback_percent=input.cashback_percent
        )
        return CreateMerchantPayload(merchant=Merchant.of(row))

    @strawberry.mutation(permission_classes=[IsAdmin])
    @returns_user_errors(CreateStorePayload)
    async def create_store(self, input: CreateStoreInput) -> CreateStorePayload:
        row = await service.create_store(
            merchant_id=service.merchant_pk(input.merchant_id, field=["input", "merchantId"]),
            name=input.name,
            channel=ChannelValue(input.channel),
        )
        return CreateStorePayload(store=Store.of(row))

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Insert or update products by (merchant, sku); up to 1,000 at once.",
    )
    @returns_user_errors(UpsertProductsPayload)
    async def upsert_products(
        self, merchant_id: strawberry.ID, products: list[ProductInput]
    ) -> UpsertProductsPayload:
        rows = await service.upsert_products(
            merchant_id=service.merchant_pk(merchant_id, field=["merchantId"]),
            products=[
                service.ProductData(
                    sku=p.sku,
                    name=p.name,
                    category=p.category,
                    price_amount=p.price.amount,
                    price_currency=p.price.currency_code,
                    image_url=p.image_url,
                    active=p.active,
                )
                for p in products
            ],
        )
        return UpsertProductsPayload(products=[Product.of(row) for row in rows])
