from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.errors import returns_user_errors
from app.graphql.permissions import HasScope, IsCustomer
from app.redemptions import service
from app.redemptions.types import (
    CancelRedemptionPayload,
    CaptureRedemptionInput,
    CaptureRedemptionPayload,
    Redemption,
    ReleaseRedemptionInput,
    ReleaseRedemptionPayload,
    StartRedemptionInput,
    StartRedemptionPayload,
)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=[IsCustomer],
        description="Reserve credits for a redemption at a merchant (IN_STORE: with a code).",
    )
    @returns_user_errors(StartRedemptionPayload)
    async def start_redemption(
        self, info: Info, input: StartRedemptionInput
    ) -> StartRedemptionPayload:
        total = input.order_total
        row = await service.start_redemption(
            settings=info.context.settings,
            customer_id=info.context.caller.subject_id,
            merchant_id=input.merchant_id,
            amount=input.amount.amount,
            currency=input.amount.currency_code,
            channel=input.channel,
            idempotency_key=input.idempotency_key,
            order_total=(total.amount, total.currency_code) if total else None,
        )
        return StartRedemptionPayload(redemption=Redemption.of(row))

    @strawberry.mutation(
        permission_classes=[IsCustomer],
        description="Give up one of your open redemptions: its credits are available again.",
    )
    @returns_user_errors(CancelRedemptionPayload)
    async def cancel_redemption(self, info: Info, id: strawberry.ID) -> CancelRedemptionPayload:
        row = await service.cancel_redemption(
            customer_id=info.context.caller.subject_id, redemption_id=id
        )
        return CancelRedemptionPayload(redemption=Redemption.of(row))

    @strawberry.mutation(
        permission_classes=[HasScope("redemptions:write")],
        description="Spend a redemption on an order: by the code shown in store, or by id.",
    )
    @returns_user_errors(CaptureRedemptionPayload)
    async def capture_redemption(
        self, info: Info, input: CaptureRedemptionInput
    ) -> CaptureRedemptionPayload:
        total = input.order_total
        row = await service.capture_redemption(
            settings=info.context.settings,
            merchant_scope=info.context.caller.merchant_id,
            store_id=input.store_id,
            code=input.code,
            redemption_id=input.redemption_id,
            order_reference=input.order_reference,
            order_total=(total.amount, total.currency_code) if total else None,
            partner_client_id=info.context.caller.subject_id,
        )
        return CaptureRedemptionPayload(redemption=Redemption.of(row))

    @strawberry.mutation(
        permission_classes=[HasScope("redemptions:write")],
        description="The order did not go through: give the reserved credits back.",
    )
    @returns_user_errors(ReleaseRedemptionPayload)
    async def release_redemption(
        self, info: Info, input: ReleaseRedemptionInput
    ) -> ReleaseRedemptionPayload:
        row = await service.release_redemption(
            settings=info.context.settings,
            merchant_scope=info.context.caller.merchant_id,
            store_id=input.store_id,
            code=input.code,
            redemption_id=input.redemption_id,
            partner_client_id=info.context.caller.subject_id,
        )
        return ReleaseRedemptionPayload(redemption=Redemption.of(row))
