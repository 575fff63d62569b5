from __future__ import annotations

import strawberry

from app.catalog import service
from app.catalog.errors import UnknownProduct
from app.catalog.product_type import Product
from app.catalog.types import Merchant
from app.graphql.scalars import Connection


@strawberry.type
class Query:
    @strawberry.field(description="The program's merchants by name, with their stores (public).")
    async def merchants(self, first: int, after: str | None = None) -> Connection[Merchant]:
        page = await service.list_merchants(first=first, after=after)
        return Connection.of(page, [Merchant.of(row) for row in page.items])

    @strawberry.field(description="Every product category of the catalogue (public).")
    async def categories(self) -> list[str]:
        return await service.list_categories()

    @strawberry.field(
        description="A product by id (public), for product pages. UNKNOWN_PRODUCT for an id "
        "that is not a product's."
    )
    async def product(self, id: strawberry.ID) -> Product | None:
        row = await service.get_product(service.product_pk(id, field=["id"]))
        if row is None:
            raise UnknownProduct(field=["id"])
        return Product.of(row)
