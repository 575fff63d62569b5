"""Money in a wallet, made through the ledger's own service."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from app import ledger
from app.core import clock

_sources = itertools.count(1)

CURRENCY = "USD"


async def give_credit(
    customer_id: int,
    amount: int,
    *,
    pending: timedelta = timedelta(0),
    validity: timedelta = timedelta(days=365),
    occurred_at: datetime | None = None,
    source_type: str = "purchase",
    source_id: int | None = None,
    kind: str = "CASHBACK",
    merchant_id: int | None = None,
    key: str | None = None,
    currency: str = CURRENCY,
) -> int:
    """A credit of `amount` minor units, available after `pending`, valid for `validity`
    after that. The entry id."""
    occurred_at = occurred_at or clock.now()
    source_id = source_id if source_id is not None else next(_sources)
    available_at = occurred_at + pending
    return await ledger.credit(
        customer_id=customer_id,
        currency=currency,
        amount=amount,
        kind=kind,
        occurred_at=occurred_at,
        available_at=available_at,
        expires_at=available_at + validity,
        source_type=source_type,
        source_id=source_id,
        merchant_id=merchant_id,
        description=f"Cashback on {source_type} {source_id}",
        details={"explanation": [{"label": "Base", "amount": amount}]},
        idempotency_key=key or f"test-credit:{source_type}:{source_id}:{kind}",
    )


async def reserve(
    customer_id: int,
    amount: int,
    key: str,
    *,
    lasts: timedelta = timedelta(minutes=10),
    merchant_id: int | None = None,
    currency: str = CURRENCY,
) -> None:
    await ledger.reserve(
        customer_id=customer_id,
        currency=currency,
        amount=amount,
        reservation_key=key,
        expires_at=clock.now() + lasts,
        merchant_id=merchant_id,
        description="Redemption",
    )


async def balance(customer_id: int, currency: str = CURRENCY) -> ledger.Balance:
    return await ledger.get_balance(customer_id=customer_id, currency=currency)


async def totals(customer_id: int, currency: str = CURRENCY) -> tuple[int, int, int]:
    """(available, pending, reserved)."""
    b = await balance(customer_id, currency)
    return b.available, b.pending, b.reserved
