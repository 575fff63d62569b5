"""Reserving, capturing, releasing and lapsing: money moves between available, reserved
and spent, spending draws the soonest-expiring lots first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tortoise.transactions import in_transaction

from app import ledger
from app.core import clock
from app.core.errors import ErrorCode, InvalidAmount, InvalidInput
from app.ledger import (
    InsufficientBalance,
    ReservationClosed,
    ReservationExpired,
    UnknownReservation,
    reservations,
)
from app.ledger.models import Lot
from tests.ledger.factories import balance, give_credit, reserve, totals
from tests.ledger.invariants import assert_ledger_consistent

CUSTOMER = 303


async def test_a_reservation_moves_available_to_reserved_and_a_capture_spends_it(db) -> None:
    await give_credit(CUSTOMER, 1000)

    await reserve(CUSTOMER, 400, "r1", merchant_id=7)
    assert await totals(CUSTOMER) == (600, 0, 400)
    assert await ledger.reservation_status(reservation_key="r1") == "RESERVED"
    await assert_ledger_consistent()

    assert await ledger.capture_reservation(reservation_key="r1") is True
    assert await totals(CUSTOMER) == (600, 0, 0)
    assert await ledger.reservation_status(reservation_key="r1") == "CAPTURED"
    assert await ledger.capture_reservation(reservation_key="r1") is False  # already
    assert await totals(CUSTOMER) == (600, 0, 0)

    page = await ledger.list_entries(customer_id=CUSTOMER, first=10, after=None)
    redemption = page.items[0]
    assert (redemption.kind, redemption.status, redemption.amount) == (
        "REDEMPTION",
        "COMPLETED",
        400,
    )
    assert redemption.merchant_id == 7


async def test_an_insufficient_balance_is_refused_and_nothing_moves(db) -> None:
    await give_credit(CUSTOMER, 300)
    await give_credit(CUSTOMER, 5000, pending=timedelta(days=5))  # pending money is not spendable

    with pytest.raises(InsufficientBalance) as refused:
        await reserve(CUSTOMER, 301, "too-much")

    assert refused.value.code == ErrorCode.INSUFFICIENT_BALANCE
    assert await totals(CUSTOMER) == (300, 5000, 0)
    assert await ledger.reservation_status(reservation_key="too-much") is None
    with pytest.raises(InsufficientBalance):
        await reserve(CUSTOMER + 1, 1, "no-wallet")
    await reserve(CUSTOMER, 300, "exactly")
    assert await totals(CUSTOMER) == (0, 5000, 300)


async def test_bad_reservations_are_refused(db) -> None:
    await give_credit(CUSTOMER, 300)
    with pytest.raises(InvalidAmount):
        await reserve(CUSTOMER, 0, "zero")
    with pytest.raises(InvalidInput):
        await reserve(CUSTOMER, 10, "past", lasts=timedelta(seconds=-1))
    assert await totals(CUSTOMER) == (300, 0, 0)


async def test_the_same_reservation_key_reserves_once(db) -> None:
    await give_credit(CUSTOMER, 1000)
    await reserve(CUSTOMER, 100, "same")
    await reserve(CUSTOMER, 100, "same")
    assert await totals(CUSTOMER) == (900, 0, 100)
    with pytest.raises(InvalidInput) as reused:
        await reserve(CUSTOMER, 200, "same")
    assert reused.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert await totals(CUSTOMER) == (900, 0, 100)


async def test_a_release_gives_the_money_back(db) -> None:
    await give_credit(CUSTOMER, 1000)
    await reserve(CUSTOMER, 250, "r")

    assert await ledger.release_reservation(reservation_key="r") is True
    assert await totals(CUSTOMER) == (1000, 0, 0)
    assert await ledger.reservation_status(reservation_key="r") == "RELEASED"
    assert await ledger.release_reservation(reservation_key="r") is False
    with pytest.raises(ReservationClosed) as closed:
        await ledger.capture_reservation(reservation_key="r")
    assert closed.value.code == ErrorCode.REDEMPTION_NOT_OPEN
    assert await totals(CUSTOMER) == (1000, 0, 0)


async def test_a_captured_reservation_cannot_be_released(db) -> None:
    await give_credit(CUSTOMER, 1000)
    await reserve(CUSTOMER, 250, "r")
    await ledger.capture_reservation(reservation_key="r")
    with pytest.raises(ReservationClosed):
        await ledger.release_reservation(reservation_key="r")
    assert await totals(CUSTOMER) == (750, 0, 0)


async def test_unknown_reservations(db) -> None:
    assert await ledger.reservation_status(reservation_key="nope") is None
    with pytest.raises(UnknownReservation):
        await ledger.capture_reservation(reservation_key="nope")
    with pytest.raises(UnknownReservation):
        await ledger.release_reservation(reservation_key="nope")


async def test_a_lapsed_reservation_is_released_on_the_next_read(db) -> None:
    await give_credit(CUSTOMER, 1000)
    await reserve(CUSTOMER, 600, "lapse", lasts=timedelta(minutes=10))

    clock.advance(timedelta(minutes=10, seconds=1))

    assert await totals(CUSTOMER) == (1000, 0, 0)  # a read alone settles it
    assert await ledger.reservation_status(reservation_key="lapse") == "EXPIRED"
    with pytest.raises(ReservationExpired) as lapsed:
        await ledger.capture_reservation(reservation_key="lapse")
    assert lapsed.value.code == ErrorCode.REDEMPTION_EXPIRED
    assert isinstance(lapsed.value, ReservationClosed)
    assert await ledger.release_reservation(reservation_key="lapse") is False
    page = await ledger.list_entries(customer_id=CUSTOMER, first=10, after=None)
    assert (page.items[0].kind, page.items[0].status) == ("REDEMPTION", "EXPIRED")


async def test_a_lapsed_reservation_cannot_be_captured_even_before_any_read(db) -> None:
    await give_credit(CUSTOMER, 1000)
    await reserve(CUSTOMER, 600, "lapse")
    clock.advance(timedelta(minutes=11))
    with pytest.raises(ReservationExpired):
        await ledger.capture_reservation(reservation_key="lapse")
    assert await totals(CUSTOMER) == (1000, 0, 0)


async def test_a_new_reservation_settles_a_lapsed_one_first(db) -> None:
    await give_credit(CUSTOMER, 1000)
    await reserve(CUSTOMER, 1000, "old")
    clock.advance(timedelta(minutes=11))
    await reserve(CUSTOMER, 900, "new")  # only possible once "old" is released
    assert await totals(CUSTOMER) == (100, 0, 900)
    assert await ledger.reservation_status(reservation_key="old") == "EXPIRED"


async def test_an_explicit_expiry_marks_the_reservation_expired(db) -> None:
    await give_credit(CUSTOMER, 1000)
    await reserve(CUSTOMER, 100, "worker")
    assert await ledger.release_reservation(reservation_key="worker", expired=True) is True
    assert await ledger.reservation_status(reservation_key="worker") == "EXPIRED"
    assert await totals(CUSTOMER) == (1000, 0, 0)


async def lots_left() -> list[tuple[int, int, str]]:
    """(amount, remaining, state) of each lot, oldest first."""
    return [
        (lot.amount, lot.remaining, lot.state)
        for lot in await Lot.filter(customer_id=CUSTOMER).order_by("id")
    ]


async def test_spending_draws_the_soonest_expiring_lots_first(db) -> None:
    await give_credit(CUSTOMER, 500, validity=timedelta(days=300))  # expires third
    await give_credit(CUSTOMER, 200, validity=timedelta(days=30))  # expires first
    await give_credit(CUSTOMER, 400, validity=timedelta(days=100))  # expires second

    await reserve(CUSTOMER, 450, "spend")
    assert await lots_left() == [
        (500, 500, "AVAILABLE"),
        (200, 200, "AVAILABLE"),
        (400, 400, "AVAILABLE"),
    ]
    await ledger.capture_reservation(reservation_key="spend")

    assert await lots_left() == [
        (500, 500, "AVAILABLE"),
        (200, 0, "CLOSED"),
        (400, 150, "AVAILABLE"),
    ]
    b = await balance(CUSTOMER)
    assert (b.available, b.next_expiry_amount) == (650, 150)
    await assert_ledger_consistent()

    clock.advance(timedelta(days=101))  # the 150 left of the second lot expires
    assert await totals(CUSTOMER) == (500, 0, 0)


async def test_credits_expiring_while_reserved_are_kept_for_the_reservation(db) -> None:
    await give_credit(CUSTOMER, 300, validity=timedelta(minutes=5))
    await give_credit(CUSTOMER, 700, validity=timedelta(days=30))
    await reserve(CUSTOMER, 1000, "all-of-it", lasts=timedelta(minutes=10))

    clock.advance(timedelta(minutes=6))  # the 300 is past its expiry, but it is reserved
    assert await totals(CUSTOMER) == (0, 0, 1000)
    await assert_ledger_consistent()

    assert await ledger.capture_reservation(reservation_key="all-of-it")
    assert await lots_left() == [(300, 0, "CLOSED"), (700, 0, "CLOSED")]
    assert await totals(CUSTOMER) == (0, 0, 0)


async def test_credits_kept_for_a_reservation_expire_when_it_is_released(db) -> None:
    await give_credit(CUSTOMER, 300, validity=timedelta(minutes=5))
    await give_credit(CUSTOMER, 700, validity=timedelta(days=30))
    await reserve(CUSTOMER, 1000, "all-of-it", lasts=timedelta(minutes=10))
    clock.advance(timedelta(minutes=6))

    assert await ledger.release_reservation(reservation_key="all-of-it")

    assert await totals(CUSTOMER) == (700, 0, 0)
    assert await lots_left() == [(300, 0, "EXPIRED"), (700, 700, "AVAILABLE")]


async def test_credits_kept_for_a_reservation_expire_when_it_lapses(db) -> None:
    await give_credit(CUSTOMER, 300, validity=timedelta(minutes=5))
    await give_credit(CUSTOMER, 700, validity=timedelta(days=30))
    await reserve(CUSTOMER, 1000, "all-of-it", lasts=timedelta(minutes=10))
    clock.advance(timedelta(minutes=6))
    assert await totals(CUSTOMER) == (0, 0, 1000)

    clock.advance(timedelta(minutes=5))
    assert await totals(CUSTOMER) == (700, 0, 0)


@pytest.mark.parametrize("arrives", ["available at once", "maturing"])
async def test_credits_kept_for_a_reservation_expire_once_new_credit_is_available(
    db, arrives: str
) -> None:
    """A lot past its expiry is kept only while reservations hold all the available money:
    new credit frees as much of it to expire, whether that credit matures at this moment
    or is available as soon as it is given (found by tests/ledger/test_model.py: credit
    available at once left the expired lot whole, and the balance dropped later, at the
    wallet's next settling)."""
    await give_credit(CUSTOMER, 300, validity=timedelta(minutes=5))
    if arrives == "maturing":
        await give_credit(CUSTOMER, 100, pending=timedelta(minutes=6))
    await reserve(CUSTOMER, 300, "all-of-it", lasts=timedelta(minutes=10))
    clock.advance(timedelta(minutes=6))  # the 300 is past its expiry, but it is reserved
    if arrives == "available at once":
        assert await totals(CUSTOMER) == (0, 0, 300)  # a read settles the wallet first
        await give_credit(CUSTOMER, 100)

    assert await totals(CUSTOMER) == (0, 0, 300)
    assert await lots_left() == [(300, 200, "AVAILABLE"), (100, 100, "AVAILABLE")]
    await assert_ledger_consistent()

    assert await ledger.capture_reservation(reservation_key="all-of-it")
    assert await lots_left() == [(300, 0, "CLOSED"), (100, 0, "CLOSED")]
    assert await totals(CUSTOMER) == (0, 0, 0)


async def test_a_caller_s_transaction_commits_or_rolls_back_with_the_ledger(db) -> None:
    await give_credit(CUSTOMER, 1000)

    class OrderFailed(Exception):
        pass

    with pytest.raises(OrderFailed):
        async with in_transaction():
            await reserve(CUSTOMER, 400, "in-tx")
            assert await totals(CUSTOMER) == (600, 0, 400)
            raise OrderFailed

    assert await totals(CUSTOMER) == (1000, 0, 0)
    assert await ledger.reservation_status(reservation_key="in-tx") is None

    async with in_transaction():
        await reserve(CUSTOMER, 400, "in-tx")
        with pytest.raises(InsufficientBalance):  # refused inside: the caller's work goes on
            await reserve(CUSTOMER, 700, "too-much")
        await ledger.capture_reservation(reservation_key="in-tx")
        await give_credit(CUSTOMER, 50, key="in-tx-credit")
    assert await totals(CUSTOMER) == (650, 0, 0)


async def test_a_known_key_inside_a_caller_s_transaction_leaves_it_usable(db) -> None:
    await give_credit(CUSTOMER, 1000)
    await reserve(CUSTOMER, 100, "known")

    async with in_transaction():
        await reserve(CUSTOMER, 100, "known")  # the same again: nothing moves
        with pytest.raises(InvalidInput) as reused:
            await reserve(CUSTOMER, 999, "known")
        assert reused.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
        await reserve(CUSTOMER, 200, "fresh")  # the caller's transaction goes on

    assert await totals(CUSTOMER) == (700, 0, 300)


async def test_a_wallet_that_keeps_changing_is_decided_under_its_lock(db, monkeypatch) -> None:
    # Credit that matured since the wallet was last touched, and a settle between fast
    # attempts that never catches up (as when other movements keep changing the wallet):
    # the reservation must still go through, or be refused only for a real shortfall.
    await give_credit(CUSTOMER, 1000, pending=timedelta(days=1))
    clock.advance(timedelta(days=2))

    async def losing_the_race(*args: object) -> None:
        return None

    monkeypatch.setattr(reservations, "settle_wallet", losing_the_race)

    await reserve(CUSTOMER, 400, "contended")
    assert await totals(CUSTOMER) == (600, 0, 400)
    with pytest.raises(InsufficientBalance):
        await reserve(CUSTOMER, 700, "too-much")
    assert await totals(CUSTOMER) == (600, 0, 400)
    await assert_ledger_consistent()
