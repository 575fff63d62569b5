"""Small, rarely changed data kept in each process (program settings, tiers, rules): read
once, then served from memory until a change to it is announced.

A service that changes such data calls `await changed(name)` inside the transaction that
changes it. On PostgreSQL that sends a NOTIFY, which PostgreSQL delivers at commit to every
process's listening connection (opened by `start_listening`), so all processes forget the
value as soon as the change is visible; until the listener is connected (and whenever it
is lost) nothing is served from memory. On SQLite, one process serves the database and the
change is forgotten in that process at once (with several worker processes, nothing is kept).

A read that began before a change never stores what it read (a generation check), so a
value that was current when read cannot outlive the change that replaced it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import asyncpg

from app import db
from app.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

CHANNEL = "app_cache"
# Seconds between attempts to listen again after the listening connection was lost.
RECONNECT_DELAY = 1.0

_MISSING: Any = object()


class Cached(Generic[T]):
    """One value, loaded by `load` and kept until a change to `name` is announced."""

    def __init__(self, name: str, load: Callable[[], Awaitable[T]]) -> None:
        if name in _registry:
            raise ValueError(f"a cached value named {name!r} exists already")
        self.name = name
        self._load = load
        self._value: Any = _MISSING
        self._generation = 0
        _registry[name] = self

    async def get(self) -> T:
        if self._value is not _MISSING and _state.serving:
            return self._value
        generation = self._generation
        value = await self._load()
        if generation == self._generation and _state.serving:
            self._value = value
        return value

    def in_memory(self) -> T | None:
        """The value if it is served from memory now, else None (nothing is read)."""
        if self._value is not _MISSING and _state.serving:
            return self._value
        return None

    async def kept(self) -> T | None:
        """The value when this process may serve it from memory (loaded once if need be);
        None when it may not. For values too large to load on every read: the caller then
        reads just what it needs."""
        if not _state.serving:
            return None
        return await self.get()

    def forget(self) -> None:
        self._generation += 1
        self._value = _MISSING


class _State:
    # Whether values may be served from memory: after `start_listening`, on SQLite when one
    # process serves the file, on PostgreSQL while the listening connection is up.
    serving = False
    listener: asyncpg.Connection | None = None
    task: asyncio.Task[None] | None = None


_registry: dict[str, Cached[Any]] = {}
_state = _State()


def forget_all() -> None:
    for cached in _registry.values():
        cached.forget()


async def changed(name: str) -> None:
    """Announce, inside the writing transaction, that the value `name` changes."""
    _registry[name].forget()
    if db.dialect() == "postgres":
        await db.execute("SELECT pg_notify(?, ?)", CHANNEL, name)


async def changed_everything() -> None:
    """Announce that any cached value may have changed (after writes that bypass the
    services, such as emptying tables)."""
    for name in list(_registry):
        await changed(name)


def _on_notification(connection: Any, pid: int, channel: str, payload: object) -> None:
    cached = _registry.get(str(payload))
    if cached is not None:
        cached.forget()


def _on_lost(connection: Any) -> None:
    log.warning("the cache's listening connection was lost; reading from the database")
    _state.serving = False
    _state.listener = None
    forget_all()
    if _state.task is None or _state.task.done():
        _state.task = asyncio.get_running_loop().create_task(_listen_until_connected())


_dsn = ""


async def _connect() -> None:
    listener = await asyncpg.connect(_dsn, server_settings={"application_name": "cashback-cache"})
    await listener.add_listener(CHANNEL, _on_notification)
    listener.add_termination_listener(_on_lost)
    _state.listener = listener
    # Whatever changed while nobody listened is read anew.
    forget_all()
    _state.serving = True


async def _listen_until_connected() -> None:
    while _state.listener is None:
        try:
            await _connect()
        except (TimeoutError, OSError, asyncpg.PostgresError) as error:
            log.warning("the cache cannot listen for changes yet: %s", error)
            await asyncio.sleep(RECONNECT_DELAY)


async def start_listening(settings: Settings) -> None:
    """Serve from memory: on PostgreSQL once this process listens for changes."""
    global _dsn
    forget_all()
    if not db.is_postgres(settings.database_url):
        # Several processes on one SQLite file would not hear each other's changes.
        _state.serving = settings.workers <= 1
        return
    _state.serving = False
    _dsn = settings.database_url.replace("postgres://", "postgresql://", 1).replace(
        "asyncpg://", "postgresql://", 1
    )
    try:
        await _connect()
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        log.warning("the cache cannot listen for changes yet: %s", error)
        _state.task = asyncio.get_running_loop().create_task(_listen_until_connected())


async def stop_listening() -> None:
    task, listener = _state.task, _state.listener
    _state.task, _state.listener = None, None
    _state.serving = False
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if listener is not None:
        listener.remove_termination_listener(_on_lost)
        await listener.close()
    forget_all()
