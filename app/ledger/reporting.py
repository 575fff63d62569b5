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


# A posting carries its transfer's time, so these read the postings alone, through the index
# ledger_postings_period (account, currency, created_at, amount). The movements of a period
# need the transfer's kind only on FUNDING, which only credits (negative: what was issued)
# and take-backs (positive) move (app/ledger/crediting.py), so the sign tells them apart.
_BOOKS = (
    # What moved in [start, end) on the program's accounts, by account and sign.
    "SELECT 'in' AS part, CASE WHEN amount < 0 THEN '-' ELSE '+' END AS kind,"  # noqa: S608
    " account, SUM(amount) AS total FROM ledger_postings"
    f" WHERE account IN {_PROGRAM_ACCOUNTS} AND currency = ? AND created_at >= ?"
    " AND created_at < ? GROUP BY account, CASE WHEN amount < 0 THEN '-' ELSE '+' END"
    # What customer accounts moved since `end` (every kind: maturing and reserving move
    # money between these accounts).
    " UNION ALL SELECT 'since', '', account, SUM(amount) FROM ledger_postings"
    " WHERE account IN (?, ?, ?) AND currency = ? AND created_at >= ? GROUP BY account"
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
        (currency, utc(start), utc(end), *_CUSTOMER_ACCOUNTS, currency, utc(end),
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
    # (recorded on CLAWBACK, negative, by take-backs alone): the difference is what it took
    # from balances.
    taken_back = moved.get(("+", FUNDING), 0) + account(CLAWBACK)
    return Books(
        pending=balance[PENDING],
        available=balance[AVAILABLE],
        reserved=balance[RESERVED],
        issued=-moved.get(("-", FUNDING), 0),
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
        # Transfers between a customer's own accounts sum to zero here: no need to skip them.
        " SELECT b.i AS i, SUM(p.amount) AS total FROM b"
        " JOIN ledger_postings p ON p.created_at >= b.s AND p.created_at < b.e"
        " WHERE p.currency = ? AND p.account IN (?, ?, ?) GROUP BY b.i"
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
