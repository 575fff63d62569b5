"""The balance as the app shows it: `viewer.balance`."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app import ledger
from app.graphql.context import Info
from app.graphql.parents import ViewerRoot
from app.graphql.scalars import Money


@strawberry.type(description="Credits that expire next, and when.")
class CreditExpiry:
    amount: Money
    expires_at: datetime


@strawberry.type(
    description="The customer's credits: `available` can be spent now, `reserved` is held by "
    "open redemptions, `pending` has not matured yet."
)
class Balance:
    available: Money
    pending: Money
    reserved: Money
    lifetime_earned: Money = strawberry.field(
        description="All cashback and bonuses credited, less what refunds took back."
    )
    next_expiry: CreditExpiry | None = strawberry.field(
        description="The available credits that expire soonest; null when none will."
    )

    @classmethod
    def of(cls, balance: ledger.Balance) -> Balance:
        currency = balance.currency
        expiry = None
        if balance.next_expiry_at is not None and balance.next_expiry_amount:
            expiry = CreditExpiry(
                amount=Money.from_minor(balance.next_expiry_amount, currency),
                expires_at=balance.next_expiry_at,
            )
        return cls(
            available=Money.from_minor(balance.available, currency),
            pending=Money.from_minor(balance.pending, currency),
            reserved=Money.from_minor(balance.reserved, currency),
            lifetime_earned=Money.from_minor(balance.lifetime_earned, currency),
            next_expiry=expiry,
        )


@strawberry.type
class ViewerFields:
    @strawberry.field(description="The signed-in customer's credits, right to this moment.")
    async def balance(self, root: strawberry.Parent[ViewerRoot], info: Info) -> Balance:
        from app.program.service import get_program

        program = await get_program()
        return Balance.of(
            await ledger.get_balance(customer_id=root.id, currency=program.currency_code)
        )
