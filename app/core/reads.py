"""Reads shared by the fields of one query: a screen asks several features for the same
row (the balance for the balance card and for "affordable with your balance"; the
purchase profile for offers and for suggestions), and each is read once per request.

Only inside `shared_reads()`, which the GraphQL layer opens around a query operation (a
mutation reads what it has just written, so it never shares); elsewhere `read_once` simply
reads. Services stay unaware of GraphQL: they name what they read by a key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_reads: ContextVar[dict[Hashable, asyncio.Future[Any]] | None] = ContextVar(
    "shared_reads", default=None
)


@contextmanager
def shared_reads() -> Iterator[None]:
    """Within the block (and the tasks it starts), equal keys are read once."""
    token = _reads.set({})
    try:
        yield
    finally:
        _reads.reset(token)


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
