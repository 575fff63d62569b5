"""What the ledger hands out (balances, entries, totals) and the names and limits it keeps
money under, shared by every other module of the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

CREDIT_KINDS = frozenset({"CASHBACK", "BONUS", "REFERRAL", "ADJUSTMENT"})
# The most a wallet may hold (pending + available + reserved) or have earned, in minor
# units: far below a bigint's range, so no total can overflow its column.
MAX_WALLET_TOTAL = 10**15

# Accounts. The customer's hold what the customer has; the program's are the other side.
PENDING, AVAILABLE, RESERVED = "PENDING", "AVAILABLE", "RESERVED"
FUNDING, SPENT, EXPIRED, CLAWBACK = "FUNDING", "SPENT", "EXPIRED", "CLAWBACK"
# What a deleted account still held (pending or available): the program's again.
FORFEITED = "FORFEITED"

# Lot states: PENDING (not matured), AVAILABLE, CLOSED (nothing left), EXPIRED, and
# FORFEITED (its account was deleted: `remaining` is what it held then, on FORFEITED).
LOT_CLOSED, LOT_EXPIRED, LOT_FORFEITED = "CLOSED", "EXPIRED", "FORFEITED"


def utc(value: datetime) -> datetime:
    """Aware UTC: stored text on SQLite then compares in time order."""
    if value.tzinfo is None:
        raise ValueError("the ledger needs timezone-aware datetimes")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Balance:
    currency: str
    available: int
    pending: int
    reserved: int
    lifetime_earned: int
    next_expiry_amount: int | None  # what expires next (available lots), and when
    next_expiry_at: datetime | None


@dataclass(frozen=True)
class Entry:
    """One line of the customer's activity."""

    id: int
    kind: str  # CASHBACK BONUS REFERRAL REDEMPTION REVERSAL EXPIRY ADJUSTMENT
    status: str  # PENDING AVAILABLE RESERVED COMPLETED RELEASED EXPIRED REVERSED (current)
    amount: int  # positive, for credits and debits alike (kind says which)
    currency: str
    occurred_at: datetime
    available_at: datetime | None
    expires_at: datetime | None
    description: str
    merchant_id: int | None
    source_type: str | None  # "purchase", "redemption", "refund", ...
    source_id: int | None
    details: dict[str, Any] | None  # e.g. {"explanation": [{label, percent, base, amount}, ...]}


@dataclass(frozen=True)
class TakeBack:
    from_pending: int
    from_available: int
    clawback: int


@dataclass(frozen=True)
class Forfeited:
    """What a deleted account's wallet in one currency gave up to the program."""

    currency: str
    pending: int
    available: int

    @property
    def total(self) -> int:
        return self.pending + self.available


@dataclass(frozen=True)
class ProgramTotals:
    """Money that moved in a period, and what the program owes now."""

    currency: str
    issued: int
    redeemed: int
    expired: int
    taken_back: int  # from balances and clawed back together
    clawed_back: int  # what refunds could not take back (already spent or expired)
    outstanding: int
