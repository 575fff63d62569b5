"""Customer purchase profiles: what segments are made of, kept current in the transactions
that record purchases and refunds, so a segment test is one row read and never a scan of
purchases.

A profile holds, per customer:
- `purchase_count`, `online_count`, `in_store_count`: purchases not fully refunded, in all
  and per channel (a purchase fully refunded no longer counts);
- `first_purchase_at`, `last_purchase_at`: when the first and the last purchase happened
  (refunded or not: a refund does not undo the visit);
- `spend_minor`: purchase totals less refunds, all time, in minor units;
- `favorite_category` and `favorite_merchant_ids`: the normalised category key, and up to
  3 merchants best first, with the most spend (net of refunds) over the `FAVORITE_WINDOW`
  (180 days) before the last write. They come from day buckets (customer, day, merchant,
  category): each write updates its buckets and recomputes both favourites from the
  customer's buckets in the window in the same statement as the profile. Favourites age
  only when the customer's profile is written or rebuilt (`replace_profiles`, run by
  `python -m app rebuild-profiles`). Ties go to the smaller category key or merchant id;
  the unknown category ('') is never a favourite.

Fixed scales of the recency, frequency and monetary (RFM) scores, 1 (low) to 5 (high):
- recency, by whole days since the last purchase: <= 30 -> 5, <= 90 -> 4, <= 180 -> 3,
  <= 365 -> 2, else 1; 0 when the customer never bought;
- frequency, by `purchase_count`: 1 -> 1, 2-3 -> 2, 4-6 -> 3, 7-12 -> 4, 13+ -> 5;
  0 with no purchase;
- monetary, by `spend` in major units of the program currency: < 50 -> 1, < 200 -> 2,
  < 500 -> 3, < 1,500 -> 4, else 5; 0 when nothing was spent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from itertools import islice
from typing import Any, TypeVar

from tortoise.transactions import in_transaction

from app import db
from app.core import clock
from app.core.reads import Rider, read_once, remember_read, ride_with_caller

T = TypeVar("T")

FAVORITE_WINDOW = timedelta(days=180)
FAVORITE_MERCHANTS = 3
CATEGORY_LENGTH = 80
ONLINE = "ONLINE"
IN_STORE = "IN_STORE"
BOTH = "BOTH"
# Rows per executemany call of a rebuild.
CHUNK = 1_000

# Upper bounds of each score's steps, lowest score first; past the last, the score is 5.
RECENCY_DAYS = (365, 180, 90, 30)  # at most this many days: 2, 3, 4, 5 (more: 1)
FREQUENCY_COUNTS = (1, 3, 6, 12)  # at most this many purchases: 1, 2, 3, 4 (more: 5)
MONETARY_MAJOR = (50, 200, 500, 1_500)  # below this many major units: 1, 2, 3, 4 (more: 5)


@dataclass(frozen=True, slots=True)
class Profile:
    customer_id: int
    purchase_count: int = 0
    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None
    spend_minor: int = 0
    online_count: int = 0
    in_store_count: int = 0
    favorite_category: str | None = None
    favorite_merchant_ids: tuple[int, ...] = ()

    @property
    def channels_used(self) -> str | None:
        """`ONLINE`, `IN_STORE`, `BOTH` (omnichannel), or None without a purchase."""
        if self.online_count > 0 and self.in_store_count > 0:
            return BOTH
        if self.online_count > 0:
            return ONLINE
        if self.in_store_count > 0:
            return IN_STORE
        return None

    def days_since_last_purchase(self, at: datetime) -> int | None:
        """Whole days from the last purchase to `at`; None when the customer never bought."""
        if self.last_purchase_at is None:
            return None
        return max(0, (at - self.last_purchase_at).days)

    def recency_score(self, at: datetime) -> int:
        days = self.days_since_last_purchase(at)
        if days is None:
            return 0
        return 1 + sum(1 for limit in RECENCY_DAYS if days <= limit)

    @property
    def frequency_score(self) -> int:
        if self.purchase_count <= 0:
            return 0
        return 1 + sum(1 for limit in FREQUENCY_COUNTS if self.purchase_count > limit)

    def monetary_score(self, minor_units: int) -> int:
        """The score of the spend in a currency with `minor_units` decimals."""
        if self.spend_minor <= 0:
            return 0
        scale = 10**minor_units
        return 1 + sum(1 for limit in MONETARY_MAJOR if self.spend_minor >= limit * scale)


@dataclass(frozen=True, slots=True)
class ProfileTotals:
    """A customer's all-time figures, for `replace_profiles`."""

    customer_id: int
    purchase_count: int
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    spend_minor: int
    online_count: int
    in_store_count: int


@dataclass(frozen=True, slots=True)
class SpendDay:
    """What a customer spent (net of refunds) on one day at one merchant in one category."""

    customer_id: int
    day: date
    merchant_id: int
    category: str | None
    spend_minor: int


def category_key(category: str | None) -> str:
    """How a bucket stores a normalised category: '' when unknown, at most 80 characters."""
    return (category or "")[:CATEGORY_LENGTH]


def window_start(now: datetime) -> date:
    """The first day whose buckets count towards favourites at `now`."""
    return (clock.as_utc(now) - FAVORITE_WINDOW).date()


# --- reading ---------------------------------------------------------------------------

_COLUMNS = (
    "customer_id",
    "purchase_count",
    "first_purchase_at",
    "last_purchase_at",
    "spend_minor",
    "online_count",
    "in_store_count",
    "favorite_category",
    "favorite_merchant_ids",
    "updated_at",
)
_SELECT = f"SELECT {', '.join(_COLUMNS[:-1])} FROM customer_profiles"  # noqa: S608


def _profile(row: Mapping[str, Any]) -> Profile:
    merchants = row["favorite_merchant_ids"] or ""
    return Profile(
        customer_id=int(row["customer_id"]),
        purchase_count=int(row["purchase_count"]),
        first_purchase_at=db.to_datetime(row["first_purchase_at"]),
        last_purchase_at=db.to_datetime(row["last_purchase_at"]),
        spend_minor=int(row["spend_minor"]),
        online_count=int(row["online_count"]),
        in_store_count=int(row["in_store_count"]),
        favorite_category=row["favorite_category"] or None,
        favorite_merchant_ids=tuple(int(m) for m in merchants.split(",") if m),
    )


async def profiles_of(customer_ids: Iterable[int]) -> dict[int, Profile]:
    """The profile of each customer asked, in one query of constant text (once for all the
    fields of a query); a customer without one (no purchase yet) gets an empty Profile."""
    ids = sorted({int(c) for c in customer_ids})
    if not ids:
        return {}
    return await read_once(("segments.profiles", *ids), lambda: _read_profiles(ids))


@ride_with_caller("segments.profiles")
def _profile_with_caller(customer_id: int, currency: str, now: datetime) -> Rider:
    """The signed-in customer's profile, read with their session (see `profiles_of`)."""
    columns = _COLUMNS[:-1]

    def keep(row: Mapping[str, Any]) -> None:
        found = {column: row[f"rp_{column}"] for column in columns}
        profile = (
            Profile(customer_id=customer_id) if found["customer_id"] is None else _profile(found)
        )
        remember_read(("segments.profiles", customer_id), {customer_id: profile})

    return Rider(
        join="LEFT JOIN customer_profiles rp ON rp.customer_id = u.id",
        columns=", ".join(f"rp.{column} AS rp_{column}" for column in columns),
        params=(),
        keep=keep,
    )


async def _read_profiles(ids: list[int]) -> dict[int, Profile]:
    if db.dialect() == "postgres":
        found = await db.rows(f"{_SELECT} WHERE customer_id = ANY(?::bigint[])", ids)
    else:
        found = await db.rows(
            f"{_SELECT} WHERE customer_id IN (SELECT value FROM json_each(?))",  # noqa: S608
            json.dumps(ids),
        )
    stored = {p.customer_id: p for p in map(_profile, found)}
    return {c: stored.get(c) or Profile(customer_id=c) for c in ids}


# --- favourites: the same SQL for one customer and for all of them ----------------------


# Statements are built once per dialect; only names and placeholders are formatted into
# them, every value is a parameter.


@cache
def _favorites_sql(customer: str, dialect: str) -> tuple[str, str]:
    """The favourite category and the favourite merchants (comma-separated, best first) of
    the customer that `customer` names (a placeholder or a column), as subqueries. Each
    has its placeholders in this order: the customer (when a placeholder), then the first
    day of the window."""
    category = (
        "(SELECT d.category FROM profile_spend_days d"  # noqa: S608
        f" WHERE d.customer_id = {customer} AND d.day >= ? AND d.category <> ''"
        " GROUP BY d.category HAVING SUM(d.spend_minor) > 0"
        " ORDER BY SUM(d.spend_minor) DESC, d.category LIMIT 1)"
    )
    top = (
        "SELECT d.merchant_id, SUM(d.spend_minor) AS spend FROM profile_spend_days d"  # noqa: S608
        f" WHERE d.customer_id = {customer} AND d.day >= ?"
        " GROUP BY d.merchant_id HAVING SUM(d.spend_minor) > 0"
        f" ORDER BY spend DESC, d.merchant_id LIMIT {FAVORITE_MERCHANTS}"
    )
    if dialect == "postgres":
        merchants = (
            "(SELECT string_agg(CAST(t.merchant_id AS VARCHAR), ','"  # noqa: S608
            f" ORDER BY t.spend DESC, t.merchant_id) FROM ({top}) AS t)"
        )
    else:
        # SQLite concatenates in the order the ordered subquery gives its rows.
        merchants = f"(SELECT group_concat(t.merchant_id, ',') FROM ({top}) AS t)"  # noqa: S608
    return category, merchants


def _day(value: date) -> date | str:
    """A day as a parameter: a date for PostgreSQL, ISO text as SQLite stores it."""
    return value if db.dialect() == "postgres" else value.isoformat()


# --- kept current by purchases and refunds ----------------------------------------------


def _channel_counts(channel: str) -> tuple[int, int]:
    """(online, in store): which count a purchase in `channel` is in."""
    if channel == ONLINE:
        return 1, 0
    if channel == IN_STORE:
        return 0, 1
    raise ValueError(f"unknown channel {channel!r}")


def _by_key(amounts: Mapping[str | None, int]) -> dict[str, int]:
    """Amounts by stored category key (None and '' are one bucket), zeros left out, in key
    order, so concurrent writers lock a customer's buckets in the same order."""
    merged: dict[str, int] = {}
    for category, amount in amounts.items():
        key = category_key(category)
        merged[key] = merged.get(key, 0) + int(amount)
    return {key: merged[key] for key in sorted(merged) if merged[key] != 0}


_ADD_TO_BUCKETS_PG = (
    "INSERT INTO profile_spend_days (customer_id, day, merchant_id, category, spend_minor)"
    " SELECT ?::bigint, ?::date, ?::bigint, v.category, v.spend"
    " FROM unnest(?::varchar[], ?::bigint[]) AS v(category, spend)"
    " ON CONFLICT (customer_id, day, merchant_id, category)"
    " DO UPDATE SET spend_minor = profile_spend_days.spend_minor + excluded.spend_minor"
)
_ADD_TO_BUCKETS_SQLITE = (
    "INSERT INTO profile_spend_days (customer_id, day, merchant_id, category, spend_minor)"
    " VALUES {values} ON CONFLICT (customer_id, day, merchant_id, category)"
    " DO UPDATE SET spend_minor = profile_spend_days.spend_minor + excluded.spend_minor"
)


async def _add_to_buckets(
    customer_id: int, day: date, merchant_id: int, amounts: Mapping[str, int]
) -> None:
    """Each category's amount added to its bucket of the day, in one statement."""
    if not amounts:
        return
    if db.dialect() == "postgres":
        # Constant text (prepared once per connection), the categories as arrays.
        await db.execute(
            _ADD_TO_BUCKETS_PG,
            customer_id,
            day,
            merchant_id,
            list(amounts),
            list(amounts.values()),
        )
        return
    params = [
        v
        for key, amount in amounts.items()
        for v in (customer_id, day.isoformat(), merchant_id, key, amount)
    ]
    values = ", ".join(["(?, ?, ?, ?, ?)"] * len(amounts))
    await db.execute(_ADD_TO_BUCKETS_SQLITE.format(values=values), *params)


_TAKE_FROM_BUCKETS_PG = (
    "UPDATE profile_spend_days AS b SET spend_minor = CASE WHEN b.spend_minor > v.amount"
    " THEN b.spend_minor - v.amount ELSE 0 END"
    " FROM unnest(?::varchar[], ?::bigint[]) AS v(category, amount)"
    " WHERE b.customer_id = ? AND b.day = ? AND b.merchant_id = ? AND b.category = v.category"
)
_TAKE_FROM_BUCKETS_SQLITE = (
    "UPDATE profile_spend_days SET spend_minor = CASE WHEN spend_minor > v.column2"
    " THEN spend_minor - v.column2 ELSE 0 END"
    " FROM (VALUES {values}) AS v"
    " WHERE customer_id = ? AND day = ? AND merchant_id = ? AND category = v.column1"
)


async def _take_from_buckets(
    customer_id: int, day: date, merchant_id: int, amounts: Mapping[str, int]
) -> None:
    """Each category's amount taken from its bucket of the day (a negative amount gives
    back), in one statement; a bucket never goes below zero, a missing one stays so."""
    if not amounts:
        return
    if db.dialect() == "postgres":
        await db.execute(
            _TAKE_FROM_BUCKETS_PG,
            list(amounts),
            list(amounts.values()),
            customer_id,
            day,
            merchant_id,
        )
        return
    values = ", ".join(["(?, ?)"] * len(amounts))
    await db.execute(
        _TAKE_FROM_BUCKETS_SQLITE.format(values=values),
        *[v for pair in amounts.items() for v in pair],
        customer_id,
        day.isoformat(),
        merchant_id,
    )


@cache
def _upsert_profile_sql(dialect: str) -> str:
    category, merchants = _favorites_sql("?", dialect)
    return (
        "INSERT INTO customer_profiles (customer_id, purchase_count, first_purchase_at,"  # noqa: S608
        " last_purchase_at, spend_minor, online_count, in_store_count, favorite_category,"
        " favorite_merchant_ids, updated_at)"
        f" VALUES (?, 1, ?, ?, ?, ?, ?, {category}, {merchants}, ?)"
        " ON CONFLICT (customer_id) DO UPDATE SET"
        " purchase_count = customer_profiles.purchase_count + 1,"
        " first_purchase_at = CASE WHEN customer_profiles.first_purchase_at IS NULL"
        " OR excluded.first_purchase_at < customer_profiles.first_purchase_at"
        " THEN excluded.first_purchase_at ELSE customer_profiles.first_purchase_at END,"
        " last_purchase_at = CASE WHEN customer_profiles.last_purchase_at IS NULL"
        " OR excluded.last_purchase_at > customer_profiles.last_purchase_at"
        " THEN excluded.last_purchase_at ELSE customer_profiles.last_purchase_at END,"
        " spend_minor = customer_profiles.spend_minor + excluded.spend_minor,"
        " online_count = customer_profiles.online_count + excluded.online_count,"
        " in_store_count = customer_profiles.in_store_count + excluded.in_store_count,"
        " favorite_category = excluded.favorite_category,"
        " favorite_merchant_ids = excluded.favorite_merchant_ids,"
        " updated_at = excluded.updated_at"
    )


async def record_purchase(
    *,
    customer_id: int,
    merchant_id: int,
    channel: str,
    occurred_at: datetime,
    spend_by_category: Mapping[str | None, int],
    now: datetime,
) -> None:
    """Count a purchase into its customer's profile, inside the caller's transaction (the
    purchase's), in two statements however many categories it has: its day's buckets, then
    the profile with both favourites recomputed over the window before `now`.

    `spend_by_category` maps normalised category keys (None when unknown) to what was spent
    on them (never negative); their sum is the purchase's spend."""
    if any(amount < 0 for amount in spend_by_category.values()):
        raise ValueError("a purchase's spend is never negative")
    occurred_at = clock.as_utc(occurred_at)
    online, in_store = _channel_counts(channel)
    amounts = _by_key(spend_by_category)
    start = window_start(now)
    if occurred_at.date() >= start:  # older days no longer count towards favourites
        await _add_to_buckets(customer_id, occurred_at.date(), merchant_id, amounts)
    await db.execute(
        _upsert_profile_sql(db.dialect()),
        customer_id,
        occurred_at,
        occurred_at,
        sum(amounts.values()),
        online,
        in_store,
        customer_id,
        _day(start),
        customer_id,
        _day(start),
        now,
    )


@cache
def _refund_profile_sql(dialect: str) -> str:
    category, merchants = _favorites_sql("?", dialect)
    return (
        "UPDATE customer_profiles SET"  # noqa: S608
        " spend_minor = CASE WHEN spend_minor > ? THEN spend_minor - ? ELSE 0 END,"
        " purchase_count = CASE WHEN purchase_count > ? THEN purchase_count - ? ELSE 0 END,"
        " online_count = CASE WHEN online_count > ? THEN online_count - ? ELSE 0 END,"
        " in_store_count = CASE WHEN in_store_count > ? THEN in_store_count - ? ELSE 0 END,"
        f" favorite_category = {category}, favorite_merchant_ids = {merchants},"
        " updated_at = ? WHERE customer_id = ?"
    )


async def record_refund(
    *,
    customer_id: int,
    merchant_id: int,
    channel: str,
    occurred_at: datetime,
    refunded_by_category: Mapping[str | None, int],
    fully_refunded: bool,
    now: datetime,
) -> None:
    """Take a refund out of its customer's profile, inside the refund's transaction, in two
    statements: the buckets of the purchase's day (`occurred_at`) lose what was refunded of
    each category, the spend loses the whole refund, and when the purchase is now fully
    refunded, `purchase_count` and its channel's count lose one. Nothing goes below zero.

    `refunded_by_category` splits the refund over the purchase's category keys; an entry
    may be negative when a rounding share moves between categories, as long as the split
    adds up to the refund."""
    occurred_at = clock.as_utc(occurred_at)
    online, in_store = _channel_counts(channel)
    gone = 1 if fully_refunded else 0
    amounts = _by_key(refunded_by_category)
    refunded = max(0, sum(amounts.values()))
    start = window_start(now)
    await _take_from_buckets(customer_id, occurred_at.date(), merchant_id, amounts)
    await db.execute(
        _refund_profile_sql(db.dialect()),
        refunded,
        refunded,
        gone,
        gone,
        online * gone,
        online * gone,
        in_store * gone,
        in_store * gone,
        customer_id,
        _day(start),
        customer_id,
        _day(start),
        now,
        customer_id,
    )


# --- rebuilt in bulk --------------------------------------------------------------------


async def lock_profiles() -> None:
    """Inside a rebuild's transaction, before the purchases it rebuilds from are read: holds
    off every other write to profiles until it commits (reads go on, seeing the old rows).
    A purchase recorded meanwhile then waits and counts itself into the rebuilt profile
    instead of being lost between the rebuild's read and its write."""
    if db.dialect() == "postgres":
        await db.execute("LOCK TABLE customer_profiles, profile_spend_days IN EXCLUSIVE MODE")
    # SQLite: one writer at a time already.


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


_INSERT_PROFILE = (
    "INSERT INTO customer_profiles (customer_id, purchase_count, first_purchase_at,"  # noqa: S608
    " last_purchase_at, spend_minor, online_count, in_store_count, updated_at)"
    f" VALUES ({db.marks(8)})"
)


_INSERT_DAY = (
    "INSERT INTO profile_spend_days (customer_id, day, merchant_id, category, spend_minor)"  # noqa: S608
    f" VALUES ({db.marks(5)})"
)


def _merged_days(
    days: Iterable[SpendDay], start: date
) -> Iterator[tuple[tuple[int, date, int, str], int]]:
    """The buckets of the window, one per key (repeats added up), empty ones left out."""
    merged: dict[tuple[int, date, int, str], int] = {}
    for d in days:
        if d.day >= start:
            key = (d.customer_id, d.day, d.merchant_id, category_key(d.category))
            merged[key] = merged.get(key, 0) + d.spend_minor
    return ((key, spend) for key, spend in merged.items() if spend > 0)


def _profile_row(totals: ProfileTotals, now: datetime) -> Sequence[Any]:
    return (
        totals.customer_id,
        max(0, totals.purchase_count),
        clock.as_utc(totals.first_purchase_at) if totals.first_purchase_at else None,
        clock.as_utc(totals.last_purchase_at) if totals.last_purchase_at else None,
        max(0, totals.spend_minor),
        max(0, totals.online_count),
        max(0, totals.in_store_count),
        now,
    )


async def replace_profiles(
    totals: Iterable[ProfileTotals], days: Iterable[SpendDay], *, now: datetime
) -> int:
    """Every profile and bucket replaced by these, in one transaction (the caller's, when it
    has one: call `lock_profiles` there before reading what these come from): both tables
    cleared, rows written in chunks, then every favourite computed in one statement, with
    the SQL the incremental path uses. Days before the window and empty buckets are left
    out. The number of profiles written."""
    start = window_start(now)
    count = 0
    async with in_transaction():
        await lock_profiles()
        await db.execute("DELETE FROM profile_spend_days")
        await db.execute("DELETE FROM customer_profiles")
        for chunk in _chunks(totals, CHUNK):
            await db.execute_many(_INSERT_PROFILE, [_profile_row(t, now) for t in chunk])
            count += len(chunk)
        for buckets in _chunks(_merged_days(days, start), CHUNK):
            await db.execute_many(
                _INSERT_DAY,
                [(c, _day(day), m, category, spend) for (c, day, m, category), spend in buckets],
            )
        category, merchants = _favorites_sql("customer_profiles.customer_id", db.dialect())
        await db.execute(
            f"UPDATE customer_profiles SET favorite_category = {category},"  # noqa: S608
            f" favorite_merchant_ids = {merchants}",
            _day(start),
            _day(start),
        )
    return count


async def lapsed_customers(
    *, last_purchase_from: datetime, last_purchase_before: datetime, after_id: int, limit: int
) -> list[tuple[int, datetime]]:
    """(customer id, last purchase) of the customers whose last purchase was in
    [from, before), by id after `after_id`, at most `limit`."""
    rows = await db.rows(
        "SELECT customer_id, last_purchase_at FROM customer_profiles"
        " WHERE last_purchase_at >= ? AND last_purchase_at < ? AND customer_id > ?"
        " ORDER BY customer_id LIMIT ?",
        last_purchase_from,
        last_purchase_before,
        after_id,
        limit,
    )
    found = []
    for row in rows:
        moment = db.to_datetime(row["last_purchase_at"])
        assert moment is not None
        found.append((int(row["customer_id"]), moment))
    return found
