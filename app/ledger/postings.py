"""Double entry: the only code that writes transfers and postings, and the shared steps
that go with a movement (an entry's status, a lot's counters). Keeping them in one place
keeps every transfer balanced and every lot change written the same way.

Transfers are announced, so that a customer's balance can be pushed as it moves. On
PostgreSQL a trigger on `ledger_transfers` (ledger migration 0004) sends
`pg_notify(TRANSFERS_CHANNEL, '<customer id>:<kind>')` once per customer and kind of each
inserting statement, for the customers some listening connection watches
(`watch_transfers`); PostgreSQL delivers it when the transaction commits, to every process
that listens, and never for a transaction rolled back. Only watched customers: a
transaction that notifies holds PostgreSQL's global notify lock through its commit, so
such commits are serialized, and most movements (purchases of customers who do not have
the app open) need not pay for it. On SQLite, where one process serves the file,
`transfer()` calls this process's listeners (`on_transfer`) at once; a listener that reads
the wallet then waits for the writer's commit, since the writing transaction holds the
database's one connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import db

log = logging.getLogger(__name__)

# The NOTIFY channel of the trigger on ledger_transfers (PostgreSQL).
TRANSFERS_CHANNEL = "ledger_transfers"

TransferListener = Callable[[int, str], None]
_listeners: list[TransferListener] = []


def on_transfer(listener: TransferListener) -> Callable[[], None]:
    """On SQLite, call `listener(customer_id, kind)` for each transfer this process writes
    (it must not block: it runs inside the writer's transaction). Returns what removes it."""
    _listeners.append(listener)

    def remove() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return remove


async def watch_transfers(customer_ids: list[int], listener_pid: int) -> None:
    """PostgreSQL: announce these customers' transfers while the listening connection whose
    backend is `listener_pid` lives (or until `unwatch_transfers`)."""
    await db.execute(
        "INSERT INTO ledger_live_watchers (customer_id, listener_pid)"
        " SELECT unnest(?::bigint[]), ? ON CONFLICT DO NOTHING",
        customer_ids,
        listener_pid,
    )


async def unwatch_transfers(customer_ids: list[int] | None, listener_pid: int) -> None:
    """PostgreSQL: stop announcing these customers' transfers (None: all) for `listener_pid`."""
    if customer_ids is None:
        await db.execute("DELETE FROM ledger_live_watchers WHERE listener_pid = ?", listener_pid)
        return
    await db.execute(
        "DELETE FROM ledger_live_watchers"
        " WHERE listener_pid = ? AND customer_id = ANY(?::bigint[])",
        listener_pid,
        customer_ids,
    )


async def forget_gone_listeners() -> None:
    """PostgreSQL: drop what connections that are gone (a process that died) watched."""
    await db.execute(
        "DELETE FROM ledger_live_watchers"
        " WHERE listener_pid NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)"
    )


def _announce(customer_id: int, kind: str) -> None:
    for listener in list(_listeners):
        try:
            listener(customer_id, kind)
        except Exception:  # a listener's fault never fails the money movement
            log.exception("a transfer listener failed")


async def transfer(
    *,
    customer_id: int,
    currency: str,
    kind: str,
    entry_id: int | None,
    postings: list[tuple[str, int]],
    now: datetime,
    details: dict[str, Any] | None = None,
) -> None:
    """One transfer and its postings (zero amounts left out); they must sum to zero."""
    lines = [(account, amount) for account, amount in postings if amount]
    if sum(amount for _, amount in lines) != 0:
        raise AssertionError(f"unbalanced {kind} transfer: {lines}")
    if not lines:
        return
    accounts = [account for account, _ in lines]
    amounts = [amount for _, amount in lines]
    if db.dialect() == "postgres":
        # One round trip: the transfer and its postings in one statement.
        await db.execute(
            "WITH t AS (INSERT INTO ledger_transfers"
            " (customer_id, currency, kind, entry_id, details, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id)"
            " INSERT INTO ledger_postings"
            " (transfer_id, customer_id, currency, account, amount, created_at)"
            " SELECT t.id, ?, ?, v.account, v.amount, ?"
            " FROM t CROSS JOIN unnest(?::varchar[], ?::bigint[]) AS v(account, amount)",
            customer_id,
            currency,
            kind,
            entry_id,
            db.to_json(details),
            now,
            customer_id,
            currency,
            now,
            accounts,
            amounts,
        )
        return
    created = await db.one(
        "INSERT INTO ledger_transfers (customer_id, currency, kind, entry_id, details,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        customer_id,
        currency,
        kind,
        entry_id,
        db.to_json(details),
        now,
    )
    assert created is not None
    await db.execute_many(
        "INSERT INTO ledger_postings"
        " (transfer_id, customer_id, currency, account, amount, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(created["id"], customer_id, currency, a, n, now) for a, n in lines],
    )
    _announce(customer_id, kind)


def transfer_in_statement(
    kind: str, *, after: str, entry_id: str, amount: str, debit: str, credit: str
) -> str:
    """PostgreSQL: the CTEs `t` and `p` of a larger statement, which write one transfer of
    `amount` from `debit` to `credit` and its two postings for the row of the CTE `after`
    (none if it has none). The statement's $3 is the moment, $4 the customer, $5 the
    currency; `entry_id` and `amount` are SQL expressions."""
    # Built from the ledger's own constants when a module loads, never from input.
    return (
        " t AS (INSERT INTO ledger_transfers (customer_id, currency, kind, entry_id, created_at)"  # noqa: S608
        f" SELECT $4, $5, '{kind}', {entry_id}, $3 FROM {after} RETURNING id),"
        " p AS (INSERT INTO ledger_postings"
        " (transfer_id, customer_id, currency, account, amount, created_at)"
        f" SELECT t.id, $4, $5, v.account, v.sign * {amount}, $3"
        f" FROM t CROSS JOIN (VALUES ('{debit}', -1), ('{credit}', 1)) AS v(account, sign))"
    )


async def set_status(entry_ids: list[int], status: str, now: datetime, *, was: str | None) -> None:
    """Move these entries to `status` (only those still in status `was`, when given)."""
    if not entry_ids:
        return
    if was is None:
        await db.execute_many(
            "UPDATE ledger_entries SET status = ?, updated_at = ? WHERE id = ?",
            [(status, now, entry_id) for entry_id in entry_ids],
        )
    else:
        await db.execute_many(
            "UPDATE ledger_entries SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
            [(status, now, entry_id, was) for entry_id in entry_ids],
        )


_LOT_UPDATE = (
    "UPDATE ledger_lots SET remaining = remaining - ?, spent = spent + ?,"
    " expired = expired + ?, taken_back = taken_back + ?, clawed_back = clawed_back + ?,"
    " state = ? WHERE id = ?"
)


@dataclass
class LotChange:
    """What one movement takes from one lot, and the lot's state after."""

    id: int
    state: str
    spent: int = 0
    expired: int = 0
    taken_back: int = 0
    clawed_back: int = 0

    @property
    def taken(self) -> int:
        return self.spent + self.expired + self.taken_back

    def row(self) -> list[Any]:
        return [
            self.taken,
            self.spent,
            self.expired,
            self.taken_back,
            self.clawed_back,
            self.state,
            self.id,
        ]


async def apply_lot_changes(changes: list[LotChange]) -> None:
    await db.execute_many(_LOT_UPDATE, [c.row() for c in changes])
