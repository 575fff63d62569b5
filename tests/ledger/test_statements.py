"""The hot paths send a fixed number of statements, however long the history."""

from __future__ import annotations

from datetime import timedelta

from app import ledger
from app.core import clock
from tests.ledger.factories import balance, give_credit, reserve
from tests.ledger.statements import count_statements

CUSTOMER = 404


async def test_a_balance_read_is_one_statement(db) -> None:
    for _ in range(5):
        await give_credit(CUSTOMER, 100)
    await reserve(CUSTOMER, 50, "r")

    with count_statements() as sent:
        b = await balance(CUSTOMER)

    assert b.available == 450
    assert len(sent) == 1, sent
    assert sent[0].startswith("SELECT") and "ledger_wallets" in sent[0]


async def test_a_balance_read_of_a_wallet_that_must_settle_settles_once(db) -> None:
    await give_credit(CUSTOMER, 100, pending=timedelta(days=1))
    clock.advance(timedelta(days=2))

    with count_statements() as settling:
        assert (await balance(CUSTOMER)).available == 100
    with count_statements() as settled:
        assert (await balance(CUSTOMER)).available == 100

    assert len(settling) > 1
    assert len(settled) == 1


async def test_a_reservation_is_a_fixed_number_of_statements_with_one_debit(
    db, is_postgres: bool
) -> None:
    for _ in range(20):
        await give_credit(CUSTOMER, 100)

    with count_statements() as sent:
        await reserve(CUSTOMER, 250, "pinned")

    debits = [s for s in sent if "UPDATE ledger_wallets" in s]
    assert len(debits) == 1
    assert "available >=" in debits[0]
    if is_postgres:
        # One statement: the conditional debit, the entry, the transfer and its postings.
        # It commits by itself, so the wallet is never locked across a round trip.
        assert len(sent) == 1, sent
    else:
        # The entry, the transfer, its postings, then the debit, last.
        assert len(sent) == 4, sent
        assert sent[-1] == debits[0]
    assert (await balance(CUSTOMER)).reserved == 250


async def test_a_credit_is_a_fixed_number_of_statements(db, is_postgres: bool) -> None:
    await give_credit(CUSTOMER, 100)
    with count_statements() as sent:
        await give_credit(CUSTOMER, 100)
    assert len(sent) == (4 if is_postgres else 5), sent


async def test_a_capture_does_not_grow_with_the_number_of_lots(db, is_postgres: bool) -> None:
    for _ in range(3):
        await give_credit(CUSTOMER, 10)
    await reserve(CUSTOMER, 25, "few")
    with count_statements() as few:
        await ledger.capture_reservation(reservation_key="few")

    for _ in range(60):
        await give_credit(CUSTOMER, 10)
    await reserve(CUSTOMER, 550, "many")
    with count_statements() as many:
        await ledger.capture_reservation(reservation_key="many")

    assert len(many) == len(few), (few, many)
    if is_postgres:
        # Find the reservation; close it and move the wallet; draw the lots.
        assert len(few) == 3, few
    assert (await balance(CUSTOMER)).available == 630 - 575
