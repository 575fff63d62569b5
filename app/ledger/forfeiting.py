"""A deleted account's credit goes back to the program: what its lots still hold, pending
or available, moves to the program's FORFEITED account in one FORFEIT transfer per wallet.
Open reservations must have been released first (the redemptions feature owns them)."""

from __future__ import annotations

from datetime import datetime

from tortoise.transactions import in_transaction

from app import db
from app.core import clock
from app.ledger import wallets
from app.ledger.postings import set_status, transfer
from app.ledger.settling import settle
from app.ledger.values import AVAILABLE, FORFEITED, LOT_FORFEITED, PENDING, Forfeited

FORFEIT = "FORFEIT"


class ReservationsStillOpen(RuntimeError):
    """Forfeiting found money held by open reservations: they are released first."""


async def forfeit_all(*, customer_id: int) -> list[Forfeited]:
    """Move everything the customer's wallets hold (pending and available) to FORFEITED;
    their lots and credit entries become FORFEITED. What each wallet gave up; a second
    call finds nothing left and moves nothing (zeros). Joins a caller's transaction."""

    async def work() -> list[Forfeited]:
        now = clock.now()
        async with in_transaction():
            found = await db.rows(
                "SELECT currency FROM ledger_wallets WHERE customer_id = ? ORDER BY currency",
                customer_id,
            )
            return [await _forfeit(customer_id, row["currency"], now) for row in found]

    return await db.retrying(work)


async def _forfeit(customer_id: int, currency: str, now: datetime) -> Forfeited:
    wallet = await settle(customer_id, currency, now)  # locks it; due changes first
    assert wallet is not None
    if int(wallet["reserved"]):
        raise ReservationsStillOpen(f"customer {customer_id} still has money reserved")
    # Lots change only under the wallet's lock, held now: the UPDATE meets these rows.
    lots = await db.rows(
        "SELECT id, entry_id, state, remaining FROM ledger_lots"
        " WHERE customer_id = ? AND currency = ? AND state IN (?, ?)",
        customer_id,
        currency,
        PENDING,
        AVAILABLE,
    )
    if not lots:
        return Forfeited(currency, 0, 0)
    await db.execute(
        "UPDATE ledger_lots SET state = ?"
        " WHERE customer_id = ? AND currency = ? AND state IN (?, ?)",
        LOT_FORFEITED,
        customer_id,
        currency,
        PENDING,
        AVAILABLE,
    )
    pending = sum(int(lot["remaining"]) for lot in lots if lot["state"] == PENDING)
    available = sum(int(lot["remaining"]) for lot in lots if lot["state"] == AVAILABLE)
    if (pending, available) != (int(wallet["pending"]), int(wallet["available"])):
        raise AssertionError(f"wallet ({customer_id}, {currency}) disagrees with its lots")
    await set_status(sorted({int(lot["entry_id"]) for lot in lots}), LOT_FORFEITED, now, was=None)
    await transfer(
        customer_id=customer_id,
        currency=currency,
        kind=FORFEIT,
        entry_id=None,
        postings=[(PENDING, -pending), (AVAILABLE, -available), (FORFEITED, pending + available)],
        now=now,
        details={"lots": sorted(int(lot["id"]) for lot in lots), "reason": "ACCOUNT_DELETED"},
    )
    await wallets.refresh(
        wallet["id"], customer_id, currency, now, available=-available, pending=-pending
    )
    return Forfeited(currency, pending, available)
