"""Program settings, tiers and cashback rules are read once per process and served from
memory until an admin changes them: on every process at once, never a stale value kept
after a change, and nothing served from memory while changes cannot be heard."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app import cache, db
from app.cache import Cached
from app.settings import Settings
from tests.factories import make_admin
from tests.ledger.statements import count_statements
from tests.support import Api

PROGRAM = "query { program { currencyCode pendingDays } }"
UPDATE = """
mutation ($input: UpdateProgramInput!) {
  updateProgram(input: $input) { program { pendingDays } userErrors { code } }
}
"""
TIERS = "query { tiers { code cashbackMultiplier } }"
UPDATE_TIERS = """
mutation ($tiers: [TierInput!]!) {
  updateTiers(tiers: $tiers) { tiers { code } userErrors { code } }
}
"""


async def _pending_days(api: Api) -> int:
    answer = await api.gql(PROGRAM)
    assert "errors" not in answer, answer
    return int(answer["data"]["program"]["pendingDays"])


async def test_settings_are_read_once_and_a_change_is_seen_at_once(api: Api) -> None:
    assert await _pending_days(api) == 30
    with count_statements() as sent:
        assert await _pending_days(api) == 30
    assert not [s for s in sent if "program_settings" in s]

    admin = api.token_for(await make_admin())
    answer = await api.gql(UPDATE, {"input": {"pendingDays": 12}}, token=admin)
    assert answer["data"]["updateProgram"] == {"program": {"pendingDays": 12}, "userErrors": []}
    assert await _pending_days(api) == 12


async def test_new_tiers_replace_the_remembered_ones(api: Api) -> None:
    before = await api.gql(TIERS)
    assert [t["code"] for t in before["data"]["tiers"]] == ["BRONZE", "SILVER", "GOLD"]
    with count_statements() as sent:
        await api.gql(TIERS)
    assert not [s for s in sent if "cashback_tiers" in s]

    admin = api.token_for(await make_admin())
    tiers = [
        {"code": "BASIC", "name": "Basic", "cashbackMultiplier": "1", "minimumSpend": _usd(0)},
        {"code": "PLUS", "name": "Plus", "cashbackMultiplier": "2", "minimumSpend": _usd(10)},
    ]
    answer = await api.gql(UPDATE_TIERS, {"tiers": tiers}, token=admin)
    assert answer["data"]["updateTiers"]["userErrors"] == [], answer
    after = await api.gql(TIERS)
    assert after["data"]["tiers"] == [
        {"code": "BASIC", "cashbackMultiplier": "1"},
        {"code": "PLUS", "cashbackMultiplier": "2"},
    ]


def _usd(amount: int) -> dict[str, Any]:
    return {"amount": str(amount), "currencyCode": "USD"}


async def test_a_read_that_began_before_a_change_is_not_remembered(db: Settings) -> None:
    versions = iter(["old", "new", "newer"])
    started, release = asyncio.Event(), asyncio.Event()

    async def load() -> str:
        value = next(versions)
        if value == "old":
            started.set()
            await release.wait()
        return value

    value = Cached("test-slow-read", load)
    try:
        slow = asyncio.ensure_future(value.get())
        await started.wait()
        value.forget()  # the change lands while the first read is under way
        release.set()
        assert await slow == "old"  # that caller asked first and gets what it read
        assert await value.get() == "new"  # but it was not kept
        assert await value.get() == "new"  # the fresh value is
    finally:
        cache._registry.pop("test-slow-read")


async def test_nothing_is_served_from_memory_while_changes_cannot_be_heard(
    api: Api, postgres_only: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await _pending_days(api) == 30
    listener = cache._state.listener
    assert listener is not None
    connect = cache._connect

    async def unreachable() -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(cache, "_connect", unreachable)
    await db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?",
        "cashback-cache",
    )
    await _until(lambda: not cache._state.serving)
    # A change that nobody hears (made here behind the services' back).
    await db.execute("UPDATE program_settings SET pending_days = 9")
    assert await _pending_days(api) == 9
    with count_statements() as sent:
        assert await _pending_days(api) == 9
    assert [s for s in sent if "program_settings" in s]

    # Listening again, memory serves again, and changes are heard again.
    monkeypatch.setattr(cache, "_connect", connect)
    await _until(lambda: cache._state.serving)
    assert cache._state.listener is not None and cache._state.listener is not listener
    assert await _pending_days(api) == 9
    admin = api.token_for(await make_admin())
    await api.gql(UPDATE, {"input": {"pendingDays": 15}}, token=admin)
    assert await _pending_days(api) == 15


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition was not reached in time")


@pytest.mark.usefixtures("postgres_only")
async def test_a_change_on_one_process_reaches_the_other(api: Api, servers: list[str]) -> None:
    admin = api.token_for(await make_admin())
    async with httpx.AsyncClient(timeout=30) as client:

        async def pending_days(server: str) -> int:
            response = await client.post(f"{server}/graphql", json={"query": PROGRAM})
            return int(response.json()["data"]["program"]["pendingDays"])

        first, second = servers
        assert await pending_days(second) == 30  # remembered by the second process
        response = await client.post(
            f"{first}/graphql",
            json={"query": UPDATE, "variables": {"input": {"pendingDays": 21}}},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert response.json()["data"]["updateProgram"]["userErrors"] == []
        seen = []
        for _ in range(50):
            seen.append(await pending_days(second))
            if seen[-1] == 21:
                break
            await asyncio.sleep(0.02)
        assert seen[-1] == 21, seen


async def test_several_processes_on_one_sqlite_file_keep_nothing_in_memory(
    db: Settings, is_postgres: bool
) -> None:
    if is_postgres:
        pytest.skip("PostgreSQL processes hear each other's changes")
    loads: list[int] = []

    async def load() -> int:
        loads.append(1)
        return len(loads)

    value = Cached("test-sqlite-workers", load)
    try:
        await cache.start_listening(db.model_copy(update={"workers": 2}))
        assert [await value.get(), await value.get()] == [1, 2]
        await cache.start_listening(db)
        assert [await value.get(), await value.get()] == [3, 3]
    finally:
        cache._registry.pop("test-sqlite-workers")
        await cache.start_listening(db)
