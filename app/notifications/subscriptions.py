"""`balanceChanged`: the signed-in customer's balance, pushed over the WebSocket whenever
it moves (app.notifications.live)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from app.graphql.context import Info
from app.graphql.permissions import IsCustomer
from app.notifications import live
from app.notifications.live_types import BalanceChange


@strawberry.type
class Subscription:
    @strawberry.subscription(
        permission_classes=[IsCustomer],
        description="The viewer's balance each time it moves (cashback recorded, credits "
        "maturing or expiring, a redemption reserved, captured or released, a refund). "
        "Nothing is sent on subscribing; query `viewer.balance` for the current one.",
    )
    async def balance_changed(self, info: Info) -> AsyncGenerator[BalanceChange, None]:
        customer = info.context.principal
        assert customer is not None  # IsCustomer
        changes = live.balance_changes(customer.subject_id, info.context.settings)
        try:
            async for change in changes:
                yield BalanceChange.of(change)
        finally:
            await changes.aclose()
