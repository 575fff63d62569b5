from __future__ import annotations

from decimal import Decimal

import strawberry

from app.graphql.errors import UserError
from app.graphql.scalars import Money, MoneyInput
from app.program.service import Program as ProgramValue


@strawberry.type(description="The program's settings and terms.")
class Program:
    currency_code: str
    pending_days: int = strawberry.field(description="Days a new credit stays pending.")
    credit_validity_days: int = strawberry.field(
        description="Days a credit can be spent once available."
    )
    max_redemption_share: Decimal = strawberry.field(
        description="The largest share of an order that credits may pay."
    )
    minimum_redemption: Money
    terms: str
    terms_version: int
    max_purchase_total: Money = strawberry.field(
        description="The largest purchase total a partner may record, refund or preview."
    )
    max_redemption_amount: Money = strawberry.field(
        description="The largest amount one redemption may take."
    )
    marketing_messages_per_week: int = strawberry.field(
        description="The most marketing messages a customer receives in any 7 days (0: none)."
    )

    @classmethod
    def of(cls, program: ProgramValue, *, terms: str) -> Program:
        return cls(
            currency_code=program.currency_code,
            pending_days=program.pending_days,
            credit_validity_days=program.credit_validity_days,
            max_redemption_share=program.max_redemption_share,
            minimum_redemption=Money.of(program.minimum_redemption),
            terms=terms,
            terms_version=program.terms_version,
            max_purchase_total=Money.of(program.max_purchase_total),
            max_redemption_amount=Money.of(program.max_redemption_amount),
            marketing_messages_per_week=program.marketing_messages_per_week,
        )


@strawberry.input
class UpdateProgramInput:
    currency_code: str | None = None
    pending_days: int | None = None
    credit_validity_days: int | None = None
    max_redemption_share: Decimal | None = None
    minimum_redemption: MoneyInput | None = None
    terms: str | None = None
    max_purchase_total: MoneyInput | None = None
    max_redemption_amount: MoneyInput | None = None
    marketing_messages_per_week: int | None = None


@strawberry.type
class UpdateProgramPayload:
    program: Program | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
