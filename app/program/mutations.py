from __future__ import annotations

import strawberry

from app.graphql.errors import returns_user_errors
from app.graphql.permissions import IsAdmin
from app.program import service
from app.program.types import Program, UpdateProgramInput, UpdateProgramPayload


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[IsAdmin])
    @returns_user_errors(UpdateProgramPayload)
    async def update_program(self, input: UpdateProgramInput) -> UpdateProgramPayload:
        minimum = input.minimum_redemption
        most_paid, most_redeemed = input.max_purchase_total, input.max_redemption_amount
        program = await service.update_program(
            currency_code=input.currency_code,
            pending_days=input.pending_days,
            credit_validity_days=input.credit_validity_days,
            max_redemption_share=input.max_redemption_share,
            minimum_redemption=(minimum.amount, minimum.currency_code) if minimum else None,
            terms=input.terms,
            max_purchase_total=((most_paid.amount, most_paid.currency_code) if most_paid else None),
            max_redemption_amount=(
                (most_redeemed.amount, most_redeemed.currency_code) if most_redeemed else None
            ),
            marketing_messages_per_week=input.marketing_messages_per_week,
        )
        terms = await service.terms_text(program.terms_version)
        return UpdateProgramPayload(program=Program.of(program, terms=terms))
