"""Strawberry types of the catalogue. Other features show merchants and stores with these
types (and the loaders in app/catalog/loaders.py).

`Product` joins the catalogue's own `ProductFields` with other features' (cashback adds
`cashbackPercent`) in app/catalog/product_type.py, and is named here lazily: those
features' types import this module."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Protocol, Self

import strawberry

from app.catalog import loaders, service
from app.catalog.memory import MerchantRecord, StoreRecord
from app.catalog.models import Merchant as MerchantRow
from app.catalog.models import Product as ProductRow
from app.catalog.models import Store as StoreRow
from app.catalog.values import Channel as ChannelValue
from app.core.decimals import plain_decimal
from app.core.ids import encode_id
from app.graphql.context import Context, Info
from app.graphql.errors import UserError
from app.graphql.node import Node, node_fetcher
from app.graphql.scalars import Connection, Money, MoneyInput

if TYPE_CHECKING:
    from app.catalog.product_type import Product

strawberry.enum(ChannelValue, name="Channel", description="Where a purchase happens.")
Channel = ChannelValue  # the GraphQL enum is the model's own class, registered above
ProductType = Annotated["Product", strawberry.lazy("app.catalog.product_type")]


@strawberry.type(description="A brand in the program.")
class Merchant(Node):
    name: str
    logo_url: str | None
    cashback_percent: Decimal = strawberry.field(
        description="The percent every purchase at this merchant earns at least (5.5 = 5.5 %)."
    )
    created_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def of(cls, row: MerchantRow | MerchantRecord) -> Merchant:
        return cls(
            id=strawberry.ID(encode_id("Merchant", row.id)),
            name=row.name,
            logo_url=row.logo_url,
            cashback_percent=plain_decimal(row.cashback_percent),
            created_at=row.created_at,
            pk=row.id,
        )

    @strawberry.field(description="The merchant's stores, online and in store.")
    async def stores(self, info: Info) -> list[Store]:
        rows = await info.context.loader(service.stores_of_merchants).load(self.pk)
        return [Store.of(row) for row in rows]

    @strawberry.field(description="The merchant's products, optionally of one category.")
    async def products(
        self, info: Info, first: int = 20, after: str | None = None, category: str | None = None
    ) -> Connection[ProductType]:
        from app.catalog.product_type import Product  # see the module's docstring

        page = await info.context.loader(loaders.product_pages).load(
            (self.pk, first, after, category)
        )
        return Connection.of(page, [Product.of(row) for row in page.items])


@strawberry.type(description="Where a merchant sells: online or a physical store.")
class Store(Node):
    name: str
    channel: Channel
    merchant_pk: strawberry.Private[int]

    @classmethod
    def of(cls, row: StoreRow | StoreRecord) -> Store:
        return cls(
            id=strawberry.ID(encode_id("Store", row.id)),
            name=row.name,
            channel=ChannelValue(row.channel),
            merchant_pk=row.merchant_id,
        )

    @strawberry.field
    async def merchant(self, info: Info) -> Merchant:
        row = await info.context.loader(service.merchants_by_ids).load(self.merchant_pk)
        assert row is not None
        return Merchant.of(row)


class ProductRoot(Protocol):
    """A product as other features' `ProductFields` see it."""

    @property
    def pk(self) -> int: ...
    @property
    def merchant_pk(self) -> int: ...
    @property
    def category(self) -> str: ...
    @property
    def price_minor(self) -> int: ...


@strawberry.type
class ProductFields(Node):
    """The catalogue's own fields of `Product`."""

    sku: str
    name: str
    category: str
    image_url: str | None
    price: Money
    active: bool = strawberry.field(
        description="Whether the merchant still sells it (only products sold are suggested)."
    )
    pk: strawberry.Private[int]
    merchant_pk: strawberry.Private[int]
    price_minor: strawberry.Private[int]

    @classmethod
    def of(cls, row: ProductRow) -> Self:
        """Called on `Product` (the type joined from every feature's fields), as
        `Product.of(row)`."""
        return cls(
            id=strawberry.ID(encode_id("Product", row.id)),
            sku=row.sku,
            name=row.name,
            category=row.category,
            image_url=row.image_url,
            price=Money.from_minor(row.price_minor, row.currency),
            active=row.active,
            pk=row.id,
            merchant_pk=row.merchant_id,
            price_minor=row.price_minor,
        )

    @strawberry.field
    async def merchant(self, info: Info) -> Merchant:
        row = await info.context.loader(service.merchants_by_ids).load(self.merchant_pk)
        assert row is not None
        return Merchant.of(row)


@strawberry.input
class CreateMerchantInput:
    name: str
    logo_url: str | None = None
    cashback_percent: Decimal


@strawberry.input
class CreateStoreInput:
    merchant_id: strawberry.ID
    name: str
    channel: Channel


@strawberry.input
class ProductInput:
    sku: str
    name: str
    category: str
    price: MoneyInput
    image_url: str | None = None
    active: bool | None = strawberry.field(
        default=None,
        description="Whether the merchant still sells it; left out, a new product is sold "
        "and a known one keeps what it was.",
    )


@strawberry.type
class CreateMerchantPayload:
    merchant: Merchant | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CreateStorePayload:
    store: Store | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpsertProductsPayload:
    products: list[ProductType] | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


# The catalogue is public: merchants, stores and products are visible to every caller.


@node_fetcher("Merchant")
async def fetch_merchant(context: Context, pk: int) -> Merchant | None:
    row = await service.get_merchant(pk)
    return Merchant.of(row) if row else None


@node_fetcher("Store")
async def fetch_store(context: Context, pk: int) -> Store | None:
    row = await service.get_store(pk)
    return Store.of(row) if row else None
