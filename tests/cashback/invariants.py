"""What every cashback test asserts at its end: each customer's stored spend of the tier
window that is still current (its `changes_at` not passed) is what their purchases say."""

from __future__ import annotations

from app.cashback.models import CustomerSpend
from app.cashback.spend import is_current, scan_window_spends
from app.core import clock


async def tier_spend_problems() -> list[str]:
    """Rows that a read would take as the answer and that the purchases contradict: another
    sum, or a `changes_at` after the oldest counted purchase leaves the window (earlier is
    only a recomputation sooner than needed)."""
    now = clock.now()
    rows = await CustomerSpend.all()
    scanned = await scan_window_spends((row.customer_id for row in rows), now=now)
    problems = []
    for row in rows:
        if not is_current(row.changes_at, now):
            continue
        truth = scanned[row.customer_id]
        if row.window_spend_minor != truth.spend_minor:
            problems.append(
                f"customer {row.customer_id}: stored {row.window_spend_minor},"
                f" purchases say {truth.spend_minor}"
            )
        if truth.changes_at is not None and (
            row.changes_at is None or row.changes_at > truth.changes_at
        ):
            problems.append(
                f"customer {row.customer_id}: changes at {row.changes_at},"
                f" the oldest purchase leaves at {truth.changes_at}"
            )
    return problems


async def assert_tier_spend_current() -> None:
    problems = await tier_spend_problems()
    assert not problems, "stored tier spend disagrees with the purchases:\n" + "\n".join(problems)
