"""The live balance: each process hears every ledger transfer and wakes the subscribers of
that customer, who re-read their wallet and are sent the new balance when it moved.

Where the news comes from (app.ledger.postings): on PostgreSQL, a trigger NOTIFYs
`ledger.TRANSFERS_CHANNEL` when a transfer commits, and each process keeps one listening
connection (reconnected when lost; meanwhile subscribers re-read their wallet every
`LIVE_FALLBACK_POLL_SECONDS`, and all re-read once it is back). On SQLite the ledger calls
this process at once; the re-read waits for the writer's commit.

A subscriber holds at most one pending signal (the latest cause): a subscriber that does
not keep up, or a client that never reads, costs the same memory as an idle one. Since a
subscriber sends only a balance that differs from the last it sent, a change rolled back,
or a signal that arrives twice, sends nothing.

Redis is not used here, even when REDIS_URL is set: NOTIFY from the trigger is
transactional, costs the writer no extra round trip, and no write path can forget it;
a Redis publish would have to be sent after each commit by every path that moves money.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from app import db, ledger
from app.core import clock
from app.program.service import get_program
from app.settings import Settings

log = logging.getLogger(__name__)

# Seconds between attempts to listen again after the listening connection was lost.
RECONNECT_DELAY = 1.0


@dataclass(frozen=True)
class BalanceChange:
    """A customer's balance after it moved, in minor units of `currency`; `cause` is the
    ledger's transfer kind (CREDIT, MATURE, RESERVE, ...), None when the change was found
    by re-reading without an announcement."""

    currency: str
    available: int
    pending: int
    reserved: int
    cause: str | None
    at: datetime


class BalanceWatch:
    """One subscriber's mailbox: whether something moved since it last looked, and the
    latest cause. Never more than that, however many transfers arrive."""

    __slots__ = ("_cause", "_moved", "customer_id")

    def __init__(self, customer_id: int) -> None:
        self.customer_id = customer_id
        self._moved = asyncio.Event()
        self._cause: str | None = None

    def signal(self, cause: str | None) -> None:
        if cause is not None or not self._moved.is_set():
            self._cause = cause
        self._moved.set()

    @property
    def pending(self) -> int:
        """Signals waiting to be read: 0 or 1."""
        return 1 if self._moved.is_set() else 0

    async def next(self, poll_seconds: float | None) -> str | None:
        """The latest cause, once something moved (or `poll_seconds` passed: None)."""
        if poll_seconds is None:
            await self._moved.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._moved.wait(), poll_seconds)
        cause, self._cause = self._cause, None
        self._moved.clear()
        return cause


class _Broker:
    """This process's subscribers, by customer, and its source of announcements."""

    def __init__(self) -> None:
        self.watches: dict[int, set[BalanceWatch]] = {}
        self.settings: Settings | None = None
        self.listener: asyncpg.Connection | None = None
        self.task: asyncio.Task[None] | None = None
        self.remove_hook: Any = None
        self.dsn = ""

    @property
    def listening(self) -> bool:
        """Whether announcements arrive: on SQLite always, on PostgreSQL while connected."""
        return self.settings is not None and (
            self.remove_hook is not None or self.listener is not None
        )

    def announce(self, customer_id: int, cause: str | None) -> None:
        for watch in self.watches.get(customer_id, ()):
            watch.signal(cause)

    def wake_all(self) -> None:
        for watches in self.watches.values():
            for watch in watches:
                watch.signal(None)

    def on_notification(self, connection: Any, pid: int, channel: str, payload: object) -> None:
        customer, _, kind = str(payload).partition(":")
        if customer.isdigit():
            self.announce(int(customer), kind or None)

    def on_lost(self, connection: Any) -> None:
        log.warning("the live balance's listening connection was lost; subscribers poll")
        self.listener = None
        self.wake_all()  # each falls back to polling from now on
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.listen_until_connected())

    async def connect(self) -> None:
        # Named with the process id, so that an operator sees whose listener it is.
        name = f"cashback-live:{os.getpid()}"
        listener = await asyncpg.connect(self.dsn, server_settings={"application_name": name})
        await listener.add_listener(ledger.TRANSFERS_CHANNEL, self.on_notification)
        listener.add_termination_listener(self.on_lost)
        self.listener = listener
        # Whatever moved while nobody listened is read anew.
        self.wake_all()

    async def listen_until_connected(self) -> None:
        while self.listener is None and self.settings is not None:
            try:
                await self.connect()
            except (TimeoutError, OSError, asyncpg.PostgresError) as error:
                log.warning("the live balance cannot listen yet: %s", error)
                await asyncio.sleep(RECONNECT_DELAY)


_broker = _Broker()


async def start(settings: Settings) -> None:
    """Hear the ledger's transfers in this process: at startup, or with the first
    subscriber. Nothing to do when it already listens to this database."""
    if _broker.settings is not None:
        if _broker.settings.database_url == settings.database_url:
            return
        await stop()
    # Set before the first await: a second subscriber arriving meanwhile waits for nothing.
    _broker.settings = settings
    if not db.is_postgres(settings.database_url):
        _broker.remove_hook = ledger.on_transfer(_broker.announce)
        return
    _broker.dsn = settings.database_url.replace("postgres://", "postgresql://", 1).replace(
        "asyncpg://", "postgresql://", 1
    )
    try:
        await _broker.connect()
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        log.warning("the live balance cannot listen yet: %s", error)
        _broker.task = asyncio.get_running_loop().create_task(_broker.listen_until_connected())


async def stop() -> None:
    task, listener, remove_hook = _broker.task, _broker.listener, _broker.remove_hook
    _broker.task, _broker.listener, _broker.remove_hook = None, None, None
    _broker.settings = None
    if remove_hook is not None:
        remove_hook()
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if listener is not None:
        listener.remove_termination_listener(_broker.on_lost)
        with contextlib.suppress(Exception):
            await listener.close()
    # Subscribers still open fall back to polling.
    _broker.wake_all()


def announce(customer_id: int, cause: str | None) -> None:
    """Wake `customer_id`'s subscribers in this process (what a transfer's announcement
    does)."""
    _broker.announce(customer_id, cause)


def is_listening() -> bool:
    """Whether this process hears balance changes as they commit (else it polls)."""
    return _broker.listening


def subscriber_count() -> int:
    """Open balance subscriptions in this process."""
    return sum(len(watches) for watches in _broker.watches.values())


def pending_signals() -> int:
    """Signals waiting in this process's subscribers' mailboxes: at most one each."""
    return sum(watch.pending for watches in _broker.watches.values() for watch in watches)


@contextlib.contextmanager
def watching(customer_id: int) -> Iterator[BalanceWatch]:
    """A mailbox for `customer_id`'s announcements, for as long as the block runs."""
    watch = BalanceWatch(customer_id)
    _broker.watches.setdefault(customer_id, set()).add(watch)
    try:
        yield watch
    finally:
        watches = _broker.watches.get(customer_id)
        if watches is not None:
            watches.discard(watch)
            if not watches:
                del _broker.watches[customer_id]


async def balance_changes(
    customer_id: int, settings: Settings
) -> AsyncGenerator[BalanceChange, None]:
    """The customer's balance each time it moves, from now on, for as long as the caller
    iterates."""
    await start(settings)
    currency = (await get_program()).currency_code
    with watching(customer_id) as watch:
        # Read after the mailbox is open: a change between the two is not missed.
        last = await _totals(customer_id, currency)
        while True:
            poll = None if _broker.listening else settings.live_fallback_poll_seconds
            cause = await watch.next(poll)
            now = await _totals(customer_id, currency)
            if now == last:
                continue
            last = now
            available, pending, reserved = now
            yield BalanceChange(currency, available, pending, reserved, cause, clock.now())


async def _totals(customer_id: int, currency: str) -> tuple[int, int, int]:
    balance = await ledger.get_balance(customer_id=customer_id, currency=currency)
    return balance.available, balance.pending, balance.reserved
