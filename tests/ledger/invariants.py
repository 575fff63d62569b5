"""What every money test asserts at its end."""

from __future__ import annotations

from app.ledger import reconcile


async def assert_ledger_consistent() -> None:
    """The ledger reconciles: transfers balance, stored totals equal their postings and
    lots, no lot out of bounds, every wallet settles in time."""
    problems = await reconcile()
    assert not problems, "the ledger does not reconcile:\n" + "\n".join(problems)
