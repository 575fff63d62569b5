"""Every inbox test that moves money ends with the ledger reconciling."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.settings import Settings
from tests.ledger.invariants import assert_ledger_consistent


@pytest.fixture(name="db")
async def ledger_checked_db(db: Settings) -> AsyncIterator[Settings]:
    yield db
    await assert_ledger_consistent()
