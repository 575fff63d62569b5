"""The program's books for a period, from the postings (app/insights' finance view).

Movements in a period are the postings of the transfers recorded in it, by account:
issued (credits, out of FUNDING), redeemed (captures, into SPENT), expired (into EXPIRED),
reversed (what refunds took back from balances), clawed back (what refunds could not take
back, recorded on CLAWBACK) and forfeited (what deleted accounts held, into FORFEITED).
Maturing and expiry are recorded when a wallet is next read or written, or by the worker:
the figures are the ledger's as recorded, so they agree with it to the cent.

Balances as of a moment are the wallets' stored totals (which reconcile with their
postings) less the postings recorded since: one pass over the recent postings, not over
the whole history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.core.sql import Fragment, values_mark
from app.ledger.values import (
    AVAILABLE,
    CLAWBACK,
    EXPIRED,
    FUNDING,
    PENDING,
    RESERVED,
    SPENT,
    utc,
)

FORFEITED = "FORFEITED"
_CUSTOMER_ACCOUNTS = (PENDING, AVAILABLE, RESERVED)
# Transfers between a customer's own accounts: they change no movement of the books and not
# the liability (pending + available + reserved), so those joins leave them out (about half
# the postings).
_OWN_ACCOUNTS_ONLY = "('MATURE', 'RESERVE', 'RELEASE')"
# The movements of a period are read from these alone (each transfer sums to zero).
_PROGRAM_ACCOUNTS = f"('{FUNDING}', '{SPENT}', '{EXPIRED}', '{CLAWBACK}', '{FORFEITED}')"
# Later than any transfer: the last interval of `liability_at` runs to it.
_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Books:
    """Minor units: balances as of the period's end, movements within the period."""

    pending: int
    available: int
    reserved: int
    issued: int
    redeemed: int
    expired: int
    reversed: int
    clawed_back: int
    forfeited: int

    @property
    def outstanding(self) -> int:
        return self.pending + self.available + self.reserved


_BOOKS = (
    # What moved in [start, end), by transfer kind and account.
    "SELECT 'in' AS part, t.kind AS kind, p.account AS account, SUM(p.amount) AS total"  # noqa: S608
    " FROM ledger_transfers t JOIN ledger_postings p ON p.transfer_id = t.id"
    " WHERE t.currency = ? AND t.created_at >= ? AND t.created_at < ?"
    f" AND t.kind NOT IN {_OWN_ACCOUNTS_ONLY} AND p.account IN {_PROGRAM_ACCOUNTS}"
    " GROUP BY t.kind, p.account"
    # What customer accounts moved since `end`.
    " UNION ALL SELECT 'since', '', p.account, SUM(p.amount)"
    " FROM ledger_transfers t JOIN ledger_postings p ON p.transfer_id = t.id"
    # (Every kind: maturing and reserving move money between these accounts.)
    " WHERE t.currency = ? AND t.created_at >= ? AND p.account IN (?, ?, ?)"
    " GROUP BY p.account"
    # What the wallets hold now.
    " UNION ALL SELECT 'now', '', ?, COALESCE(SUM(pending), 0) FROM ledger_wallets"
    " WHERE currency = ?"
    " UNION ALL SELECT 'now', '', ?, COALESCE(SUM(available), 0) FROM ledger_wallets"
    " WHERE currency = ?"
    " UNION ALL SELECT 'now', '', ?, COALESCE(SUM(reserved), 0) FROM ledger_wallets"
    " WHERE currency = ?"
)


def books_query(*, currency: str, start: datetime, end: datetime) -> Fragment:
    """The books of [start, end) in one statement (read them with `books_of`)."""
    return Fragment(
        _BOOKS,
        (currency, utc(start), utc(end), currency, utc(end), *_CUSTOMER_ACCOUNTS,
         PENDING, currency, AVAILABLE, currency, RESERVED, currency),
    )  # fmt: skip


def books_of(found: list[dict[str, Any]]) -> Books:
    moved: dict[tuple[str, str], int] = {}
    balance = dict.fromkeys(_CUSTOMER_ACCOUNTS, 0)
    for row in found:
        total = int(row["total"] or 0)
        if row["part"] == "in":
            moved[(row["kind"], row["account"])] = total
        elif row["part"] == "now":
            balance[row["account"]] += total
        else:
            balance[row["account"]] -= total

    def account(name: str) -> int:
        return sum(total for (_, acc), total in moved.items() if acc == name)

    # A take-back credits FUNDING with what it took from balances and what it could not
    # (recorded on CLAWBACK, negative): the difference is what it took from balances.
    taken_back = moved.get(("TAKE_BACK", FUNDING), 0) + moved.get(("TAKE_BACK", CLAWBACK), 0)
    return Books(
        pending=balance[PENDING],
        available=balance[AVAILABLE],
        reserved=balance[RESERVED],
        issued=-moved.get(("CREDIT", FUNDING), 0),
        redeemed=account(SPENT),
        expired=account(EXPIRED),
        reversed=taken_back,
        clawed_back=-account(CLAWBACK),
        forfeited=account(FORFEITED),
    )


def liability_query(*, currency: str, moments: list[datetime], postgres: bool) -> Fragment:
    """The outstanding liability (pending + available + reserved of every wallet) at each
    of `moments` (in increasing order, at least one), in one statement whatever their
    number: the wallets' totals less what customer accounts moved in each interval since
    (read it with `liability_of`)."""
    ts, num = values_mark("timestamptz", postgres=postgres), values_mark("int", postgres=postgres)
    bounds = [*(utc(m) for m in moments), utc(_END_OF_TIME)]
    intervals = ", ".join(f"({num}, {ts}, {ts})" for _ in moments)
    params: list[object] = []
    for i in range(len(moments)):
        params += [i, bounds[i], bounds[i + 1]]
    return Fragment(
        f"WITH b(i, s, e) AS (VALUES {intervals})"  # noqa: S608
        " SELECT b.i AS i, SUM(p.amount) AS total FROM b"
        " JOIN ledger_transfers t ON t.created_at >= b.s AND t.created_at < b.e"
        " JOIN ledger_postings p ON p.transfer_id = t.id"
        f" WHERE t.currency = ? AND t.kind NOT IN {_OWN_ACCOUNTS_ONLY}"
        " AND p.account IN (?, ?, ?) GROUP BY b.i"
        " UNION ALL SELECT -1, COALESCE(SUM(pending + available + reserved), 0)"
        " FROM ledger_wallets WHERE currency = ?",
        (*params, currency, *_CUSTOMER_ACCOUNTS, currency),
    )


def liability_of(found: list[dict[str, Any]], count: int) -> list[int]:
    moved = {int(r["i"]): int(r["total"] or 0) for r in found}
    level = moved.pop(-1, 0)
    levels: list[int] = []
    for i in reversed(range(count)):
        level -= moved.get(i, 0)
        levels.append(level)
    return levels[::-1]
