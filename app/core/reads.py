"""Reads shared by the fields of one query: a screen asks several features for the same
row (the balance for the balance card and for "affordable with your balance"; the
purchase profile for offers and for suggestions), and each is read once per request.

Only inside `shared_reads()`, which the GraphQL layer opens around a query operation (a
mutation reads what it has just written, so it never shares); elsewhere `read_once` simply
reads. Services stay unaware of GraphQL: they name what they read by a key.

A feature may also have a row about the signed-in customer read with the statement that
confirms their session (`ride_with_caller`): the wallet, the tier's spend and the purchase
profile then cost no statement of their own when a screen asks for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Hashable,
    Mapping,
    Sequence,
)
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_reads: ContextVar[dict[Hashable, asyncio.Future[Any]] | None] = ContextVar(
    "shared_reads", default=None
)


class shared_reads:  # named as the function it stands for: `with shared_reads():`
    """Within the block (and the tasks it starts), equal keys are read once. (A class, not
    a generator: it wraps every query.)"""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _reads.set({})

    def __exit__(self, *exc_info: object) -> None:
        _reads.reset(self._token)


async def read_once(key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
    """What `read()` gives; inside `shared_reads()`, read once per key (concurrent callers
    wait for the same read, and a failed read fails each of them)."""
    reads = _reads.get()
    if reads is None:
        return await read()
    found = reads.get(key)
    if found is None:
        found = asyncio.ensure_future(read())
        reads[key] = found
    return await asyncio.shield(found)


def remember_read(key: Hashable, value: object) -> None:
    """Inside `shared_reads()`, what `read_once(key, ...)` answers: a row read with another."""
    reads = _reads.get()
    if reads is not None and key not in reads:
        known: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        known.set_result(value)
        reads[key] = known


def remember(kind: str, key: Hashable, value: object) -> None:
    """Inside `shared_reads()`, what `read_each_once(kind, ...)` answers for `key`: a row read
    with another (the caller's birth date with their account)."""
    reads = _reads.get()
    if reads is not None and (kind, key) not in reads:
        known: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        known.set_result({key: value})
        reads[(kind, key)] = known


async def read_each_once(
    kind: str, keys: Sequence[K], read: Callable[[list[K]], Awaitable[Mapping[K, V]]]
) -> dict[K, V | None]:
    """`read(keys)` for a batch of keys (a mapping that may lack some); inside
    `shared_reads()`, each key is read once per request, whichever batch first asked."""
    reads = _reads.get()
    if reads is None:
        found = await read(list(dict.fromkeys(keys)))
        return {key: found.get(key) for key in keys}
    missing = [key for key in dict.fromkeys(keys) if (kind, key) not in reads]
    if missing:
        batch = asyncio.ensure_future(read(missing))
        for key in missing:
            reads[(kind, key)] = batch
    answers: dict[K, V | None] = {}
    for key in keys:
        found = await asyncio.shield(reads[(kind, key)])
        answers[key] = found.get(key)
    return answers


@dataclass(frozen=True, slots=True)
class Rider:
    """A read about the signed-in customer joined to the statement that confirms their
    session: `join` is joined to their row (`u`, in the users table) with `params` for its
    `?` marks; `columns` are selected, each aliased with the rider's own prefix; `keep(row)`
    remembers what was read under the key its service reads it by (`remember_read`,
    `remember`), or nothing when the service must read it itself (a wallet due to settle)."""

    join: str
    columns: str
    params: tuple[Any, ...]
    keep: Callable[[Mapping[str, Any]], None]


# (customer id, the program's currency, now) -> the rider for that caller.
RiderFactory = Callable[[int, str, datetime], Rider]
# By the name of the read each answers (the first part of its `read_once` key).
_riders: dict[str, RiderFactory] = {}


def ride_with_caller(read: str) -> Callable[[RiderFactory], RiderFactory]:
    """Register a rider (a decorator, at import) for the read named `read`: it joins the
    caller's statement."""

    def register(factory: RiderFactory) -> RiderFactory:
        _riders[read] = factory
        return factory

    return register


def sharing() -> bool:
    """Whether reads are shared here (inside `shared_reads()`), so riders are worth it."""
    return _reads.get() is not None


def riders_for(
    customer_id: int, currency: str, now: datetime, reads: Collection[str] | None = None
) -> list[Rider]:
    """The riders of a customer's statement (of the `reads` named, or all): only inside
    `shared_reads()`, where what they read is kept for the fields that ask for it."""
    if not sharing():
        return []
    return [
        factory(customer_id, currency, now)
        for read, factory in _riders.items()
        if reads is None or read in reads
    ]
