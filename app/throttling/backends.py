"""Where throttling keeps its sliding logs: the database (default) or Redis.

Both record a hit only while the key is under its limit (and, with a backoff, only once
the wait after the latest hit has passed), atomically, so concurrent attempts never get
past the limit; both take the time from the program clock."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.throttling.models import ThrottleCounter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one key: whether the attempt may go ahead, how many hits the window
    holds, and (when refused) how long until one leaves it."""

    allowed: bool
    count: int
    limit: int
    retry_after: timedelta = timedelta(0)
    # The recorded hit, so a caller can take it back (`undo`) when the attempt succeeded.
    stamp: str | None = None

    @property
    def remaining(self) -> int:
        return max(self.limit - self.count, 0)

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds, rounded up, for a Retry-After header or a message."""
        seconds = self.retry_after.total_seconds()
        return int(seconds) + (0 if seconds == int(seconds) else 1)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Growing waits instead of a wall: once `free` hits are in the window, the next one
    is allowed only `first` seconds after the latest, then twice that, and so on up to
    `longest` seconds."""

    free: int
    first: float
    longest: float

    def wait(self, count: int) -> float:
        """Seconds that must pass after the latest hit when the window holds `count`."""
        if count < self.free:
            return 0.0
        return min(self.first * 2.0 ** min(count - self.free, 60), self.longest)


class Backend(Protocol):
    async def hit(
        self, key: str, *, now: float, window: float, limit: int, backoff: Backoff | None = None
    ) -> Decision: ...

    async def peek(
        self, key: str, *, now: float, window: float, limit: int, backoff: Backoff | None = None
    ) -> Decision: ...

    async def undo(self, key: str, stamp: str) -> None: ...

    async def reset(self, key: str) -> None: ...


def _refusal(hits: list[float], *, now: float, window: float, limit: int) -> Decision:
    # The window must shed enough hits for one more to fit under the limit.
    leaving = sorted(hits)[len(hits) - limit] if limit > 0 and hits else now
    wait = max(leaving + window - now, 0.001) if limit > 0 else window
    return Decision(False, len(hits), limit, timedelta(seconds=wait))


def _too_soon(
    hits: list[float], *, now: float, limit: int, backoff: Backoff | None
) -> Decision | None:
    """The refusal when the backoff's wait after the latest hit has not passed yet."""
    if backoff is None or not hits:
        return None
    wait = max(hits) + backoff.wait(len(hits)) - now
    if wait <= 0:
        return None
    return Decision(False, len(hits), limit, timedelta(seconds=wait))


class DatabaseBackend:
    """One row per key, changed by compare-and-set on its version (portable between
    SQLite and PostgreSQL, no lock held across statements)."""

    ATTEMPTS = 40

    async def _read(self, key: str, now: float, window: float) -> tuple[int | None, list[float]]:
        row = await ThrottleCounter.get_or_none(key=key)
        if row is None:
            return None, []
        return row.version, [t for t in json.loads(row.hits) if t > now - window]

    async def hit(
        self, key: str, *, now: float, window: float, limit: int, backoff: Backoff | None = None
    ) -> Decision:
        for attempt in range(self.ATTEMPTS):
            version, hits = await self._read(key, now, window)
            if len(hits) >= limit:
                return _refusal(hits, now=now, window=window, limit=limit)
            early = _too_soon(hits, now=now, limit=limit, backoff=backoff)
            if early is not None:
                return early
            hits.append(now)
            expires = datetime.fromtimestamp(max(hits) + window, UTC)
            if version is None:
                try:
                    # A savepoint when called inside a transaction: a lost race to create
                    # the row must not abort the caller's transaction.
                    async with in_transaction():
                        await ThrottleCounter.create(
                            key=key, hits=json.dumps(hits), version=1, expires_at=expires
                        )
                except IntegrityError:
                    pass
                else:
                    return Decision(True, len(hits), limit, stamp=repr(now))
            else:
                changed = await ThrottleCounter.filter(key=key, version=version).update(
                    hits=json.dumps(hits), version=version + 1, expires_at=expires
                )
                if changed == 1:
                    return Decision(True, len(hits), limit, stamp=repr(now))
            # Another process changed the key first: read it again.
            await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))  # noqa: S311
        # A key this contended is under attack: refuse rather than count loosely.
        log.warning("throttle key too contended; refusing the attempt")
        return Decision(False, limit, limit, timedelta(seconds=1))

    async def peek(
        self, key: str, *, now: float, window: float, limit: int, backoff: Backoff | None = None
    ) -> Decision:
        _, hits = await self._read(key, now, window)
        if len(hits) >= limit:
            return _refusal(hits, now=now, window=window, limit=limit)
        return _too_soon(hits, now=now, limit=limit, backoff=backoff) or Decision(
            True, len(hits), limit
        )

    async def undo(self, key: str, stamp: str) -> None:
        moment = float(stamp)
        for _ in range(self.ATTEMPTS):
            row = await ThrottleCounter.get_or_none(key=key)
            if row is None:
                return
            hits = json.loads(row.hits)
            if moment not in hits:
                return
            hits.remove(moment)
            changed = await ThrottleCounter.filter(key=key, version=row.version).update(
                hits=json.dumps(hits), version=row.version + 1
            )
            if changed == 1:
                return
            await asyncio.sleep(random.uniform(0, 0.002))  # noqa: S311

    async def reset(self, key: str) -> None:
        await ThrottleCounter.filter(key=key).delete()

    async def purge(self, *, before: datetime) -> int:
        """Delete the rows whose every hit has left its window."""
        return await ThrottleCounter.filter(expires_at__lt=before).delete()


# KEYS[1]: the sorted set of hits; ARGV: now (ms), window (ms), limit, member, record (0/1),
# and the backoff: free hits (-1: none), first wait (ms), longest wait (ms).
# Returns {allowed, count, retry_after_ms}.
_HIT_SCRIPT = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local free = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  if free >= 0 and count >= free and count > 0 then
    local gap = tonumber(ARGV[7]) * 2 ^ math.min(count - free, 60)
    gap = math.min(gap, tonumber(ARGV[8]))
    local latest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    local early = tonumber(latest[2]) + gap - now
    if early > 0 then
      return {0, count, math.max(math.ceil(early), 1)}
    end
  end
  if ARGV[5] == '1' then
    redis.call('ZADD', key, now, ARGV[4])
    redis.call('PEXPIRE', key, window)
    count = count + 1
  end
  return {1, count, 0}
end
local wait = window
if limit > 0 then
  local leaving = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
  wait = tonumber(leaving[2]) + window - now
end
if wait < 1 then wait = 1 end
return {0, count, wait}
"""


class RedisBackend:
    """A sorted set per key, changed by one Lua script (atomic on the Redis server)."""

    def __init__(self, url: str, *, prefix: str = "throttle:") -> None:
        from redis.asyncio import Redis

        self.url = url
        self.prefix = prefix
        self.client = Redis.from_url(url)
        self._script = self.client.register_script(_HIT_SCRIPT)

    async def _run(
        self,
        key: str,
        *,
        now: float,
        window: float,
        limit: int,
        record: bool,
        backoff: Backoff | None,
    ) -> Decision:
        member = f"{now:.6f}:{secrets.token_hex(4)}"
        spacing = (
            [backoff.free, int(backoff.first * 1000), int(backoff.longest * 1000)]
            if backoff is not None
            else [-1, 0, 0]
        )
        allowed, count, wait_ms = await self._script(
            keys=[self.prefix + key],
            args=[
                int(now * 1000),
                max(int(window * 1000), 1),
                limit,
                member,
                int(record),
                *spacing,
            ],
        )
        if allowed:
            return Decision(True, int(count), limit, stamp=member if record else None)
        return Decision(False, int(count), limit, timedelta(milliseconds=int(wait_ms)))

    async def hit(
        self, key: str, *, now: float, window: float, limit: int, backoff: Backoff | None = None
    ) -> Decision:
        return await self._run(
            key, now=now, window=window, limit=limit, record=True, backoff=backoff
        )

    async def peek(
        self, key: str, *, now: float, window: float, limit: int, backoff: Backoff | None = None
    ) -> Decision:
        return await self._run(
            key, now=now, window=window, limit=limit, record=False, backoff=backoff
        )

    async def undo(self, key: str, stamp: str) -> None:
        await self.client.zrem(self.prefix + key, stamp)

    async def reset(self, key: str) -> None:
        await self.client.delete(self.prefix + key)

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()
