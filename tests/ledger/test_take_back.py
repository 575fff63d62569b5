"""Refunds take cashback back: pending first, then available. Credit is fungible: what the
customer already spent of the refunded credit comes from the customer's other credit.
Only what that cannot cover, and what expired, is recorded on the clawback account.
Balances never go below zero."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app import ledger
from app.core import clock
from app.core.errors import InvalidAmount
from app.ledger import TakeBack
from tests.ledger.factories import balance, give_credit, reserve, totals

CUSTOMER = 202
PURCHASE = 9001


async def take(amount: int, key: str, source_id: int = PURCHASE) -> TakeBack:
    return await ledger.take_back(
        customer_id=CUSTOMER,
        currency="USD",
        source_type="purchase",
        source_id=source_id,
        amount=amount,
        description="Refund",
        idempotency_key=key,
    )


async def clawed_back() -> int:
    """What the program's clawback account recorded."""
    moved = await ledger.program_totals(
        currency="USD", start=clock.now() - timedelta(days=1), end=clock.now() + timedelta(1)
    )
    return moved.clawed_back


async def test_pending_cashback_is_taken_back_first(db) -> None:
    # The purchase earned 1000: 600 already matured, 400 (a bonus) still pending.
    await give_credit(CUSTOMER, 600, source_id=PURCHASE)
    await give_credit(CUSTOMER, 400, source_id=PURCHASE, kind="BONUS", pending=timedelta(days=30))

    result = await take(500, "refund:1")

    assert result == TakeBack(from_pending=400, from_available=100, clawback=0)
    assert await clawed_back() == 0
    b = await balance(CUSTOMER)
    assert (b.available, b.pending, b.lifetime_earned) == (500, 0, 500)


async def test_what_was_spent_is_clawed_back_and_the_balance_stays_at_zero(db) -> None:
    await give_credit(CUSTOMER, 1000, source_id=PURCHASE)
    await reserve(CUSTOMER, 800, "redeem:1")
    assert await ledger.capture_reservation(reservation_key="redeem:1")

    result = await take(1000, "refund:all")

    assert result == TakeBack(from_pending=0, from_available=200, clawback=800)
    assert await clawed_back() == 800
    b = await balance(CUSTOMER)
    assert (b.available, b.pending, b.reserved, b.lifetime_earned) == (0, 0, 0, 0)
    page = await ledger.list_entries(customer_id=CUSTOMER, first=10, after=None)
    reversal = page.items[0]
    assert (reversal.kind, reversal.status, reversal.amount) == ("REVERSAL", "COMPLETED", 200)
    assert reversal.details == {"from_pending": 0, "from_available": 200, "clawback": 800}
    credit = next(e for e in page.items if e.kind == "CASHBACK")
    assert credit.status == "REVERSED"


async def test_expired_cashback_is_clawed_back_too(db) -> None:
    await give_credit(CUSTOMER, 300, source_id=PURCHASE, validity=timedelta(days=10))
    clock.advance(timedelta(days=11))
    assert await take(300, "refund:late") == TakeBack(0, 0, 300)
    assert await clawed_back() == 300
    assert await totals(CUSTOMER) == (0, 0, 0)


async def test_money_held_by_a_reservation_is_not_taken_from_it(db) -> None:
    await give_credit(CUSTOMER, 1000, source_id=PURCHASE)
    await reserve(CUSTOMER, 700, "redeem:held")

    result = await take(1000, "refund:held")

    assert result == TakeBack(from_pending=0, from_available=300, clawback=700)
    assert await totals(CUSTOMER) == (0, 0, 700)
    assert await ledger.capture_reservation(reservation_key="redeem:held")
    assert await totals(CUSTOMER) == (0, 0, 0)


async def test_only_the_source_s_lots_are_touched(db) -> None:
    await give_credit(CUSTOMER, 100, source_id=PURCHASE)
    await give_credit(CUSTOMER, 5000, source_id=PURCHASE + 1)
    assert await take(100, "refund:mine") == TakeBack(0, 100, 0)
    assert (await balance(CUSTOMER)).available == 5000


async def test_a_take_back_never_exceeds_what_was_credited(db) -> None:
    await give_credit(CUSTOMER, 400, source_id=PURCHASE)
    assert await take(300, "refund:a") == TakeBack(0, 300, 0)
    assert await take(300, "refund:b") == TakeBack(0, 100, 0)
    assert await take(300, "refund:c") == TakeBack(0, 0, 0)
    b = await balance(CUSTOMER)
    assert (b.available, b.lifetime_earned) == (0, 0)


async def test_the_same_key_takes_back_once(db) -> None:
    await give_credit(CUSTOMER, 1000, source_id=PURCHASE)
    first = await take(250, "refund:same")
    again = await take(250, "refund:same")
    assert first == again == TakeBack(0, 250, 0)
    assert (await balance(CUSTOMER)).available == 750


async def test_nothing_credited_means_nothing_to_take(db) -> None:
    assert await take(100, "refund:none") == TakeBack(0, 0, 0)
    assert await take(0, "refund:zero") == TakeBack(0, 0, 0)
    with pytest.raises(InvalidAmount):
        await take(-5, "refund:negative")
    assert (await ledger.list_entries(customer_id=CUSTOMER, first=10, after=None)).items == []


async def test_spent_credit_is_taken_back_from_the_customer_s_other_credit(db) -> None:
    # SEMANTICS.md's example: 5.00 earned on A and 2.00 on B, 3.00 spent, 4.00 left; a
    # refund of half of A takes back 2.50 and leaves 1.50.
    await give_credit(CUSTOMER, 500, source_id=PURCHASE)
    await give_credit(CUSTOMER, 200, source_id=PURCHASE + 1)
    await reserve(CUSTOMER, 300, "redeem:a")
    assert await ledger.capture_reservation(reservation_key="redeem:a")
    assert await totals(CUSTOMER) == (400, 0, 0)

    assert await take(250, "refund:half-a") == TakeBack(0, 250, 0)

    b = await balance(CUSTOMER)
    assert (b.available, b.lifetime_earned) == (150, 450)
    assert await clawed_back() == 0


async def test_credit_that_covered_a_refund_can_still_be_taken_back_in_full(db) -> None:
    await give_credit(CUSTOMER, 500, source_id=PURCHASE)
    await give_credit(CUSTOMER, 200, source_id=PURCHASE + 1)
    await reserve(CUSTOMER, 300, "redeem:a")
    assert await ledger.capture_reservation(reservation_key="redeem:a")
    assert await take(250, "refund:half-a") == TakeBack(0, 250, 0)

    # The rest of A: 150 is all the customer still has, the other 100 is unrecovered.
    assert await take(250, "refund:rest-a") == TakeBack(0, 150, 100)
    # B's own credit was used up covering A: all of it is recorded as unrecovered.
    assert await take(200, "refund:all-b", source_id=PURCHASE + 1) == TakeBack(0, 0, 200)

    b = await balance(CUSTOMER)
    assert (b.available, b.pending, b.lifetime_earned) == (0, 0, 0)
    assert await clawed_back() == 300
    # What was spent stays spent: 3.00 redeemed of the 7.00 credited, 4.00 taken back.
    moved = await ledger.program_totals(
        currency="USD", start=clock.now() - timedelta(days=1), end=clock.now() + timedelta(1)
    )
    assert (moved.issued, moved.redeemed) == (700, 300)


async def test_other_pending_credit_covers_before_other_available_credit(db) -> None:
    await give_credit(CUSTOMER, 500, source_id=PURCHASE)
    await reserve(CUSTOMER, 500, "redeem:all")
    assert await ledger.capture_reservation(reservation_key="redeem:all")
    await give_credit(CUSTOMER, 300, source_id=PURCHASE + 1, pending=timedelta(days=30))
    await give_credit(CUSTOMER, 300, source_id=PURCHASE + 2)

    assert await take(400, "refund:a") == TakeBack(from_pending=300, from_available=100, clawback=0)

    assert await totals(CUSTOMER) == (200, 0, 0)
    clock.advance(timedelta(days=31))  # nothing of the covering lot matures any more
    assert await totals(CUSTOMER) == (200, 0, 0)


async def test_other_credit_held_by_a_reservation_is_not_taken(db) -> None:
    await give_credit(CUSTOMER, 500, source_id=PURCHASE)
    await reserve(CUSTOMER, 500, "redeem:all")
    assert await ledger.capture_reservation(reservation_key="redeem:all")
    await give_credit(CUSTOMER, 400, source_id=PURCHASE + 1)
    await reserve(CUSTOMER, 300, "redeem:held")

    assert await take(500, "refund:a") == TakeBack(0, 100, 400)

    assert await totals(CUSTOMER) == (0, 0, 300)
    assert await ledger.capture_reservation(reservation_key="redeem:held")
    assert await totals(CUSTOMER) == (0, 0, 0)


async def test_expired_credit_is_not_recovered_from_other_credit(db) -> None:
    # The customer never had the use of credit that expired: nothing to recover.
    await give_credit(CUSTOMER, 300, source_id=PURCHASE, validity=timedelta(days=10))
    clock.advance(timedelta(days=11))
    await give_credit(CUSTOMER, 1000, source_id=PURCHASE + 1)

    assert await take(300, "refund:expired") == TakeBack(0, 0, 300)

    assert await totals(CUSTOMER) == (1000, 0, 0)
