from __future__ import annotations

import strawberry

from app.core import clock
from app.graphql.context import Info
from app.graphql.permissions import IsAdmin
from app.graphql.scalars import Connection
from app.offers import feed, service
from app.offers.permissions import CanReadPublicOffers
from app.offers.types import Offer, OfferFilterInput, offers_connection, wanted_languages


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=[CanReadPublicOffers],
        description="The program's live offers open to everyone (no audience, not reserved "
        "to members), for partner apps (scope offers:read) and visitors. Nothing personal.",
    )
    async def offers(
        self,
        info: Info,
        first: int,
        after: str | None = None,
        merchant_id: strawberry.ID | None = None,
        category: str | None = None,
    ) -> Connection[Offer]:
        page = await feed.public_offers(
            first=first, after=after, merchant_id=merchant_id, category=category, now=clock.now()
        )
        return offers_connection(page, wanted_languages(info.context))

    @strawberry.field(
        permission_classes=[IsAdmin],
        description="Every offer of the program, newest first, for admins.",
    )
    async def program_offers(
        self,
        info: Info,
        first: int,
        after: str | None = None,
        filter: OfferFilterInput | None = None,
    ) -> Connection[Offer]:
        page = await service.list_offers(
            first=first,
            after=after,
            where=filter.value() if filter else service.OfferFilter(),
        )
        return Connection.of(page, [Offer.of(feed.OfferCard.of(row)) for row in page.items])
