"""A credit is pending, then available, then expires: by the clock alone, no job."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app import ledger
from app.core import clock
from app.core.errors import InvalidAmount, InvalidInput
from tests.ledger.factories import balance, give_credit, totals
from tests.ledger.invariants import assert_ledger_consistent

CUSTOMER = 101


async def test_a_customer_without_a_wallet_has_a_zero_balance(db) -> None:
    b = await balance(CUSTOMER)
    assert (b.available, b.pending, b.reserved, b.lifetime_earned) == (0, 0, 0, 0)
    assert b.next_expiry_amount is None and b.next_expiry_at is None


async def test_a_credit_matures_then_expires_as_the_clock_moves(db) -> None:
    await give_credit(CUSTOMER, 1250, pending=timedelta(days=30), validity=timedelta(days=365))

    b = await balance(CUSTOMER)
    assert (b.available, b.pending, b.reserved, b.lifetime_earned) == (0, 1250, 0, 1250)
    assert b.next_expiry_at is None  # nothing available, so nothing expires yet
    await assert_ledger_consistent()

    clock.advance(timedelta(days=29, hours=23))
    assert await totals(CUSTOMER) == (0, 1250, 0)

    clock.advance(timedelta(hours=1))
    b = await balance(CUSTOMER)
    assert (b.available, b.pending, b.lifetime_earned) == (1250, 0, 1250)
    assert b.next_expiry_amount == 1250
    assert b.next_expiry_at is not None
    assert abs(b.next_expiry_at - (clock.now() + timedelta(days=365))) < timedelta(seconds=5)
    await assert_ledger_consistent()

    clock.advance(timedelta(days=365))
    b = await balance(CUSTOMER)
    assert (b.available, b.pending, b.reserved) == (0, 0, 0)
    assert b.lifetime_earned == 1250  # expiry does not undo what was earned
    assert b.next_expiry_amount is None
    await assert_ledger_consistent()

    page = await ledger.list_entries(customer_id=CUSTOMER, first=10, after=None)
    kinds = [(e.kind, e.status, e.amount) for e in page.items]
    assert kinds == [("EXPIRY", "EXPIRED", 1250), ("CASHBACK", "EXPIRED", 1250)]


async def test_a_credit_with_no_pending_period_is_available_at_once(db) -> None:
    await give_credit(CUSTOMER, 500)
    b = await balance(CUSTOMER)
    assert (b.available, b.pending, b.next_expiry_amount) == (500, 0, 500)


async def test_next_expiry_is_the_soonest_available_lot(db) -> None:
    await give_credit(CUSTOMER, 300, validity=timedelta(days=100))
    await give_credit(CUSTOMER, 200, validity=timedelta(days=50))
    await give_credit(CUSTOMER, 900, pending=timedelta(days=1), validity=timedelta(days=10))

    b = await balance(CUSTOMER)
    assert b.next_expiry_amount == 200
    assert b.next_expiry_at is not None
    assert abs(b.next_expiry_at - (clock.now() + timedelta(days=50))) < timedelta(seconds=5)

    clock.advance(timedelta(days=2))  # the 900 matured and expires in 9 days: now it is next
    b = await balance(CUSTOMER)
    assert (b.available, b.next_expiry_amount) == (1400, 900)

    clock.advance(timedelta(days=10))
    b = await balance(CUSTOMER)
    assert (b.available, b.next_expiry_amount) == (500, 200)


async def test_the_same_idempotency_key_credits_once(db) -> None:
    first = await give_credit(CUSTOMER, 700, key="purchase:1")
    again = await give_credit(CUSTOMER, 700, key="purchase:1")
    assert again == first
    assert (await balance(CUSTOMER)).available == 700
    page = await ledger.list_entries(customer_id=CUSTOMER, first=10, after=None)
    assert len(page.items) == 1


async def test_a_zero_credit_does_nothing_and_a_negative_one_is_refused(db) -> None:
    assert await give_credit(CUSTOMER, 0) == 0
    with pytest.raises(InvalidAmount):
        await give_credit(CUSTOMER, -1)
    with pytest.raises(InvalidInput):
        await give_credit(CUSTOMER, 100, kind="REDEMPTION")
    assert await totals(CUSTOMER) == (0, 0, 0)
    assert (await ledger.list_entries(customer_id=CUSTOMER, first=10, after=None)).items == []


async def test_wallets_are_per_currency(db) -> None:
    await give_credit(CUSTOMER, 100, currency="USD")
    await give_credit(CUSTOMER, 7, currency="EUR")
    assert (await balance(CUSTOMER, "USD")).available == 100
    assert (await balance(CUSTOMER, "EUR")).available == 7
