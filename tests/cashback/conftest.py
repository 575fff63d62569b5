"""Every cashback test that uses the database ends with the ledger reconciling and every
customer's stored tier spend agreeing with their purchases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.settings import Settings
from tests.cashback.invariants import assert_tier_spend_current
from tests.ledger.invariants import assert_ledger_consistent


@pytest.fixture(name="db")
async def cashback_checked_db(
    db: Settings, request: pytest.FixtureRequest
) -> AsyncIterator[Settings]:
    """`db`, and after the test the checks of `tests.ledger.invariants.ledger_checked_db`
    (the ledger reconciles, unless the test is marked `ledger_left_inconsistent`) and of
    `tests.cashback.invariants` (stored tier spend agrees with the purchases), on the
    database and at the clock the test left."""
    yield db
    await assert_tier_spend_current()
    if request.node.get_closest_marker("ledger_left_inconsistent") is None:
        await assert_ledger_consistent()
