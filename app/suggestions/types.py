"""Suggestions on the viewer (`viewer.suggestions`) and related products on a product
(`Product.related`)."""

from __future__ import annotations

from typing import Any

import strawberry

from app.catalog.types import ProductRoot, ProductType
from app.graphql.context import Info
from app.graphql.parents import ViewerRoot
from app.graphql.permissions import IsCustomer
from app.graphql.scalars import Money
from app.suggestions import service


def _product(row: Any) -> Any:
    from app.catalog.product_type import Product  # joined after every feature's types

    return Product.of(row)


@strawberry.type(description="A product suggested to the customer, and why.")
class Suggestion:
    product: ProductType
    reason: str = strawberry.field(
        description='Why it is suggested, in a short sentence ("Often bought with Phone X").'
    )
    affordable_with_balance: bool = strawberry.field(
        description="Whether the customer's available credits cover its price."
    )
    estimated_cashback: Money = strawberry.field(
        description="What buying it alone now would credit them (their tier, the rules and "
        "their offers included), as recording the purchase would compute it."
    )

    @classmethod
    def of(cls, suggestion: service.Suggestion) -> Suggestion:
        return cls(
            product=_product(suggestion.product),
            reason=suggestion.reason,
            affordable_with_balance=suggestion.affordable_with_balance,
            estimated_cashback=Money.of(suggestion.estimated_cashback),
        )


@strawberry.type
class ViewerFields:
    @strawberry.field(
        permission_classes=[IsCustomer],
        description="Products for the customer: bought together with what was in `purchaseId` "
        "(one of their purchases), or with what they bought lately and in their favourite "
        "category. Without consent to personalization, only the given purchase and what is "
        "popular in the program count. `first` is 0 to 50.",
    )
    async def suggestions(
        self,
        root: strawberry.Parent[ViewerRoot],
        info: Info,
        first: int = 6,
        purchase_id: strawberry.ID | None = None,
    ) -> list[Suggestion]:
        found = await service.suggestions_for(
            customer_id=root.id,
            personalized=bool(root.consent_personalization),
            first=first,
            purchase_id=purchase_id,
        )
        return [Suggestion.of(s) for s in found]


@strawberry.type
class ProductFields:
    """Joined into the catalogue's `Product` (see app/catalog/product_type.py)."""

    @strawberry.field(
        description="Products bought together with this one (then the most bought of its "
        "category), still sold, never itself. `first` is 0 to 50."
    )
    async def related(
        self, root: strawberry.Parent[ProductRoot], info: Info, first: int = 6
    ) -> list[ProductType]:
        service.check_first(first)
        found = await info.context.loader(service.related_products).load((root.pk, first))
        return [_product(row) for row in found]
