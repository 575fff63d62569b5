"""Sliding-window throttling, on the database and on Redis: limits hold exactly, also
under concurrent attempts, and free up as hits leave the window."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from app.core import clock
from app.core.errors import RateLimited
from app.settings import Settings
from app.throttling import service as throttling
from app.throttling.backends import Backend, DatabaseBackend, RedisBackend
from app.throttling.models import ThrottleCounter
from tests.throttling.support import REDIS_URL, forget, redis_backend_or_skip

WINDOW = timedelta(minutes=15)


@pytest.fixture(params=["database", "redis"])
async def backend(request: pytest.FixtureRequest, db: Settings) -> AsyncIterator[Backend]:
    """The throttling backend under test, in use for the test (its state empty)."""
    prefix = f"test-throttle:{uuid.uuid4().hex}:"
    chosen: Backend
    if request.param == "redis":
        chosen = await redis_backend_or_skip(prefix)
    else:
        chosen = DatabaseBackend()
    request.node.backend_prefix = prefix
    throttling.use_backend(chosen)
    yield chosen
    throttling.use_backend(None)
    if isinstance(chosen, RedisBackend):
        await forget(chosen)


async def hit(key: str = "k", limit: int = 3, window: timedelta = WINDOW):
    return await throttling.hit(key=key, window=window, limit=limit)


async def test_hits_are_allowed_up_to_the_limit_then_refused(backend: Backend) -> None:
    decisions = [await hit() for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, True]
    assert [d.count for d in decisions] == [1, 2, 3]
    assert decisions[-1].remaining == 0

    refused = await hit()
    assert not refused.allowed
    assert refused.count == 3
    assert timedelta(minutes=14) < refused.retry_after <= WINDOW
    # A refused attempt is not recorded: the count did not grow.
    assert (await hit()).count == 3


async def test_the_window_slides(backend: Backend) -> None:
    await hit()
    clock.advance(timedelta(minutes=5))
    await hit()
    await hit()
    refused = await hit()
    assert not refused.allowed
    assert timedelta(minutes=9) < refused.retry_after <= timedelta(minutes=10)

    clock.advance(timedelta(minutes=10, seconds=1))  # the first hit has left the window
    assert (await hit()).allowed
    assert not (await hit()).allowed
    clock.advance(timedelta(minutes=5))  # so have the next two
    assert (await hit()).allowed
    assert (await hit()).count == 3


async def test_check_records_nothing(backend: Backend) -> None:
    await hit(limit=2)
    checked = await throttling.check(key="k", window=WINDOW, limit=2)
    assert (checked.allowed, checked.count) == (True, 1)
    await hit(limit=2)
    assert not (await throttling.check(key="k", window=WINDOW, limit=2)).allowed
    assert (await throttling.check(key="other", window=WINDOW, limit=2)).count == 0


async def test_undo_takes_back_one_hit_and_reset_all(backend: Backend) -> None:
    first = await hit()
    second = await hit()
    await throttling.undo(key="k", decision=second)
    assert (await hit()).count == 2
    await throttling.undo(key="k", decision=first)
    assert (await throttling.check(key="k", window=WINDOW, limit=3)).count == 1

    await hit()
    await hit()
    assert not (await hit()).allowed
    await throttling.reset(key="k")
    assert (await hit()).count == 1


async def test_keys_are_independent(backend: Backend) -> None:
    for _ in range(3):
        await hit(key="store:1")
    assert not (await hit(key="store:1")).allowed
    assert (await hit(key="store:2")).allowed


async def test_enforce_raises_rate_limited_with_the_wait(backend: Backend) -> None:
    await throttling.enforce(key="code", window=timedelta(minutes=10), limit=1)
    with pytest.raises(RateLimited) as raised:
        await throttling.enforce(key="code", window=timedelta(minutes=10), limit=1)
    assert raised.value.code == "RATE_LIMITED"
    assert 590 <= (raised.value.retry_after or 0) <= 600


BACKOFF = throttling.Backoff(free=2, first=10.0, longest=60.0)


async def spaced(key: str = "slow") -> throttling.Decision:
    return await throttling.hit(key=key, window=WINDOW, limit=100, backoff=BACKOFF)


async def test_a_backoff_makes_each_attempt_past_the_free_ones_wait_longer(
    backend: Backend,
) -> None:
    assert (await spaced()).allowed
    assert (await spaced()).allowed
    # Two free hits, then 10 s after the latest, then 20 s, 40 s, and never more than 60 s.
    for wait in (10, 20, 40, 60, 60):
        early = await spaced()
        assert not early.allowed
        assert timedelta(seconds=wait - 1) < early.retry_after <= timedelta(seconds=wait)
        clock.advance(timedelta(seconds=wait - 1))
        assert not (await spaced()).allowed
        assert not (
            await throttling.check(key="slow", window=WINDOW, limit=100, backoff=BACKOFF)
        ).allowed
        clock.advance(timedelta(seconds=1))
        assert (
            await throttling.check(key="slow", window=WINDOW, limit=100, backoff=BACKOFF)
        ).allowed
        assert (await spaced()).allowed
    # Refused attempts were not recorded: seven hits in all.
    assert (await throttling.check(key="slow", window=WINDOW, limit=100)).count == 7
    # Once the hits leave the window, the free ones are back.
    clock.advance(WINDOW)
    assert (await spaced()).allowed
    assert (await spaced()).allowed


async def test_undoing_a_hit_under_backoff_gives_its_place_back(backend: Backend) -> None:
    await spaced()
    await spaced()
    clock.advance(timedelta(seconds=10))
    third = await spaced()
    assert third.allowed
    await throttling.undo(key="slow", decision=third)
    # As if the third had never happened: the wait is the 10 s after the second.
    assert (await spaced()).allowed


async def test_parallel_hits_under_backoff_let_one_through(backend: Backend) -> None:
    await spaced(key="hot")
    await spaced(key="hot")
    clock.advance(timedelta(seconds=10))
    decisions = await asyncio.gather(*(spaced(key="hot") for _ in range(10)))
    assert sum(d.allowed for d in decisions) == 1


async def test_parallel_hits_never_pass_the_limit(backend: Backend) -> None:
    decisions = await asyncio.gather(*(hit(key="hot", limit=10) for _ in range(30)))
    assert sum(d.allowed for d in decisions) == 10
    assert (await throttling.check(key="hot", window=WINDOW, limit=10)).count == 10


async def test_separate_processes_share_the_count(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    # Another process: another backend object on the same store.
    if isinstance(backend, RedisBackend):
        other: Backend = RedisBackend(REDIS_URL, prefix=request.node.backend_prefix)
    else:
        other = DatabaseBackend()
    now = clock.now().timestamp()
    window = WINDOW.total_seconds()
    await hit(key="shared")
    await hit(key="shared")
    key = throttling._key("shared")
    seen = await other.hit(key, now=now, window=window, limit=3)
    assert (seen.allowed, seen.count) == (True, 3)
    assert not (await hit(key="shared")).allowed
    if isinstance(other, RedisBackend):
        await other.close()


async def test_the_database_keeps_no_raw_key_and_purges_old_rows(db: Settings) -> None:
    throttling.use_backend(DatabaseBackend())
    try:
        await throttling.hit(key="sign-in:account:ana@example.com", window=WINDOW, limit=3)
        await throttling.hit(key="fresh", window=timedelta(hours=2), limit=3)
        keys = await ThrottleCounter.all().values_list("key", flat=True)
        assert len(keys) == 2
        assert all("@" not in key and len(key) == 64 for key in keys)

        clock.advance(timedelta(minutes=16))
        assert await throttling.purge() == 1
        assert (await throttling.check(key="fresh", window=timedelta(hours=2), limit=3)).count == 1
    finally:
        throttling.use_backend(None)


def test_redis_is_used_when_the_settings_name_it() -> None:
    with_redis = throttling.backend_for(Settings(redis_url="redis://127.0.0.1:6379/0"))
    assert isinstance(with_redis, RedisBackend)
    assert throttling.backend_for(Settings(redis_url="redis://127.0.0.1:6379/0")) is with_redis
    assert isinstance(throttling.backend_for(Settings(redis_url=None)), DatabaseBackend)
