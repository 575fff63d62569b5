from __future__ import annotations

from decimal import Decimal

import strawberry

from app.cashback.history import purchase_by_external_id
from app.cashback.permissions import CanPreviewCashback
from app.cashback.preview import preview_cashback
from app.cashback.rules import list_rules
from app.cashback.tiers import list_tiers
from app.cashback.types import (
    CashbackPreview,
    CashbackRule,
    CustomerRefInput,
    Purchase,
    PurchaseItemInput,
    Tier,
)
from app.graphql.context import Info
from app.graphql.permissions import HasScope
from app.graphql.scalars import MoneyInput


@strawberry.type
class Query:
    @strawberry.field(description="The program's cashback rules in force or to come (public).")
    async def cashback_rules(self, include_ended: bool = False) -> list[CashbackRule]:
        rows = await list_rules(include_ended=include_ended)
        return [CashbackRule.of(row) for row in rows]

    @strawberry.field(description="The program's tiers, by the spend that reaches them (public).")
    async def tiers(self) -> list[Tier]:
        return [Tier.of(tier) for tier in await list_tiers()]

    @strawberry.field(
        permission_classes=[HasScope("purchases:read")],
        description="A purchase at one of the partner's stores, by its own reference.",
    )
    async def purchase(
        self, info: Info, store_id: strawberry.ID, external_id: str
    ) -> Purchase | None:
        row = await purchase_by_external_id(
            store_id=store_id,
            external_id=external_id,
            merchant_scope=info.context.caller.merchant_id,
        )
        return Purchase.of(row) if row else None

    @strawberry.field(
        permission_classes=[CanPreviewCashback],
        description="Exactly what recording this cart now would credit, writing nothing. "
        "A customer previews for themselves; a partner names the customer (or none).",
    )
    async def cashback_preview(
        self,
        info: Info,
        store_id: strawberry.ID,
        total: MoneyInput,
        customer: CustomerRefInput | None = None,
        items: list[PurchaseItemInput] | None = None,
    ) -> CashbackPreview:
        preview = await preview_cashback(
            caller=info.context.caller,
            store_id=store_id,
            total_amount=Decimal(total.amount),
            total_currency=total.currency_code,
            customer=customer.value() if customer else None,
            items=None if items is None else [i.value() for i in items],
        )
        return CashbackPreview.of(preview)
