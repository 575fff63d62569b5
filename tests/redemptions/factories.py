"""Merchants, stores, credits and partner tokens for redemption stories."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from app import ledger
from app.core import clock
from app.core.ids import encode_id
from app.program.service import update_program
from tests.catalog.factories import make_merchant, make_store

__all__ = ["balance", "gid", "give_credits", "make_merchant", "make_store", "set_program", "usd"]

_numbers = itertools.count(1)


async def give_credits(
    customer: Any,
    minor: int,
    *,
    expires_in: timedelta = timedelta(days=365),
    currency: str = "USD",
) -> int:
    """An available lot of `minor` units for the customer (as matured cashback)."""
    n = next(_numbers)
    now = clock.now()
    return await ledger.credit(
        customer_id=customer.id,
        currency=currency,
        amount=minor,
        kind="ADJUSTMENT",
        occurred_at=now - timedelta(days=40),
        available_at=now - timedelta(seconds=1),
        expires_at=now + expires_in,
        source_type="test",
        source_id=n,
        merchant_id=None,
        description="Credits for a test",
        idempotency_key=f"test-credit-{n}",
    )


async def balance(customer: Any, currency: str = "USD") -> tuple[int, int]:
    """(available, reserved) in minor units."""
    found = await ledger.get_balance(customer_id=customer.id, currency=currency)
    return found.available, found.reserved


async def set_program(**changes: Any) -> None:
    await update_program(**changes)


def gid(type_name: str, row: Any) -> str:
    return encode_id(type_name, row.id)


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "USD"}
