"""The live balance: each process hears the ledger transfers of the customers subscribed
to in it and wakes their subscribers, who re-read their wallet and are sent the new
balance when it moved.

Where the news comes from (app.ledger.postings): on PostgreSQL, a trigger NOTIFYs
`ledger.TRANSFERS_CHANNEL` when a transfer of a watched customer commits; each process
keeps one listening connection and registers under its backend pid the customers it has
subscribers for (`ledger.watch_transfers`; reconnected and registered again when lost;
meanwhile subscribers re-read their wallet every `LIVE_FALLBACK_POLL_SECONDS`, and all
re-read once it is back). Credits maturing or expiring are pushed when the wallet settles
(the worker's bulk settling, or any read of a wallet that is due). On SQLite the ledger calls
this process at once; the re-read waits for the writer's commit (with several processes on
one SQLite file each hears only its own transfers, so subscribers poll as well).

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
from collections.abc import AsyncGenerator, AsyncIterator
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
# Seconds after subscribing when the wallet is read again, announced or not: a movement
# written just before the customer was watched commits unannounced (statements stop at
# DB_STATEMENT_TIMEOUT_MS, 5 s by default).
EARLY_REREADS = (1.0, 10.0)


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
        # The listening backend's pid, under which the watched customers are registered
        # (ledger.watch_transfers); registrations happen one at a time.
        self.pid: int | None = None
        self.registry = asyncio.Lock()
        self.unregistering: set[asyncio.Task[None]] = set()

    @property
    def listening(self) -> bool:
        """Whether every announcement arrives: on PostgreSQL while connected; on SQLite
        when this is the only process (several hear only their own transfers)."""
        if self.listener is not None:
            return True
        return (
            self.remove_hook is not None
            and self.settings is not None
            and self.settings.workers <= 1
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
        self.listener, self.pid = None, None
        self.wake_all()  # each falls back to polling from now on
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.listen_until_connected())

    async def connect(self) -> None:
        # Named with the process id, so that an operator sees whose listener it is.
        name = f"cashback-live:{os.getpid()}"
        listener = await asyncpg.connect(self.dsn, server_settings={"application_name": name})
        await listener.add_listener(ledger.TRANSFERS_CHANNEL, self.on_notification)
        listener.add_termination_listener(self.on_lost)
        pid = listener.get_server_pid()
        try:
            async with self.registry:
                await ledger.forget_gone_listeners()
                if self.watches:
                    await ledger.watch_transfers(list(self.watches), pid)
                self.listener, self.pid = listener, pid
        except BaseException:
            listener.remove_termination_listener(self.on_lost)
            await listener.close()
            raise
        # Whatever moved while nobody listened is read anew.
        self.wake_all()

    async def register(self, customer_id: int) -> None:
        """Have the customer's transfers announced to this process (PostgreSQL)."""
        async with self.registry:
            if self.pid is not None and customer_id in self.watches:
                await ledger.watch_transfers([customer_id], self.pid)

    def unregister_soon(self, customer_id: int) -> None:
        """No subscriber of this customer is left here: stop the announcements (in the
        background: a subscription ends without waiting for the database)."""
        if self.pid is None:
            return
        task = asyncio.get_running_loop().create_task(self._unregister(customer_id))
        self.unregistering.add(task)
        task.add_done_callback(self.unregistering.discard)

    async def _unregister(self, customer_id: int) -> None:
        async with self.registry:
            if self.pid is None or customer_id in self.watches:
                return  # watched again meanwhile, or nothing registered any more
            try:
                await ledger.unwatch_transfers([customer_id], self.pid)
            except Exception:  # a row left behind costs an announcement nobody hears
                log.warning("could not stop announcing a customer's transfers", exc_info=True)

    async def listen_until_connected(self) -> None:
        while self.listener is None and self.settings is not None:
            try:
                await self.connect()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # whatever the database says, try again shortly
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
    except Exception as error:  # served meanwhile by polling; connected in the background
        log.warning("the live balance cannot listen yet: %s", error)
        _broker.task = asyncio.get_running_loop().create_task(_broker.listen_until_connected())


async def stop() -> None:
    task, listener, remove_hook = _broker.task, _broker.listener, _broker.remove_hook
    pid = _broker.pid
    _broker.task, _broker.listener, _broker.remove_hook = None, None, None
    _broker.settings, _broker.pid = None, None
    if remove_hook is not None:
        remove_hook()
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if listener is not None:
        listener.remove_termination_listener(_broker.on_lost)
        if pid is not None:
            try:
                await ledger.unwatch_transfers(None, pid)
            except Exception:  # left behind, they are dropped by the next process to connect
                log.warning("could not stop announcing watched customers", exc_info=True)
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


@contextlib.asynccontextmanager
async def watching(customer_id: int) -> AsyncIterator[BalanceWatch]:
    """A mailbox for `customer_id`'s announcements, for as long as the block runs."""
    watch = BalanceWatch(customer_id)
    first = customer_id not in _broker.watches
    _broker.watches.setdefault(customer_id, set()).add(watch)
    try:
        if first:
            await _broker.register(customer_id)
        yield watch
    finally:
        watches = _broker.watches.get(customer_id)
        if watches is not None:
            watches.discard(watch)
            if not watches:
                del _broker.watches[customer_id]
                _broker.unregister_soon(customer_id)


async def balance_changes(
    customer_id: int, settings: Settings
) -> AsyncGenerator[BalanceChange, None]:
    """The customer's balance each time it moves, from now on, for as long as the caller
    iterates."""
    await start(settings)
    currency = (await get_program()).currency_code
    async with watching(customer_id) as watch:
        # Read after the mailbox is open: a change between the two is not missed, except
        # one whose transfer was written before the customer was watched and committed
        # after this read; the early re-reads catch that.
        last = await _totals(customer_id, currency)
        loop = asyncio.get_running_loop()
        checks = [loop.time() + after for after in EARLY_REREADS]
        while True:
            cause = await watch.next(_wait(checks, loop.time(), settings))
            now = await _totals(customer_id, currency)
            if now == last:
                continue
            last = now
            available, pending, reserved = now
            yield BalanceChange(currency, available, pending, reserved, cause, clock.now())


def _wait(checks: list[float], now: float, settings: Settings) -> float | None:
    """How long to wait for a signal: for ever while every change is heard; else until the
    next poll, and never past the next early re-read (`checks`, consumed as they pass)."""
    while checks and checks[0] <= now:
        checks.pop(0)
    wait = None if _broker.listening else settings.live_fallback_poll_seconds
    if checks:
        wait = checks[0] - now if wait is None else min(wait, checks[0] - now)
    return wait


async def _totals(customer_id: int, currency: str) -> tuple[int, int, int]:
    balance = await ledger.get_balance(customer_id=customer_id, currency=currency)
    return balance.available, balance.pending, balance.reserved
