"""forfeit_all: a deleted account's pending and available credit moves to the program's
FORFEITED account; the ledger still reconciles, and a later refund creates no credit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app import db as app_db
from app import ledger
from app.ledger.forfeiting import ReservationsStillOpen
from tests.ledger.factories import give_credit, reserve, totals

CUSTOMER, OTHER = 41, 42


async def postings(account: str, customer_id: int) -> int:
    row = await app_db.one(
        "SELECT COALESCE(SUM(amount), 0) AS total FROM ledger_postings"
        " WHERE account = ? AND customer_id = ?",
        account,
        customer_id,
    )
    assert row is not None
    return int(row["total"])


async def test_pending_and_available_credit_is_forfeited_once(db: object) -> None:
    # Given credit available, credit pending and another customer's credit
    await give_credit(CUSTOMER, 700)
    await give_credit(CUSTOMER, 300, pending=timedelta(days=30), source_id=7001)
    await give_credit(OTHER, 500)

    # When the customer's credit is forfeited, twice
    first = await ledger.forfeit_all(customer_id=CUSTOMER)
    again = await ledger.forfeit_all(customer_id=CUSTOMER)

    # Then everything moved once, to FORFEITED, and nothing of the other customer's
    assert first == [ledger.Forfeited("USD", pending=300, available=700)]
    assert again == [ledger.Forfeited("USD", pending=0, available=0)]
    assert await totals(CUSTOMER) == (0, 0, 0)
    assert await postings(ledger.FORFEITED, CUSTOMER) == 1_000
    assert await totals(OTHER) == (500, 0, 0)
    assert await postings(ledger.FORFEITED, OTHER) == 0
    kinds = await app_db.rows("SELECT DISTINCT kind FROM ledger_transfers WHERE kind = 'FORFEIT'")
    assert len(kinds) == 1
    assert await ledger.reconcile() == []


async def test_money_held_by_an_open_reservation_is_never_forfeited(db: object) -> None:
    await give_credit(CUSTOMER, 700)
    await reserve(CUSTOMER, 200, "redemption:1")

    with pytest.raises(ReservationsStillOpen):
        await ledger.forfeit_all(customer_id=CUSTOMER)

    assert await totals(CUSTOMER) == (500, 0, 200)
    assert await postings(ledger.FORFEITED, CUSTOMER) == 0


async def test_a_refund_after_forfeiture_takes_back_nothing_from_the_customer(db: object) -> None:
    # Given a purchase's credit, partly pending, forfeited
    await give_credit(CUSTOMER, 400, source_type="purchase", source_id=9001)
    await ledger.forfeit_all(customer_id=CUSTOMER)

    # When the purchase is refunded
    taken = await ledger.take_back(
        customer_id=CUSTOMER,
        currency="USD",
        source_type="purchase",
        source_id=9001,
        amount=400,
        description="Refund",
        idempotency_key="refund:9001",
    )

    # Then nothing came from a balance (it is empty): it is recorded as clawback, the
    # forfeited amount stays, and the ledger reconciles
    assert (taken.from_pending, taken.from_available, taken.clawback) == (0, 0, 400)
    assert await totals(CUSTOMER) == (0, 0, 0)
    assert await postings(ledger.FORFEITED, CUSTOMER) == 400
    assert await ledger.reconcile() == []
