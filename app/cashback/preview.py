"""The cashback preview: exactly what recording a cart now would credit, computed the way
recording computes it, writing nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.accounts.tokens import Principal
from app.cashback.earning import Earning
from app.cashback.purchases import (
    CustomerRef,
    EarningContext,
    ItemInput,
    PurchaseInput,
    cashback_dates,
    check_input,
    look_up,
)
from app.cashback.tiers import TierInfo
from app.core import clock
from app.core.errors import DomainErrors
from app.program.service import get_program


@dataclass(frozen=True, slots=True)
class Preview:
    earning: Earning
    currency: str
    tier: TierInfo
    available_at: datetime | None
    expires_at: datetime | None


async def preview_cashback(
    *,
    caller: Principal,
    store_id: str,
    total_amount: Decimal,
    total_currency: str,
    customer: CustomerRef | None = None,
    items: Sequence[ItemInput] | None = None,
) -> Preview:
    """Exactly what recording this purchase now would credit, writing nothing. A customer
    previews for themselves; a partner or an admin for the customer named (or for a customer
    of the first tier when none is named)."""
    program = await get_program()
    now = clock.now()
    context = EarningContext(program=program, now=now)
    as_customer = caller.is_customer
    request = PurchaseInput(
        store_id=store_id,
        external_id="preview",
        customer=None if as_customer else customer,
        total_amount=total_amount,
        total_currency=total_currency,
        occurred_at=now,
        items=items,
    )
    row = check_input(
        request,
        currency=program.currency_code,
        now=now,
        path=[],
        needs_customer=False,
        max_total=program.max_purchase_total,
    )
    scope = caller.merchant_id if caller.is_partner else None
    [looked_up] = await look_up([row], context, scope)
    if isinstance(looked_up, DomainErrors):
        # A query answers one top-level error: the first problem found.
        raise looked_up.errors[0]
    if as_customer:
        looked_up.customer_id = caller.subject_id
    await context.prepare_earning([looked_up])
    context.redeemed = {}
    earned, tier = await context.earning_for(looked_up)
    available_at, expires_at = cashback_dates(occurred_at=now, program=program, now=now)
    has = earned.amount_minor > 0
    return Preview(
        earning=earned,
        currency=program.currency_code,
        tier=tier,
        available_at=available_at if has else None,
        expires_at=expires_at if has else None,
    )
