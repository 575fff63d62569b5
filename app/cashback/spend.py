"""What each customer spent in the tier window (the last 365 days), net of refunds: kept on
a row per customer (`cashback_customer_spend`) so that reading a tier is one indexed
lookup, however many purchases the customer made.

The row holds the sum and `changes_at`, the moment the oldest purchase it counts (of those
with something left after refunds) leaves the window: until then time alone cannot change
the sum. It is kept current in the transactions that change it:
- a purchase that counts now (occurred in the window) adds its total and moves
  `changes_at` earlier when it is the oldest; a purchase backdated past the window adds
  nothing;
- a refund of a purchase that counts now takes its amount off.
Each is one UPDATE of the row, which PostgreSQL applies to the latest committed row under
its lock, so concurrent purchases of one customer all count. Without a row (a customer's
first purchase, or data from before the table) the writer computes the sum from the
purchases in its own transaction, its own change included, and inserts it; a row inserted
meanwhile by another transaction gets the change added instead.

A read takes the rows it is asked for in one statement. When `changes_at` has passed, or
there is no row, it computes those customers' sums from the purchases (the scan,
`scan_window_spends`) and writes them back, but only over the very row it read: every write
raises `version` and no row is ever deleted, so a purchase or refund that committed after
the read keeps its change (the recomputation is then simply not stored; the next read does
it again).

`rebuild_window_spends` (`python -m app rebuild-tier-spend`) rewrites every row from the
purchases, for data that reached the purchases some other way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from app import db
from app.cashback.models import CustomerSpend, Purchase
from app.core.reads import Rider, read_each_once, remember, ride_with_caller
from app.db import retrying

TIER_WINDOW = timedelta(days=365)
# Rows per executemany call of a rebuild.
CHUNK = 1_000
# A `changes_at` long past: the row is computed again at its next read.
_RECOMPUTE = datetime(2000, 1, 1, tzinfo=UTC)

_SPEND = CustomerSpend._meta.db_table
# What `read_each_once` knows window spends by.
WINDOW_SPEND = "cashback.window_spend"
_PURCHASES = Purchase._meta.db_table


@dataclass(frozen=True, slots=True)
class WindowSpend:
    """A customer's spend in the window at some moment, and until when it holds."""

    spend_minor: int
    changes_at: datetime | None


def counts_at(occurred_at: datetime, now: datetime) -> bool:
    """Whether a purchase made at `occurred_at` counts towards tiers at `now`."""
    return occurred_at >= now - TIER_WINDOW


# --- the scan: the sums computed from the purchases --------------------------------------

# Only table names and placeholders are formatted into these; values are parameters.
_SCAN_COLUMNS = (
    "SELECT customer_id, SUM(total_minor - refunded_minor) AS spend,"  # noqa: S608
    " MIN(CASE WHEN refunded_minor < total_minor THEN occurred_at END) AS oldest"
    f" FROM {_PURCHASES}"
)


def _scanned(row: Mapping[str, Any]) -> WindowSpend:
    oldest = db.to_datetime(row["oldest"])
    return WindowSpend(
        spend_minor=int(row["spend"] or 0),
        changes_at=oldest + TIER_WINDOW if oldest is not None else None,
    )


async def scan_window_spends(
    customer_ids: Iterable[int], *, now: datetime
) -> dict[int, WindowSpend]:
    """Each customer's spend in the window at `now` computed from their purchases (a range
    of the (customer, occurred_at) index each), in one statement; every customer asked is in
    the answer."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = await db.rows(
        f"{_SCAN_COLUMNS} WHERE customer_id IN ({db.marks(len(ids))}) AND occurred_at >= ?"
        " GROUP BY customer_id",
        *ids,
        now - TIER_WINDOW,
    )
    found = {int(row["customer_id"]): _scanned(row) for row in rows}
    return {c: found.get(c) or WindowSpend(0, None) for c in ids}


# --- reading ---------------------------------------------------------------------------

_READ_COLUMNS = f"SELECT customer_id, window_spend_minor, changes_at, version FROM {_SPEND}"  # noqa: S608
_READ_PG = f"{_READ_COLUMNS} WHERE customer_id = ANY(?::bigint[])"
_READ_SQLITE = f"{_READ_COLUMNS} WHERE customer_id IN (SELECT value FROM json_each(?))"  # noqa: S608

# A recomputation stored only over the row it read (or where there was none): the row's
# version is then one less than the one written, and a row that was missing is written
# with version 1 and never written over.
_WRITE_BACK_CONFLICT = (
    " ON CONFLICT (customer_id) DO UPDATE SET"
    " window_spend_minor = excluded.window_spend_minor, changes_at = excluded.changes_at,"
    f" version = excluded.version WHERE {_SPEND}.version = excluded.version - 1"
)
_WRITE_BACK_PG = (
    f"INSERT INTO {_SPEND} (customer_id, window_spend_minor, changes_at, version)"  # noqa: S608
    " SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::timestamptz[], ?::bigint[])"
    f"{_WRITE_BACK_CONFLICT}"
)
_WRITE_BACK_SQLITE = (
    f"INSERT INTO {_SPEND} (customer_id, window_spend_minor, changes_at, version)"  # noqa: S608
    " VALUES {values}" + _WRITE_BACK_CONFLICT
)


def is_current(changes_at: datetime | None, now: datetime) -> bool:
    """Whether a sum that holds until `changes_at` is still right at `now`."""
    return changes_at is None or changes_at >= now


async def window_spends(customer_ids: Iterable[int], *, now: datetime) -> dict[int, int]:
    """What each customer spent (net of refunds) in the window at `now`, in minor units:
    one statement of constant text for all of them while their rows are current (each
    customer read once for all the fields of a query); those whose row is missing or past
    its `changes_at` are computed from the purchases, in one more statement, and written
    back in a third."""
    ids = sorted({int(c) for c in customer_ids})
    if not ids:
        return {}
    found = await read_each_once(WINDOW_SPEND, ids, lambda wanted: _window_spends(wanted, now=now))
    return {c: found[c] or 0 for c in ids}


@ride_with_caller(WINDOW_SPEND)
def _spend_with_caller(customer_id: int, currency: str, now: datetime) -> Rider:
    """The signed-in customer's spend row, read with their session (see `window_spends`);
    a missing or outdated one is left to `window_spends`, which computes it."""

    def keep(row: Mapping[str, Any]) -> None:
        if row["rs_customer_id"] is not None and is_current(
            db.to_datetime(row["rs_changes_at"]), now
        ):
            remember(WINDOW_SPEND, customer_id, int(row["rs_window_spend_minor"]))

    return Rider(
        join=f"LEFT JOIN {_SPEND} rs ON rs.customer_id = u.id",
        columns="rs.customer_id AS rs_customer_id, rs.window_spend_minor AS rs_window_spend_minor,"
        " rs.changes_at AS rs_changes_at",
        params=(),
        keep=keep,
    )


async def _window_spends(ids: list[int], *, now: datetime) -> dict[int, int]:
    if db.dialect() == "postgres":
        rows = await db.rows(_READ_PG, ids)
    else:
        rows = await db.rows(_READ_SQLITE, json.dumps(ids))
    spends: dict[int, int] = {}
    seen: dict[int, int] = {c: 0 for c in ids}  # the version read; 0 when no row
    for row in rows:
        customer = int(row["customer_id"])
        if is_current(db.to_datetime(row["changes_at"]), now):
            spends[customer] = int(row["window_spend_minor"])
            del seen[customer]
        else:
            seen[customer] = int(row["version"])
    if seen:
        fresh = await scan_window_spends(seen, now=now)
        stale = {c: (fresh[c], version) for c, version in seen.items()}
        await retrying(lambda: _write_back(stale))
        spends.update((c, found.spend_minor) for c, found in fresh.items())
    return spends


async def _write_back(rows: Mapping[int, tuple[WindowSpend, int]]) -> None:
    """Recomputed rows stored, each only over the version it was computed after (in
    customer order, so two readers lock rows in the same order)."""
    ids = sorted(rows)
    values = [(c, rows[c][0].spend_minor, rows[c][0].changes_at, rows[c][1] + 1) for c in ids]
    if db.dialect() == "postgres":
        await db.execute(_WRITE_BACK_PG, *(list(column) for column in zip(*values, strict=True)))
        return
    marks = ", ".join(["(?, ?, ?, ?)"] * len(values))
    await db.execute(_WRITE_BACK_SQLITE.format(values=marks), *(v for row in values for v in row))


# --- kept current by purchases and refunds ------------------------------------------------

_ADD_PURCHASE = (
    f"UPDATE {_SPEND} SET window_spend_minor = window_spend_minor + ?,"  # noqa: S608
    " changes_at = CASE WHEN changes_at IS NULL OR changes_at > ? THEN ? ELSE changes_at END,"
    " version = version + 1 WHERE customer_id = ?"
)
# A refund never takes the sum below zero: if it would, the row was wrong, and it is
# computed again at the next read.
_TAKE_REFUND = (
    f"UPDATE {_SPEND} SET"  # noqa: S608
    " window_spend_minor = CASE WHEN window_spend_minor >= ? THEN window_spend_minor - ?"
    " ELSE 0 END,"
    " changes_at = CASE WHEN window_spend_minor >= ? THEN changes_at ELSE ? END,"
    " version = version + 1 WHERE customer_id = ?"
)
_INSERT_COMPUTED = (
    f"INSERT INTO {_SPEND} (customer_id, window_spend_minor, changes_at, version)"  # noqa: S608
    " VALUES (?, ?, ?, 1) ON CONFLICT (customer_id) DO NOTHING RETURNING customer_id"
)


async def count_purchase(
    *, customer_id: int, total_minor: int, occurred_at: datetime, now: datetime
) -> None:
    """Count a purchase just inserted into its customer's spend, inside its transaction
    (after the purchase's row is written): one statement while the customer has a row."""
    if total_minor <= 0 or not counts_at(occurred_at, now):
        return
    changes_at = occurred_at + TIER_WINDOW
    await _change(_ADD_PURCHASE, [total_minor, changes_at, changes_at], customer_id, now)


async def count_refund(
    *, customer_id: int, amount_minor: int, occurred_at: datetime, now: datetime
) -> None:
    """Take a refund of a purchase made at `occurred_at` off its customer's spend, inside the
    refund's transaction (after the purchase's refunded amount is written)."""
    if amount_minor <= 0 or not counts_at(occurred_at, now):
        return
    await _change(
        _TAKE_REFUND, [amount_minor, amount_minor, amount_minor, _RECOMPUTE], customer_id, now
    )


async def _change(update: str, params: list[Any], customer_id: int, now: datetime) -> None:
    """The row changed by `update`; without a row, the sum computed from the purchases (the
    caller's change included: it is already written in this transaction) inserted. When
    another transaction inserted the row meanwhile (this one waited for it to commit), the
    change is made to that row."""
    if await db.execute(update, *params, customer_id):
        return
    fresh = (await scan_window_spends([customer_id], now=now))[customer_id]
    if await db.rows(_INSERT_COMPUTED, customer_id, fresh.spend_minor, fresh.changes_at):
        return
    await db.execute(update, *params, customer_id)


# --- rebuilt in bulk --------------------------------------------------------------------

_UPSERT_ROW = (
    f"INSERT INTO {_SPEND} (customer_id, window_spend_minor, changes_at, version)"  # noqa: S608
    " VALUES (?, ?, ?, ?) ON CONFLICT (customer_id) DO UPDATE SET"
    " window_spend_minor = excluded.window_spend_minor, changes_at = excluded.changes_at,"
    " version = excluded.version"
)


async def rebuild_window_spends(*, now: datetime) -> int:
    """Every row written again from the purchases, in one transaction; the number of
    customers with a purchase in the window (the others' rows become 0). Purchases and
    refunds wait while it runs and then count themselves into the new rows; reads go on,
    seeing the old ones.

    No row is deleted and every version grows past any a read may hold, so a read that
    computed a row before the rebuild never stores it over the rebuilt one."""
    async with in_transaction():
        if db.dialect() == "postgres":
            await db.execute(f"LOCK TABLE {_SPEND} IN EXCLUSIVE MODE")
        # SQLite: one writer at a time already.
        top = await db.one(f"SELECT MAX(version) AS top FROM {_SPEND}")  # noqa: S608
        version = int((top or {}).get("top") or 0) + 1
        await db.execute(
            f"UPDATE {_SPEND} SET window_spend_minor = 0, changes_at = NULL, version = ?",  # noqa: S608
            version,
        )
        rows = await db.rows(
            f"{_SCAN_COLUMNS} WHERE occurred_at >= ? GROUP BY customer_id ORDER BY customer_id",
            now - TIER_WINDOW,
        )
        values: list[Sequence[Any]] = []
        for row in rows:
            found = _scanned(row)
            values.append((int(row["customer_id"]), found.spend_minor, found.changes_at, version))
        for start in range(0, len(values), CHUNK):
            await db.execute_many(_UPSERT_ROW, values[start : start + CHUNK])
        return len(values)
