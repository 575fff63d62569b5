"""Reconciliation finds what does not add up, and `check-ledger` says so with its exit code."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from tortoise.connection import get_connection

from app import ledger
from app.core import clock
from tests.ledger.factories import balance, give_credit, reserve

CUSTOMER = 707
ROOT = Path(__file__).resolve().parents[2]


async def corrupt(statement: str) -> None:
    await get_connection("default").execute_script(statement)


async def check_ledger(database_url: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "check-ledger",
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "APP_ENV": "test"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def some_history() -> None:
    await give_credit(CUSTOMER, 1000, source_id=1)
    await give_credit(CUSTOMER, 400, source_id=2, pending=timedelta(days=3))
    await reserve(CUSTOMER, 300, "r1")
    await ledger.capture_reservation(reservation_key="r1")
    await reserve(CUSTOMER, 200, "r2")
    await ledger.take_back(
        customer_id=CUSTOMER,
        currency="USD",
        source_type="purchase",
        source_id=1,
        amount=1000,
        description="Refund",
        idempotency_key="refund:1",
    )


async def test_a_consistent_ledger_reconciles(db) -> None:
    await some_history()
    assert await ledger.reconcile() == []
    code, output = await check_ledger(db.database_url)
    assert code == 0, output
    assert "the ledger reconciles" in output


@pytest.mark.ledger_left_inconsistent
async def test_a_total_that_does_not_match_its_postings_is_found(db) -> None:
    await some_history()
    await corrupt(
        f"UPDATE ledger_wallets SET available = available + 5 WHERE customer_id = {CUSTOMER}"
    )

    problems = await ledger.reconcile()

    assert any("available is" in p and "postings" in p for p in problems), problems
    code, output = await check_ledger(db.database_url)
    assert code == 1
    assert "does not reconcile" in output


@pytest.mark.ledger_left_inconsistent
async def test_an_unbalanced_transfer_is_found(db) -> None:
    await some_history()
    await corrupt(
        "UPDATE ledger_postings SET amount = amount + 1"
        " WHERE id = (SELECT MIN(id) FROM ledger_postings)"
    )
    problems = await ledger.reconcile()
    assert any(p.startswith("transfer") for p in problems), problems


@pytest.mark.ledger_left_inconsistent
async def test_a_posting_out_of_its_transfers_time_is_found(db) -> None:
    # The books of a period read postings by their own time: it must be their transfer's.
    await some_history()
    assert await ledger.reconcile() == []
    await corrupt(
        "UPDATE ledger_postings SET created_at = NULL"
        " WHERE id = (SELECT MIN(id) FROM ledger_postings WHERE account = 'SPENT')"
    )
    problems = await ledger.reconcile()
    assert any("SPENT posting the books would misread" in p for p in problems), problems


@pytest.mark.ledger_left_inconsistent
async def test_a_lot_that_does_not_match_its_wallet_is_found(db) -> None:
    await some_history()
    await corrupt(
        "UPDATE ledger_lots SET state = 'CLOSED', remaining = 0,"
        f" taken_back = taken_back + remaining WHERE customer_id = {CUSTOMER}"
        " AND state = 'PENDING'"
    )
    problems = await ledger.reconcile()
    assert any("pending lots" in p for p in problems), problems


@pytest.mark.ledger_left_inconsistent
async def test_a_wallet_that_would_not_settle_in_time_is_found(db) -> None:
    await give_credit(CUSTOMER, 400, pending=timedelta(days=3))
    await corrupt("UPDATE ledger_wallets SET next_change_at = NULL")
    problems = await ledger.reconcile()
    assert any("maturing" in p for p in problems), problems


async def test_the_worker_settles_due_wallets_in_bulk(db) -> None:
    for customer in range(CUSTOMER, CUSTOMER + 7):
        await give_credit(customer, 100, pending=timedelta(hours=1))
    await give_credit(CUSTOMER + 50, 100, pending=timedelta(days=10))  # not due yet
    clock.advance(timedelta(hours=2))

    assert await ledger.settle_due_wallets(limit=5) == 5
    assert await ledger.settle_due_wallets() == 2
    assert await ledger.settle_due_wallets() == 0

    for customer in range(CUSTOMER, CUSTOMER + 7):
        assert (await balance(customer)).available == 100
    assert (await balance(CUSTOMER + 50)).pending == 100
