"""What every money test asserts at its end, and the fixture that asserts it for a whole
folder: a folder's conftest imports `ledger_checked_db`, and every test there that uses the
database is followed by the check."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.ledger import reconcile
from app.settings import Settings


async def assert_ledger_consistent() -> None:
    """The ledger reconciles: transfers balance, stored totals equal their postings and
    lots, no lot out of bounds, every wallet settles in time."""
    problems = await reconcile()
    assert not problems, "the ledger does not reconcile:\n" + "\n".join(problems)


@pytest.fixture(name="db")
async def ledger_checked_db(
    db: Settings, request: pytest.FixtureRequest
) -> AsyncIterator[Settings]:
    """`db`, and after the test the ledger reconciles. It stands in for the `db` of
    tests/conftest.py, so every fixture built on it (`api`, `postgres_only`, ...) brings it
    too; a test that never touches the database never runs it. The check runs after the
    test's own fixtures are done and before `db` resets the clock, on the database the test
    left (the next test's `db` empties it). A test that breaks the ledger on purpose is
    marked `ledger_left_inconsistent`."""
    yield db
    if request.node.get_closest_marker("ledger_left_inconsistent") is None:
        await assert_ledger_consistent()
