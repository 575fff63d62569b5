"""programMetrics sends a fixed number of statements: the same for an empty program and a
history, and for a series of 30 daily points or 2 monthly ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core import clock
from tests.factories import make_admin
from tests.insights.factories import FULL_QUERY
from tests.insights.story import tell
from tests.ledger.statements import count_statements
from tests.support import Api


async def _statements(api: Api, admin: Any, start: Any, end: Any, interval: str) -> list[str]:
    variables = {"from": start.isoformat(), "to": end.isoformat(), "interval": interval}
    # Once to fill the caches (the program, the tiers), then counted.
    await api.gql(FULL_QUERY, variables, token=api.token_for(admin))
    with count_statements() as sent:
        answer = await api.gql(FULL_QUERY, variables, token=api.token_for(admin))
    assert "errors" not in answer, answer
    return sent


async def test_the_statements_do_not_grow_with_the_history_or_the_points(api: Api) -> None:
    admin = await make_admin()
    start = clock.now()
    empty = await _statements(api, admin, start, start + timedelta(days=365), "MONTH")

    story = await tell(api)
    monthly = await _statements(api, admin, story.day(30), story.day(60), "MONTH")
    daily = await _statements(api, admin, story.day(30), story.day(60), "DAY")

    assert len(monthly) == len(empty) == len(daily), (empty, monthly, daily)
    # The figures: headline, books, channels, segments, cohorts, series (2), offers.
    figures = [s for s in daily if "cashback_purchases" in s or "ledger_" in s]
    assert len(figures) == 8, figures
    # On PostgreSQL each figure also sets its transaction's settings (app/insights/reading).
    settings = [s for s in daily if "set_config" in s]
    assert len(settings) in (0, len(figures)), settings
    assert len(daily) - len(settings) <= 10, daily
