"""Merchants and stores kept in each process's memory (`app.cache`).

Almost every screen shows merchants (on offers, products, purchases) and estimates cashback
at a merchant's store, while merchants and stores are few, made by admins and never
changed afterwards. So each process keeps them all: read with one statement per table,
forgotten on every process when one is created (`changed` in the creating transaction).

What is kept is read-only (frozen records in mappings nobody else holds), so no caller can
change what the next request sees. A table with more than `MAX_KEPT_ROWS` rows is not kept:
the service then reads what it needs, as it does while the process may not serve from
memory (`Cached.kept` is None) and for an id memory does not know (a row created a moment
ago, whose notice has not arrived yet).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from tortoise.transactions import in_transaction

from app import cache
from app.cache import Cached
from app.catalog.models import Merchant, Store
from app.catalog.values import Channel

# Beyond this many rows a table stays in the database: memory per process stays bounded
# (a few megabytes per table at this size), and so does the read that every process
# makes again after each creation.
MAX_KEPT_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class MerchantRecord:
    """A merchant as read (the columns of its row)."""

    id: int
    name: str
    logo_url: str | None
    cashback_percent: Decimal
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoreRecord:
    """A store as read (the columns of its row)."""

    id: int
    merchant_id: int
    name: str
    channel: Channel
    created_at: datetime


@dataclass(frozen=True, slots=True)
class KeptStores:
    by_id: MappingProxyType[int, StoreRecord]
    # Each merchant's stores by id (a merchant without stores is absent).
    of_merchant: MappingProxyType[int, tuple[StoreRecord, ...]]


def merchant_record(row: Merchant) -> MerchantRecord:
    return MerchantRecord(
        id=row.id,
        name=row.name,
        logo_url=row.logo_url,
        cashback_percent=Decimal(row.cashback_percent),
        created_at=row.created_at,
    )


def store_record(row: Store) -> StoreRecord:
    return StoreRecord(
        id=row.id,
        merchant_id=row.merchant_id,
        name=row.name,
        channel=Channel(row.channel),
        created_at=row.created_at,
    )


async def _load_merchants() -> MappingProxyType[int, MerchantRecord] | None:
    rows = await Merchant.all().order_by("id").limit(MAX_KEPT_ROWS + 1)
    if len(rows) > MAX_KEPT_ROWS:
        return None
    return MappingProxyType({row.id: merchant_record(row) for row in rows})


async def _load_stores() -> KeptStores | None:
    rows = await Store.all().order_by("id").limit(MAX_KEPT_ROWS + 1)
    if len(rows) > MAX_KEPT_ROWS:
        return None
    of_merchant: dict[int, list[StoreRecord]] = {}
    for row in rows:
        of_merchant.setdefault(row.merchant_id, []).append(store_record(row))
    return KeptStores(
        by_id=MappingProxyType(
            {store.id: store for stores in of_merchant.values() for store in stores}
        ),
        of_merchant=MappingProxyType({m: tuple(stores) for m, stores in of_merchant.items()}),
    )


_merchants = Cached("catalog-merchants", _load_merchants)
_stores = Cached("catalog-stores", _load_stores)


async def kept_merchants() -> MappingProxyType[int, MerchantRecord] | None:
    """Every merchant by id, or None when they are not served from memory."""
    return await _merchants.kept()


async def kept_stores() -> KeptStores | None:
    """Every store, or None when they are not served from memory."""
    return await _stores.kept()


@asynccontextmanager
async def creating_merchant() -> AsyncIterator[None]:
    """A transaction for the block that creates a merchant, announced to every process."""
    async with _changing(_merchants):
        yield


@asynccontextmanager
async def creating_store() -> AsyncIterator[None]:
    """A transaction for the block that creates a store, announced to every process."""
    async with _changing(_stores):
        yield


@asynccontextmanager
async def _changing(value: Cached[Any]) -> AsyncIterator[None]:
    async with in_transaction():
        yield
        await cache.changed(value.name)
    # Forgotten again after the commit: a read in this process between the notice and the
    # commit may have kept the table without the new row (PostgreSQL's notice reaches
    # this process too and forgets it; on SQLite nothing else would).
    value.forget()
