from __future__ import annotations

from decimal import Decimal

import strawberry

from app.cashback.purchases import record_purchase, record_purchases
from app.cashback.refunds import refund_purchase
from app.cashback.rules import create_rule, end_rule
from app.cashback.tiers import TierSpec, update_tiers
from app.cashback.types import (
    CashbackRule,
    CreateCashbackRuleInput,
    CreateCashbackRulePayload,
    EndCashbackRulePayload,
    Purchase,
    RecordPurchaseInput,
    RecordPurchasePayload,
    RecordPurchasesPayload,
    RefundPurchaseInput,
    RefundPurchasePayload,
    Tier,
    TierInput,
    UpdateTiersPayload,
)
from app.core.errors import DomainErrors
from app.graphql.context import Info
from app.graphql.errors import returns_user_errors, user_errors_of
from app.graphql.permissions import HasScope, IsAdmin
from app.graphql.scalars import MoneyInput


def _money(value: MoneyInput | None) -> tuple[Decimal, str] | None:
    return (value.amount, value.currency_code) if value is not None else None


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=[HasScope("purchases:write")],
        description="Report a purchase; its cashback is credited (pending) at once. The same "
        "externalId at the same store again returns the purchase already recorded.",
    )
    @returns_user_errors(RecordPurchasePayload)
    async def record_purchase(
        self, info: Info, input: RecordPurchaseInput
    ) -> RecordPurchasePayload:
        row = await record_purchase(
            purchase=input.value(),
            merchant_scope=info.context.caller.merchant_id,
        )
        return RecordPurchasePayload(purchase=Purchase.of(row))

    @strawberry.mutation(
        permission_classes=[HasScope("purchases:write")],
        description="Up to 500 purchases, each recorded or refused on its own, answered in order.",
    )
    @returns_user_errors(RecordPurchasesPayload)
    async def record_purchases(
        self, info: Info, inputs: list[RecordPurchaseInput]
    ) -> RecordPurchasesPayload:
        outcomes = await record_purchases(
            [i.value() for i in inputs],
            merchant_scope=info.context.caller.merchant_id,
        )
        return RecordPurchasesPayload(
            results=[
                RecordPurchasePayload(purchase=Purchase.of(o.purchase))
                if o.purchase is not None
                else RecordPurchasePayload(user_errors=user_errors_of(o.error or DomainErrors([])))
                for o in outcomes
            ]
        )

    @strawberry.mutation(
        permission_classes=[HasScope("purchases:write")],
        description="Refund part or all of a purchase; its cashback is taken back in proportion.",
    )
    @returns_user_errors(RefundPurchasePayload)
    async def refund_purchase(
        self, info: Info, input: RefundPurchaseInput
    ) -> RefundPurchasePayload:
        row = await refund_purchase(
            store_id=input.store_id,
            external_id=input.external_id,
            amount=input.amount.amount,
            currency=input.amount.currency_code,
            idempotency_key=input.idempotency_key,
            reason=input.reason,
            merchant_scope=info.context.caller.merchant_id,
        )
        return RefundPurchasePayload(purchase=Purchase.of(row))

    @strawberry.mutation(permission_classes=[IsAdmin])
    @returns_user_errors(CreateCashbackRulePayload)
    async def create_cashback_rule(
        self, input: CreateCashbackRuleInput
    ) -> CreateCashbackRulePayload:
        row = await create_rule(
            name=input.name,
            percent=input.percent,
            terms=input.terms,
            merchant_id=input.merchant_id,
            category=input.category,
            channels=input.channels,
            minimum_spend=_money(input.minimum_spend),
            max_cashback=_money(input.max_cashback_per_purchase),
            starts_at=input.starts_at,
            ends_at=input.ends_at,
        )
        return CreateCashbackRulePayload(rule=CashbackRule.of(row))

    @strawberry.mutation(
        permission_classes=[IsAdmin], description="End a rule now (it stays in history)."
    )
    @returns_user_errors(EndCashbackRulePayload)
    async def end_cashback_rule(self, id: strawberry.ID) -> EndCashbackRulePayload:
        return EndCashbackRulePayload(rule=CashbackRule.of(await end_rule(rule_id=id)))

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Replace the program's tiers (one of them starts at zero spend).",
    )
    @returns_user_errors(UpdateTiersPayload)
    async def update_tiers(self, tiers: list[TierInput]) -> UpdateTiersPayload:
        rows = await update_tiers(
            tiers=[
                TierSpec(
                    code=t.code,
                    name=t.name,
                    multiplier=t.cashback_multiplier,
                    minimum_spend_amount=t.minimum_spend.amount,
                    minimum_spend_currency=t.minimum_spend.currency_code,
                )
                for t in tiers
            ]
        )
        return UpdateTiersPayload(tiers=[Tier.of(t) for t in rows])
