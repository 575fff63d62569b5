"""The live balance as subscribers see it: `balanceChanged`'s event."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from app.graphql.scalars import Money
from app.notifications.live import BalanceChange as BalanceChangeValue


@strawberry.enum(description="What moved the balance.")
class BalanceChangeCause(Enum):
    CREDITED = strawberry.enum_value(
        "CREDITED", description="Cashback or a bonus was recorded (pending or available)."
    )
    CREDITS_AVAILABLE = strawberry.enum_value(
        "CREDITS_AVAILABLE", description="Pending credits matured and can be spent."
    )
    CREDITS_EXPIRED = strawberry.enum_value(
        "CREDITS_EXPIRED", description="Credits reached their expiry unspent."
    )
    REDEMPTION_RESERVED = strawberry.enum_value(
        "REDEMPTION_RESERVED", description="A redemption holds credits."
    )
    REDEMPTION_CAPTURED = strawberry.enum_value(
        "REDEMPTION_CAPTURED", description="A redemption spent the credits it held."
    )
    REDEMPTION_RELEASED = strawberry.enum_value(
        "REDEMPTION_RELEASED", description="A redemption was cancelled or lapsed."
    )
    CASHBACK_REVERSED = strawberry.enum_value(
        "CASHBACK_REVERSED", description="A refund took cashback back."
    )
    FORFEITED = strawberry.enum_value(
        "FORFEITED", description="The account was closed and its credits returned."
    )


# The ledger's transfer kinds, as the customer understands them.
_CAUSES = {
    "CREDIT": BalanceChangeCause.CREDITED,
    "MATURE": BalanceChangeCause.CREDITS_AVAILABLE,
    "EXPIRE": BalanceChangeCause.CREDITS_EXPIRED,
    "RESERVE": BalanceChangeCause.REDEMPTION_RESERVED,
    "CAPTURE": BalanceChangeCause.REDEMPTION_CAPTURED,
    "RELEASE": BalanceChangeCause.REDEMPTION_RELEASED,
    "TAKE_BACK": BalanceChangeCause.CASHBACK_REVERSED,
    "FORFEIT": BalanceChangeCause.FORFEITED,
}


@strawberry.type(description="The customer's balance just after it moved.")
class BalanceChange:
    available: Money
    pending: Money
    reserved: Money
    cause: BalanceChangeCause | None = strawberry.field(
        description="The latest movement among those this event reports (several close "
        "together are reported once); null when the server found the change without "
        "hearing its cause (after losing its connection to the database)."
    )
    changed_at: datetime = strawberry.field(description="When the server saw the change.")

    @classmethod
    def of(cls, change: BalanceChangeValue) -> BalanceChange:
        currency = change.currency
        return cls(
            available=Money.from_minor(change.available, currency),
            pending=Money.from_minor(change.pending, currency),
            reserved=Money.from_minor(change.reserved, currency),
            cause=_CAUSES.get(change.cause) if change.cause else None,
            changed_at=change.at,
        )
