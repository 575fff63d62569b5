"""settle_due_wallets (the worker's bulk settle) leaves every wallet exactly as settling
it on a read would: maturing alone, or with expiring credits and lapsing reservations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app import ledger
from app.core import clock
from app.ledger.models import Transfer
from tests.factories import make_customer
from tests.ledger.factories import give_credit, reserve
from tests.ledger.invariants import assert_ledger_consistent
from tests.ledger.rows import stored_wallet

DAY = timedelta(days=1)


async def _everything_due(customer_id: int) -> tuple[str, ...]:
    """10 days on: credits mature, expire, both; a reservation lapses; a euro credit
    matures. Its currencies."""
    await give_credit(customer_id, 500, pending=5 * DAY, key=f"{customer_id}:matures")
    await give_credit(customer_id, 300, pending=DAY, validity=4 * DAY, key=f"{customer_id}:e")
    await give_credit(customer_id, 200, pending=2 * DAY, validity=DAY, key=f"{customer_id}:b")
    await give_credit(customer_id, 50, pending=30 * DAY, key=f"{customer_id}:later")
    await give_credit(customer_id, 120, key=f"{customer_id}:now")
    await reserve(customer_id, 100, f"lapses-{customer_id}", lasts=2 * DAY)
    await give_credit(customer_id, 70, pending=3 * DAY, key=f"{customer_id}:eur", currency="EUR")
    return ("USD", "EUR")


async def _only_maturing(customer_id: int) -> tuple[str, ...]:
    """10 days on: only credits mature; what comes next (a credit maturing later, one
    expiring, a reservation lapsing) must be scheduled as a read would."""
    await give_credit(customer_id, 400, pending=DAY, key=f"{customer_id}:matures")
    await give_credit(customer_id, 150, pending=3 * DAY, key=f"{customer_id}:too")
    await give_credit(customer_id, 50, pending=30 * DAY, key=f"{customer_id}:later")
    await give_credit(customer_id, 120, validity=40 * DAY, key=f"{customer_id}:now")
    await give_credit(customer_id, 80, validity=40 * DAY, key=f"{customer_id}:same-expiry")
    await reserve(customer_id, 100, f"holds-{customer_id}", lasts=20 * DAY)
    return ("USD",)


def _same(bulk: Any, read: Any) -> bool:
    """Equal totals and schedule; moments within a second (twins are made some
    milliseconds apart)."""
    totals = ("available", "pending", "reserved", "lifetime_earned", "next_expiry_amount")
    if any(getattr(bulk, name) != getattr(read, name) for name in totals):
        return False
    for name in ("next_change_at", "next_expiry_at"):
        mine, twin = getattr(bulk, name), getattr(read, name)
        if (mine is None) != (twin is None):
            return False
        if mine is not None and abs(mine - twin) >= timedelta(seconds=1):
            return False
    return True


async def _moves(customer_id: int) -> list[tuple[str, str]]:
    transfers = await Transfer.filter(customer_id=customer_id).exclude(kind="CREDIT")
    return sorted((t.currency, t.kind) for t in transfers)


async def test_bulk_settling_matches_settling_on_read(db) -> None:
    # Given pairs of customers with the same history, of each kind
    pairs = []
    for history in (_everything_due, _only_maturing, _only_maturing, _everything_due):
        first, second = (await make_customer()).id, (await make_customer()).id
        currencies = await history(first)
        await history(second)
        pairs.append((first, second, currencies))
    clock.advance(10 * DAY)

    # When the first of each pair settles on a read and the worker settles the rest
    for first, _, currencies in pairs:
        for currency in currencies:
            await ledger.get_balance(customer_id=first, currency=currency)
    settled = await ledger.settle_due_wallets()

    # Then each second wallet is stored as its twin is, after the same movements
    assert settled == 6  # four USD wallets, two EUR ones
    for first, second, currencies in pairs:
        for currency in currencies:
            bulk, read = await stored_wallet(second, currency), await stored_wallet(first, currency)
            assert _same(bulk, read), (currency, vars(bulk), vars(read))
        assert await _moves(second) == await _moves(first)
    assert await ledger.settle_due_wallets() == 0
    await assert_ledger_consistent()
