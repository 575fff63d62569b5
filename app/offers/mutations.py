from __future__ import annotations

import strawberry

from app.accounts.service import get_active_user
from app.core import clock
from app.core.errors import Unauthenticated
from app.graphql.context import Info
from app.graphql.errors import returns_user_errors
from app.graphql.parents import ViewerRoot
from app.graphql.permissions import IsAdmin, IsCustomer
from app.offers import service, usage
from app.offers.feed import OfferCard
from app.offers.models import OfferStatus
from app.offers.types import (
    ActivateOfferPayload,
    CreateOfferInput,
    CreateOfferPayload,
    Offer,
    OfferPayload,
    UpdateOfferInput,
    member_of,
    wanted_languages,
)


async def _status(info: Info, offer_id: strawberry.ID, status: OfferStatus) -> OfferPayload:
    row = await service.set_status(offer_id, status)
    return OfferPayload(offer=Offer.of(OfferCard.of(row), wanted_languages(info.context)))


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[IsAdmin], description="Make an offer.")
    @returns_user_errors(CreateOfferPayload)
    async def create_offer(self, info: Info, input: CreateOfferInput) -> CreateOfferPayload:
        row = await service.create_offer(input.value())
        return CreateOfferPayload(offer=Offer.of(OfferCard.of(row)))

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Change an offer's texts, end, minimum spend, limits, budget or audience.",
    )
    @returns_user_errors(OfferPayload)
    async def update_offer(
        self, info: Info, id: strawberry.ID, input: UpdateOfferInput
    ) -> OfferPayload:
        row = await service.update_offer(id, input.value())
        return OfferPayload(offer=Offer.of(OfferCard.of(row)))

    @strawberry.mutation(
        permission_classes=[IsAdmin], description="Stop an offer applying until it is resumed."
    )
    @returns_user_errors(OfferPayload)
    async def pause_offer(self, info: Info, id: strawberry.ID) -> OfferPayload:
        return await _status(info, id, OfferStatus.PAUSED)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Apply a paused offer again.")
    @returns_user_errors(OfferPayload)
    async def resume_offer(self, info: Info, id: strawberry.ID) -> OfferPayload:
        return await _status(info, id, OfferStatus.ACTIVE)

    @strawberry.mutation(permission_classes=[IsAdmin], description="End an offer now, for good.")
    @returns_user_errors(OfferPayload)
    async def end_offer(self, info: Info, id: strawberry.ID) -> OfferPayload:
        return await _status(info, id, OfferStatus.ENDED)

    @strawberry.mutation(
        permission_classes=[IsCustomer],
        description="Activate an offer: it applies to purchases made from now on. Activating "
        "twice is harmless.",
    )
    @returns_user_errors(ActivateOfferPayload)
    async def activate_offer(self, info: Info, offer_id: strawberry.ID) -> ActivateOfferPayload:
        user = await get_active_user(info.context.caller.subject_id)
        if user is None:
            raise Unauthenticated("This account no longer exists.")
        viewer: ViewerRoot = user
        now = clock.now()
        member, _ = await member_of(info.context, viewer, now)
        card = await usage.activate(
            offer_id=offer_id, customer_id=viewer.id, member=member, now=now
        )
        return ActivateOfferPayload(
            offer=Offer.of(card, wanted_languages(info.context, viewer.locale))
        )
