"""The service messages, one function per cause, for the features where money moves. Each
runs inside the caller's transaction: the message commits with the movement it announces,
and the cause key makes a retried or concurrent cause write it once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app import ledger
from app.core.ids import encode_id
from app.core.money import Money
from app.notifications.kinds import NotificationKind
from app.notifications.service import Message, Recipient, notify, notify_many, recipients

__all__ = [
    "Recipient",
    "cashback_recorded",
    "cashback_taken_back",
    "credits_matured",
    "recipients",
    "redemption_captured",
    "tier_reached",
]


def _money(amount_minor: int, currency: str) -> str:
    return str(Money.from_minor(amount_minor, currency))


async def cashback_recorded(
    *,
    customer_id: int,
    purchase_id: int,
    amount_minor: int,
    currency: str,
    merchant_name: str,
    available_at: datetime,
    now: datetime | None = None,
    recipient: Recipient | None = None,
) -> bool:
    """A purchase earned cashback: how much, and when it becomes available. `recipient`:
    the customer as `recipients` read them for a batch (else read here)."""
    return await notify(
        customer_id=customer_id,
        kind=NotificationKind.CASHBACK_RECORDED,
        cause=f"purchase:{purchase_id}",
        params={
            "amount": _money(amount_minor, currency),
            "merchant": merchant_name,
            "available_on": available_at.date().isoformat(),
        },
        target=f"app://purchases/{encode_id('Purchase', purchase_id)}",
        now=now,
        recipient=recipient,
    )


async def tier_reached(
    *,
    customer_id: int,
    purchase_id: int,
    tier_code: str,
    tier_name: str,
    now: datetime | None = None,
    recipient: Recipient | None = None,
) -> bool:
    """A purchase took the customer to a higher tier."""
    return await notify(
        customer_id=customer_id,
        kind=NotificationKind.TIER_REACHED,
        cause=f"tier:{tier_code}:purchase:{purchase_id}",
        params={"tier": tier_name},
        target="app://tier",
        now=now,
        recipient=recipient,
    )


async def cashback_taken_back(
    *,
    customer_id: int,
    refund_id: int,
    amount_minor: int,
    currency: str,
    merchant_name: str,
    now: datetime | None = None,
) -> bool:
    """A refund took back cashback (pending, available or spent)."""
    return await notify(
        customer_id=customer_id,
        kind=NotificationKind.CASHBACK_TAKEN_BACK,
        cause=f"refund:{refund_id}",
        params={"amount": _money(amount_minor, currency), "merchant": merchant_name},
        target="app://activity",
        now=now,
    )


async def redemption_captured(
    *,
    customer_id: int,
    redemption_id: int,
    amount_minor: int,
    currency: str,
    merchant_name: str,
    now: datetime | None = None,
) -> bool:
    """Credits a customer reserved paid an order."""
    return await notify(
        customer_id=customer_id,
        kind=NotificationKind.REDEMPTION_CAPTURED,
        cause=f"redemption:{redemption_id}",
        params={"amount": _money(amount_minor, currency), "merchant": merchant_name},
        target=f"app://redemptions/{encode_id('Redemption', redemption_id)}",
        now=now,
    )


async def credits_matured(events: Sequence[ledger.Matured]) -> None:
    """Pending credits became available (the ledger calls this where wallets settle, one
    wallet or a worker's whole batch): one message per wallet, written for the batch at
    once. The first lot names the cause: a lot matures once."""
    await notify_many(
        [
            Message(
                customer_id=event.customer_id,
                kind=NotificationKind.CREDITS_AVAILABLE,
                cause=f"matured:{event.currency}:{event.lot_ids[0]}",
                params={"amount": _money(event.amount, event.currency)},
                target="app://activity",
            )
            for event in events
        ],
        now=events[0].at if events else None,
    )
