"""The cashback preview: exactly what recording a cart now would credit, computed the way
recording computes it, recording nothing (like any read of a tier, it may store the
customer's spend of the tier window when it had to compute it again)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.accounts.tokens import Principal
from app.cashback.earning import Earning
from app.cashback.purchases import (
    Checked,
    CustomerRef,
    EarningContext,
    ItemInput,
    PurchaseInput,
    PurchaseLine,
    cashback_dates,
    check_input,
    look_up,
)
from app.cashback.tiers import TierInfo
from app.catalog import service as catalog
from app.core import clock
from app.core.errors import DomainErrors, InputErrors
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
    await context.prepare_earning([looked_up], recording=False)
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


@dataclass(frozen=True, slots=True)
class ProductQuote:
    """A catalogue product to estimate, known to the caller by `key`."""

    key: int
    merchant_id: int
    sku: str
    category: str
    price_minor: int


async def estimate_cashback(
    *, customer_id: int, products: Sequence[ProductQuote]
) -> dict[int, Earning]:
    """What buying each product alone, once, now, would credit the customer (tier, rules and
    the offers they may use included), computed the way recording computes it, writing
    nothing. Each is bought at its merchant's online shop, or at its first store when it
    sells only in store; a merchant without a store gets no estimate. The same number of
    queries however many products."""
    program = await get_program()
    now = clock.now()
    stores = await catalog.estimate_stores(p.merchant_id for p in products)
    rows: list[tuple[int, Checked]] = []
    for quote in products:
        store = stores.get(quote.merchant_id)
        if store is None:
            continue
        line = PurchaseLine(quote.sku, None, quote.category, 1, quote.price_minor)
        row = Checked(
            store_id=store.id,
            external_id="estimate",
            customer=None,
            total_minor=quote.price_minor,
            credits_used_minor=0,
            occurred_at=now,
            items=[line],
            path=[],
            problems=InputErrors(),
            customer_id=customer_id,
            store=store,
        )
        rows.append((quote.key, row))
    context = EarningContext(program=program, now=now)
    await context.prepare_earning([row for _, row in rows], recording=False)
    return {key: (await context.earning_for(row))[0] for key, row in rows}
