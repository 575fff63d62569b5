"""Races on PostgreSQL, each call on its own pooled connection: money is never spent twice,
never created, and no total goes below zero."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import asyncpg
import pytest

from app import ledger
from app.core import clock
from app.db import retrying
from app.ledger import InsufficientBalance, ReservationClosed
from app.ledger.models import Entry, Transfer
from tests.ledger.factories import give_credit, reserve, totals
from tests.ledger.invariants import assert_ledger_consistent

CUSTOMER = 505


async def test_100_concurrent_reservations_never_over_reserve(postgres_only) -> None:
    await give_credit(CUSTOMER, 1000)  # 10.00
    amounts = [50 if i % 2 else 100 for i in range(100)]  # 0.50 and 1.00

    async def attempt(i: int) -> int:
        try:
            await reserve(CUSTOMER, amounts[i], f"race-{i}")
        except InsufficientBalance:
            return 0
        return amounts[i]

    won = await asyncio.gather(*(attempt(i) for i in range(100)))

    available, _, reserved = await totals(CUSTOMER)
    assert reserved == sum(won) <= 1000
    assert available + reserved == 1000
    assert available >= 0
    assert available < 50  # they kept going until nothing more fit
    open_reservations = await Entry.filter(kind="REDEMPTION", status="RESERVED").count()
    assert open_reservations == sum(1 for w in won if w)


async def test_30_concurrent_captures_of_one_reservation_capture_once(postgres_only) -> None:
    await give_credit(CUSTOMER, 1000)
    await reserve(CUSTOMER, 600, "one")

    results = await asyncio.gather(
        *(ledger.capture_reservation(reservation_key="one") for _ in range(30))
    )

    assert results.count(True) == 1
    assert results.count(False) == 29
    assert await totals(CUSTOMER) == (400, 0, 0)
    assert await Transfer.filter(kind="CAPTURE").count() == 1


async def _outcome(work) -> str:
    try:
        return "won" if await work else "no-op"
    except ReservationClosed:
        return "refused"


async def test_a_capture_racing_a_release_has_exactly_one_outcome(postgres_only) -> None:
    await give_credit(CUSTOMER, 10_000)
    for i in range(15):
        await reserve(CUSTOMER, 100, f"duel-{i}")
    for i in range(15):
        capture = ledger.capture_reservation(reservation_key=f"duel-{i}")
        release = ledger.release_reservation(reservation_key=f"duel-{i}")
        pair = [capture, release] if i % 2 else [release, capture]
        outcomes = await asyncio.gather(*(_outcome(w) for w in pair))
        assert sorted(outcomes) == ["refused", "won"], outcomes
        status = await ledger.reservation_status(reservation_key=f"duel-{i}")
        assert status in ("CAPTURED", "RELEASED")
    captured = await Transfer.filter(kind="CAPTURE").count()
    available, _, reserved = await totals(CUSTOMER)
    assert reserved == 0
    assert available == 10_000 - 100 * captured


async def test_a_capture_racing_the_expiry_has_exactly_one_outcome(postgres_only) -> None:
    await give_credit(CUSTOMER, 10_000)
    for i in range(10):
        await reserve(CUSTOMER, 100, f"late-{i}")
    for i in range(10):
        capture = ledger.capture_reservation(reservation_key=f"late-{i}")
        expire = ledger.release_reservation(reservation_key=f"late-{i}", expired=True)
        outcomes = await asyncio.gather(_outcome(capture), _outcome(expire))
        assert sorted(outcomes) == ["refused", "won"], outcomes
    assert (await totals(CUSTOMER))[2] == 0


async def test_captures_racing_a_lapse_on_read_have_one_outcome(postgres_only) -> None:
    await give_credit(CUSTOMER, 1000)
    await reserve(CUSTOMER, 500, "lapsing", lasts=timedelta(minutes=10))
    clock.advance(timedelta(minutes=10, seconds=1))

    async def read() -> str:
        await totals(CUSTOMER)
        return "read"

    outcomes = await asyncio.gather(
        *(_outcome(ledger.capture_reservation(reservation_key="lapsing")) for _ in range(5)),
        *(read() for _ in range(5)),
        ledger.settle_due_wallets(),
    )
    assert "won" not in outcomes
    assert await ledger.reservation_status(reservation_key="lapsing") == "EXPIRED"
    assert await totals(CUSTOMER) == (1000, 0, 0)
    assert await Transfer.filter(kind="RELEASE").count() == 1


async def test_a_take_back_racing_a_reservation_leaves_the_ledger_reconciled(postgres_only) -> None:
    for i in range(12):
        customer = CUSTOMER + 100 + i
        await give_credit(customer, 1000, source_id=7000 + i)
        take = ledger.take_back(
            customer_id=customer,
            currency="USD",
            source_type="purchase",
            source_id=7000 + i,
            amount=1000,
            description="Refund",
            idempotency_key=f"refund-{i}",
        )
        hold = reserve(customer, 800, f"hold-{i}")
        results = await asyncio.gather(take, hold, return_exceptions=True)
        taken, reserved = results
        assert isinstance(taken, ledger.TakeBack), taken
        available, _, held = await totals(customer)
        if isinstance(reserved, InsufficientBalance):  # the refund came first
            assert taken == ledger.TakeBack(0, 1000, 0)
            assert (available, held) == (0, 0)
        else:  # the reservation came first: what it holds is clawed back
            assert reserved is None, reserved
            assert taken == ledger.TakeBack(0, 200, 800)
            assert (available, held) == (0, 800)
        await assert_ledger_consistent()


async def test_20_concurrent_credits_with_one_key_credit_once(postgres_only) -> None:
    ids = await asyncio.gather(
        *(give_credit(CUSTOMER, 300, key="purchase:42", source_id=42) for _ in range(20))
    )
    assert len(set(ids)) == 1
    assert await totals(CUSTOMER) == (300, 0, 0)
    assert await Entry.filter(customer_id=CUSTOMER).count() == 1


async def test_concurrent_take_backs_with_one_key_take_back_once(postgres_only) -> None:
    await give_credit(CUSTOMER, 1000, source_id=77)
    results = await asyncio.gather(
        *(
            ledger.take_back(
                customer_id=CUSTOMER,
                currency="USD",
                source_type="purchase",
                source_id=77,
                amount=400,
                description="Refund",
                idempotency_key="refund-77",
            )
            for _ in range(20)
        )
    )
    assert set(results) == {ledger.TakeBack(0, 400, 0)}
    assert await totals(CUSTOMER) == (600, 0, 0)


async def test_concurrent_reads_of_a_due_wallet_settle_it_once(postgres_only) -> None:
    await give_credit(CUSTOMER, 100, pending=timedelta(days=1))
    await give_credit(CUSTOMER, 200, pending=timedelta(days=1))
    clock.advance(timedelta(days=1, seconds=1))

    seen = await asyncio.gather(*(totals(CUSTOMER) for _ in range(30)))

    assert set(seen) == {(300, 0, 0)}
    assert await Transfer.filter(kind="MATURE").count() == 1


async def test_a_storm_of_mixed_operations_on_a_few_wallets_reconciles(postgres_only) -> None:
    rng = random.Random(11)
    customers = [CUSTOMER + 1000 + i for i in range(4)]
    for c in customers:
        await give_credit(c, 2000, source_id=c)
    keys: list[tuple[int, str]] = []

    async def operation(n: int) -> None:
        c = rng.choice(customers)
        roll = rng.random()
        try:
            if roll < 0.35:
                key = f"storm-{n}"
                await reserve(c, rng.choice([50, 100, 300]), key)
                keys.append((c, key))
            elif roll < 0.55 and keys:
                await ledger.capture_reservation(reservation_key=rng.choice(keys)[1])
            elif roll < 0.7 and keys:
                await ledger.release_reservation(reservation_key=rng.choice(keys)[1])
            elif roll < 0.85:
                await give_credit(
                    c, rng.choice([10, 250]), pending=timedelta(seconds=rng.choice([0, 1]))
                )
            elif roll < 0.95:
                await ledger.take_back(
                    customer_id=c,
                    currency="USD",
                    source_type="purchase",
                    source_id=c,
                    amount=rng.choice([100, 700]),
                    description="Refund",
                    idempotency_key=f"storm-refund-{n}",
                )
            else:
                await totals(c)
        except (InsufficientBalance, ReservationClosed):
            pass

    await asyncio.gather(*(operation(n) for n in range(300)))
    clock.advance(timedelta(seconds=2))
    await ledger.settle_due_wallets()
    for c in customers:
        available, pending, reserved = await totals(c)
        assert min(available, pending, reserved) >= 0


async def test_deadlocks_and_serialization_failures_are_retried(db) -> None:
    attempts = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
        if len(attempts) == 2:
            raise asyncpg.exceptions.SerializationError("could not serialize access")
        return "done"

    assert await retrying(flaky) == "done"
    assert len(attempts) == 3

    async def broken() -> None:
        raise asyncpg.exceptions.UniqueViolationError("not transient")

    with pytest.raises(asyncpg.exceptions.UniqueViolationError):
        await retrying(broken)
