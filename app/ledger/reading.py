"""What the customer and the program see: balances, activity, totals. A read that finds a
wallet due settles it first, so what it shows is right to the moment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app import db
from app.core import clock
from app.core.pagination import Page, keyset_page
from app.core.reads import Rider, read_once, remember_read, ride_with_caller
from app.ledger import wallets
from app.ledger.models import Entry as EntryRow
from app.ledger.settling import settle_wallet
from app.ledger.values import (
    CLAWBACK,
    EXPIRED,
    FUNDING,
    SPENT,
    Balance,
    Entry,
    ProgramTotals,
    utc,
)


def _balance_of(currency: str, row: Mapping[str, Any] | None) -> Balance:
    if row is None:
        return Balance(currency, 0, 0, 0, 0, None, None)
    amount = row["next_expiry_amount"]
    return Balance(
        currency=currency,
        available=int(row["available"]),
        pending=int(row["pending"]),
        reserved=int(row["reserved"]),
        lifetime_earned=int(row["lifetime_earned"]),
        next_expiry_amount=int(amount) if amount is not None else None,
        next_expiry_at=db.to_datetime(row["next_expiry_at"]),
    )


async def get_balance(*, customer_id: int, currency: str) -> Balance:
    """The wallet's totals: one statement, however long its history (and once for all the
    fields of a query). A wallet whose next scheduled change has passed settles first; a
    customer with no wallet has zero."""
    return await read_once(
        ("ledger.balance", customer_id, currency), lambda: _read_balance(customer_id, currency)
    )


_WALLET = (
    "available", "pending", "reserved", "lifetime_earned", "next_expiry_amount",
    "next_expiry_at", "next_change_at", "customer_id",
)  # fmt: skip


@ride_with_caller("ledger.balance")
def _wallet_with_caller(customer_id: int, currency: str, now: datetime) -> Rider:
    """The signed-in customer's wallet, read with their session (see `get_balance`)."""

    def keep(row: Mapping[str, Any]) -> None:
        found = None
        if row["rw_customer_id"] is not None:
            found = {column: row[f"rw_{column}"] for column in _WALLET}
            if wallets.is_due(found["next_change_at"], now):
                return  # `get_balance` settles it first
        remember_read(("ledger.balance", customer_id, currency), _balance_of(currency, found))

    return Rider(
        join="LEFT JOIN ledger_wallets rw ON rw.customer_id = u.id AND rw.currency = ?",
        columns=", ".join(f"rw.{column} AS rw_{column}" for column in _WALLET),
        params=(currency,),
        keep=keep,
    )


async def _read_balance(customer_id: int, currency: str) -> Balance:
    row = await db.one(
        "SELECT available, pending, reserved, lifetime_earned, next_expiry_amount,"
        " next_expiry_at, next_change_at FROM ledger_wallets"
        " WHERE customer_id = ? AND currency = ?",
        customer_id,
        currency,
    )
    if row is not None:
        now = clock.now()
        if wallets.is_due(row["next_change_at"], now):
            row = await settle_wallet(customer_id, currency, now)
    return _balance_of(currency, row)


def _entry_of(row: EntryRow) -> Entry:
    return Entry(
        id=row.id,
        kind=row.kind,
        status=row.status,
        amount=row.amount,
        currency=row.currency,
        occurred_at=row.occurred_at,
        available_at=row.available_at,
        expires_at=row.expires_at,
        description=row.description,
        merchant_id=row.merchant_id,
        source_type=row.source_type,
        source_id=row.source_id,
        details=db.from_json(row.details),
    )


async def list_entries(*, customer_id: int, first: int, after: str | None) -> Page[Entry]:
    """The customer's activity, newest first (keyset cursors), with current statuses."""
    now = clock.now()
    found = await db.rows(
        "SELECT currency, next_change_at FROM ledger_wallets WHERE customer_id = ?",
        customer_id,
    )
    for wallet in found:
        if wallets.is_due(wallet["next_change_at"], now):
            await settle_wallet(customer_id, wallet["currency"], now)
    page = await keyset_page(
        EntryRow.filter(customer_id=customer_id),
        first=first,
        after=after,
        order_by=("-occurred_at", "-id"),
    )
    return Page(
        items=[_entry_of(row) for row in page.items],
        cursors=page.cursors,
        has_next_page=page.has_next_page,
    )


async def get_entries(*, entry_ids: list[int]) -> dict[int, Entry]:
    """Entries by id (for loaders)."""
    if not entry_ids:
        return {}
    return {row.id: _entry_of(row) for row in await EntryRow.filter(id__in=entry_ids)}


async def program_totals(*, currency: str, start: datetime, end: datetime) -> ProgramTotals:
    """Credits issued, redeemed (captured), expired and taken back in [start, end), and the
    outstanding liability now (pending + available + reserved of every wallet)."""
    moved = await db.rows(
        "SELECT t.kind AS kind, p.account AS account, SUM(p.amount) AS total"
        " FROM ledger_postings p JOIN ledger_transfers t ON t.id = p.transfer_id"
        " WHERE p.currency = ? AND t.created_at >= ? AND t.created_at < ?"
        " AND t.kind IN ('CREDIT', 'CAPTURE', 'EXPIRE', 'TAKE_BACK')"
        " AND p.account IN ('FUNDING', 'SPENT', 'EXPIRED', 'CLAWBACK')"
        " GROUP BY t.kind, p.account",
        currency,
        utc(start),
        utc(end),
    )
    sums = {(row["kind"], row["account"]): int(row["total"]) for row in moved}
    outstanding = await db.one(
        "SELECT COALESCE(SUM(available + pending + reserved), 0) AS total FROM ledger_wallets"
        " WHERE currency = ?",
        currency,
    )
    return ProgramTotals(
        currency=currency,
        issued=-sums.get(("CREDIT", FUNDING), 0),
        redeemed=sums.get(("CAPTURE", SPENT), 0),
        expired=sums.get(("EXPIRE", EXPIRED), 0),
        taken_back=sums.get(("TAKE_BACK", FUNDING), 0),
        clawed_back=-sums.get(("TAKE_BACK", CLAWBACK), 0),
        outstanding=int(outstanding["total"]) if outstanding else 0,
    )


async def has_entries() -> bool:
    """Whether money has ever moved: any credit, debit or reservation, in any currency."""
    return await db.one("SELECT 1 AS found FROM ledger_entries LIMIT 1") is not None
