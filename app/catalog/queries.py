from __future__ import annotations

import strawberry

from app.catalog import service
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
