"""Throttling use cases: sliding-window limits on named keys.

    decision = await throttling.hit(key=f"redeem:{store_id}", window=timedelta(minutes=15),
                                    limit=5)
    if not decision.allowed: ...            # the 6th attempt in 15 minutes

`hit` records an attempt only while the key is under its limit, atomically, so parallel
attempts never get past it. To count failures without letting parallel attempts race past
a check, record first and take the hit back when the attempt turns out fine:

    decision = await throttling.enforce(key=key, window=window, limit=limit)  # or raises
    if ok: await throttling.undo(key=key, decision=decision)

A `Backoff` turns a hard wall into growing waits: past its free hits, each attempt must
come a little later than the one before (1 s, 2 s, 4 s, ...), which slows a guesser to a
crawl while whoever proves more (a known device) can be let through by other keys.

Call these outside a transaction of your own: a recorded failure must stay recorded when
the caller's work rolls back. The backend is the database, or Redis when the settings name
REDIS_URL (`configure(settings)`; the process's settings otherwise).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from app.core import clock
from app.core.errors import RateLimited
from app.settings import Settings, get_settings
from app.throttling.backends import Backend, Backoff, DatabaseBackend, Decision, RedisBackend

__all__ = [
    "Backoff",
    "Decision",
    "backend_for",
    "check",
    "configure",
    "enforce",
    "hit",
    "purge",
    "reset",
    "undo",
    "use_backend",
]

_backend: Backend | None = None
_redis_backends: dict[str, RedisBackend] = {}


def backend_for(settings: Settings) -> Backend:
    """Redis when `settings.redis_url` is set (one client per URL), else the database."""
    if settings.redis_url:
        existing = _redis_backends.get(settings.redis_url)
        if existing is None:
            existing = _redis_backends[settings.redis_url] = RedisBackend(settings.redis_url)
        return existing
    return DatabaseBackend()


def configure(settings: Settings) -> Backend:
    """Choose the backend from `settings` (at start-up)."""
    return use_backend(backend_for(settings))


def use_backend(backend: Backend | None) -> Backend:
    """Use `backend` from now on (None: choose again from the process's settings)."""
    global _backend
    _backend = backend
    return current_backend()


def current_backend() -> Backend:
    global _backend
    if _backend is None:
        _backend = backend_for(get_settings())
    return _backend


def _key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _check_limits(window: timedelta, limit: int) -> float:
    if window <= timedelta(0):
        raise ValueError("window must be positive")
    if limit < 0:
        raise ValueError("limit must not be negative")
    return window.total_seconds()


async def hit(
    *, key: str, window: timedelta, limit: int, backoff: Backoff | None = None
) -> Decision:
    """Record an attempt on `key` if fewer than `limit` were recorded in the last `window`
    (and, with `backoff`, its wait after the latest hit has passed). A refused attempt is
    not recorded, so the key frees up when the window (or the wait) has passed."""
    seconds = _check_limits(window, limit)
    now = clock.now().timestamp()
    return await current_backend().hit(
        _key(key), now=now, window=seconds, limit=limit, backoff=backoff
    )


async def check(
    *, key: str, window: timedelta, limit: int, backoff: Backoff | None = None
) -> Decision:
    """Whether an attempt on `key` would be allowed now, recording nothing."""
    seconds = _check_limits(window, limit)
    now = clock.now().timestamp()
    return await current_backend().peek(
        _key(key), now=now, window=seconds, limit=limit, backoff=backoff
    )


async def enforce(
    *,
    key: str,
    window: timedelta,
    limit: int,
    message: str | None = None,
    backoff: Backoff | None = None,
) -> Decision:
    """`hit`, raising RateLimited (with the seconds to wait) when the key is at its limit."""
    decision = await hit(key=key, window=window, limit=limit, backoff=backoff)
    if not decision.allowed:
        raise RateLimited(message, retry_after=decision.retry_after_seconds)
    return decision


async def undo(*, key: str, decision: Decision) -> None:
    """Take back the hit that `decision` recorded (the attempt turned out fine)."""
    if decision.stamp is not None:
        await current_backend().undo(_key(key), decision.stamp)


async def reset(*, key: str) -> None:
    """Forget every hit on `key`."""
    await current_backend().reset(_key(key))


async def purge() -> int:
    """Delete database rows whose hits have all left their windows (Redis expires its own
    keys). For a periodic job; returns how many rows went."""
    backend = current_backend()
    if isinstance(backend, DatabaseBackend):
        return await backend.purge(before=clock.now())
    return 0
