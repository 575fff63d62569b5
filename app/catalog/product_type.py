"""The catalogue's `Product` type: its own fields (`types.ProductFields`) joined with
those other features contribute as a `ProductFields` of their `types` module (cashback's
`cashbackPercent`), the way `Viewer` joins every feature's `ViewerFields`.

It lives apart from app/catalog/types.py, which names it lazily, because the
contributing features' types import that module: joined here, after them, every
contribution is complete whichever module was imported first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry

from app.catalog import service, types
from app.features import feature_modules
from app.graphql.context import Context
from app.graphql.node import node_fetcher

_CONTRIBUTED = tuple(
    m.ProductFields
    for m in feature_modules("types")
    if m is not types and hasattr(m, "ProductFields")
)

if TYPE_CHECKING:
    # What Python code reads of a Product is the catalogue's own fields; the contributed
    # ones are only resolved by GraphQL.
    Product = types.ProductFields
else:
    Product = strawberry.type(
        type("Product", (types.ProductFields, *_CONTRIBUTED), {}),
        description="A merchant's product.",
    )


@node_fetcher("Product")
async def fetch_product(context: Context, pk: int) -> Product | None:
    row = await service.get_product(pk)
    return Product.of(row) if row else None
