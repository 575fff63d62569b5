"""What every compiled executor shares: the schema's serialisation of scalars, the
selections more than one document makes, the signed-in customer they answer for, and
the run that either answers or falls back.

Scalars as the schema serialises them:

- strings, booleans and ids as graphql-core serialises them (a value of another kind
  falls back rather than being guessed at);
- `Decimal` (percents, multipliers, Money amounts) as `str(value)`, the `Decimal` scalar's
  serialisation; `DateTime` as `datetime.isoformat`, the `DateTime` scalar's;
- enums by name; null where the value is null (a null non-null field falls back).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any

from strawberry.types import ExecutionResult

from app import ledger
from app.core.money import Money as MoneyValue
from app.core.reads import shared_reads
from app.graphql.context import Context
from app.graphql.metrics import COMPILED, record_operation
from app.graphql.scalars import Money

log = logging.getLogger(__name__)


class Fallback(Exception):
    """This request is not the plain success case: standard execution answers it."""


class Retry(Exception):
    """Fall back after the customer's services ran: standard execution gets a fresh
    context (the attempt's loaders and shared reads are not its own)."""


# --- scalars, as the schema serialises them -----------------------------------------------


def string(value: object) -> str:
    """A non-null String or ID (graphql-core's `serialize_string` / `serialize_id` for the
    kinds of value our rows hold)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise Fallback(f"a string field holds {type(value).__name__}")


def optional_string(value: object) -> str | None:
    return None if value is None else string(value)


def boolean(value: object) -> bool:
    """A non-null Boolean (graphql-core's `serialize_boolean`: an integer is its truth)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    raise Fallback(f"a boolean field holds {type(value).__name__}")


def decimal(value: object) -> str:
    """The `Decimal` scalar (app/graphql/scalars.py `decimal_scalar`: `str`)."""
    if value is None:
        raise Fallback("a non-null decimal is null")
    return str(value)


def date_time(value: object) -> str:
    """The `DateTime` scalar (app/graphql/scalars.py `datetime_scalar`: `isoformat`)."""
    if not isinstance(value, datetime):
        raise Fallback("a non-null time is not a datetime")
    return value.isoformat()


def enum(value: object) -> str:
    if not isinstance(value, Enum):
        raise Fallback("an enum field holds no enum member")
    return value.name


def money(value: Money | None) -> dict[str, Any] | None:
    """Money { amount currencyCode }"""
    if value is None:
        return None
    return {"amount": decimal(value.amount), "currencyCode": string(value.currency_code)}


def required(value: dict[str, Any] | None) -> dict[str, Any]:
    if value is None:
        raise Fallback("a non-null object is null")
    return value


# --- selections more than one document makes ----------------------------------------------


def render_balance(wallet: ledger.Balance) -> dict[str, Any]:
    """viewer.balance { available pending reserved lifetimeEarned { amount currencyCode }
    nextExpiry { amount { amount currencyCode } expiresAt } }, as `ViewerFields.balance`
    answers it (app/ledger/types.py `Balance.of`), straight from the ledger's values."""
    currency = string(wallet.currency)

    def amount(minor: int) -> dict[str, Any]:
        return {"amount": decimal(MoneyValue.from_minor(minor, currency).amount),
                "currencyCode": currency}  # fmt: skip

    expires_at, expiring = wallet.next_expiry_at, wallet.next_expiry_amount
    return {
        "available": amount(wallet.available),
        "pending": amount(wallet.pending),
        "reserved": amount(wallet.reserved),
        "lifetimeEarned": amount(wallet.lifetime_earned),
        "nextExpiry": (
            None
            if expires_at is None or not expiring
            else {"amount": amount(expiring), "expiresAt": date_time(expires_at)}
        ),
    }


# --- the run ------------------------------------------------------------------------------


async def for_customer(
    context: Context,
    answer: Callable[[Any], Awaitable[dict[str, Any]]],
    reads: frozenset[str] | None = None,
) -> dict[str, Any]:
    """`answer(user)` for the signed-in customer, with the reads of a query shared (as
    standard execution shares them) and those named in `reads` (all when None) riding with
    the session check; Fallback for any other caller. Services that raise Fallback after
    the caller was established raise Retry."""
    if not context.sends_credentials:
        raise Fallback("no token")  # UNAUTHENTICATED, from standard execution
    context.caller_reads = reads
    with shared_reads():
        if await context.establish_caller() is not None:
            raise Fallback("the token is refused")
        principal = context.established_principal
        user = context.caller_account
        if principal is None or not principal.is_customer or user is None:
            raise Fallback("the caller is not a customer with an account")
        try:
            return await answer(user)
        except Fallback as reason:
            raise Retry(str(reason)) from reason


@cache
def _counted(name: str, result: str) -> Any:
    return COMPILED.labels(name, result)


async def run(
    name: str, context: Context, answer: Callable[[], Awaitable[dict[str, Any]]]
) -> tuple[ExecutionResult | None, Context]:
    """The executor's answer (`{"data": answer()}`), or None with the context standard
    execution is to use: the same one when `answer` raised Fallback, a fresh one when a
    service raised (standard execution runs it again and reports the failure its way)."""
    started = time.perf_counter()
    try:
        data = await answer()
    except Fallback as reason:
        log.debug("%s runs uncompiled: %s", name, reason)
        _counted(name, "fell_back").inc()
        return None, context
    except Exception:
        log.debug("%s runs uncompiled: a service raised", name, exc_info=True)
        _counted(name, "fell_back").inc()
        return None, context.for_operation()
    _counted(name, "answered").inc()
    record_operation(name, "ok", time.perf_counter() - started)
    return ExecutionResult(data=data, errors=None), context
