"""Program metrics over a period (admins): what app/insights/activity.py and trends.py
compose from the features that own the data, and the ledger's books
(app/ledger/reporting.py).

Counts and sums come from the database (integers, minor units); here they only become
shares and averages. A share is None when its base is empty, an average when there is
nothing to average. Averages of money are rounded to the nearest minor unit (half to
even). Definitions: README.md, "Program metrics"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from app import db
from app.cashback import reporting as cashback
from app.catalog.values import Channel
from app.core.errors import InvalidInput
from app.core.money import Money
from app.insights import activity, trends
from app.insights.period import Interval, Period
from app.insights.reading import rows_of
from app.ledger import reporting as ledger
from app.program.service import get_program

MAX_TOP_OFFERS = 100


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def average(total: int, count: int, currency: str) -> Money | None:
    if not count:
        return None
    minor = (Decimal(total) / count).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return Money.from_minor(int(minor), currency)


def _int(row: dict[str, Any] | None, key: str) -> int:
    return int((row or {}).get(key) or 0)


@dataclass(frozen=True, slots=True)
class Metrics:
    period: Period
    currency: str
    active_customers: int
    buyers: int
    repeat_buyers: int
    previously_active: int
    retained: int
    omnichannel: int
    purchase_count: int
    sales: int
    purchases_with_credits: int
    sales_with_credits: int
    members: int
    lifetime_spend: int
    books: ledger.Books


async def program_metrics(*, start: datetime, end: datetime) -> Metrics:
    """The period's headline figures and books: two statements."""
    period = Period.of(start, end)
    currency = (await get_program()).currency_code
    query = activity.summary(
        currency=currency, start=period.start, end=period.end, previous=period.previous.start
    )
    found = await rows_of(query)
    row = found[0] if found else None
    books = ledger.books_of(
        await rows_of(ledger.books_query(currency=currency, start=period.start, end=period.end))
    )
    return Metrics(
        period=period,
        currency=currency,
        active_customers=_int(row, "active"),
        buyers=_int(row, "buyers"),
        repeat_buyers=_int(row, "repeat_buyers"),
        previously_active=_int(row, "was_active"),
        retained=_int(row, "retained"),
        omnichannel=_int(row, "omnichannel"),
        purchase_count=_int(row, "n"),
        sales=_int(row, "sales"),
        purchases_with_credits=_int(row, "n_with"),
        sales_with_credits=_int(row, "sales_with"),
        members=_int(row, "members"),
        lifetime_spend=_int(row, "spend"),
        books=books,
    )


@dataclass(frozen=True, slots=True)
class ChannelFigures:
    channel: Channel
    active_customers: int
    purchase_count: int
    sales: int
    redemption_count: int
    redeemed: int


async def channel_figures(*, period: Period, currency: str) -> list[ChannelFigures]:
    """Every channel, in the enum's order, active or not."""
    query = activity.by_channel(currency=currency, start=period.start, end=period.end)
    found = {r["channel"]: r for r in await rows_of(query)}
    return [
        ChannelFigures(
            channel=channel,
            active_customers=_int(found.get(channel.value), "active"),
            purchase_count=_int(found.get(channel.value), "purchases"),
            sales=_int(found.get(channel.value), "sales"),
            redemption_count=_int(found.get(channel.value), "redemptions"),
            redeemed=_int(found.get(channel.value), "redeemed"),
        )
        for channel in Channel
    ]


async def segment_figures(*, period: Period, currency: str) -> list[cashback.SegmentFigures]:
    query = cashback.segments_query(currency=currency, start=period.start, end=period.end)
    return await cashback.segment_figures_of(await rows_of(query), currency=currency)


@dataclass(frozen=True, slots=True)
class Cohort:
    sign_up_month: date
    customers: int
    active_customers: int


async def cohorts(*, period: Period, currency: str) -> list[Cohort]:
    """Customers by the month (UTC) they signed up, up to the period's end, oldest first."""
    query = activity.cohorts(currency=currency, start=period.start, end=period.end)
    return [
        Cohort(
            sign_up_month=date.fromisoformat(f"{r['month']}-01"),
            customers=int(r["customers"]),
            active_customers=int(r["active"] or 0),
        )
        for r in await rows_of(query)
    ]


@dataclass(frozen=True, slots=True)
class Point:
    period: Period
    active_customers: int
    purchase_count: int
    sales: int
    buyers: int
    repeat_buyers: int
    previously_active: int
    retained: int
    outstanding_liability: int


async def series(*, period: Period, currency: str, interval: Interval) -> list[Point]:
    """The period cut into calendar buckets (UTC): two statements whatever their number."""
    buckets = period.buckets(interval)
    postgres = db.dialect() == "postgres"
    query = trends.series(currency=currency, buckets=buckets, postgres=postgres)
    found = {int(r["i"]): r for r in await rows_of(query)}
    moments = [b.end for b in buckets]
    levels = ledger.liability_of(
        await rows_of(
            ledger.liability_query(currency=currency, moments=moments, postgres=postgres)
        ),
        len(buckets),
    )
    return [
        Point(
            period=bucket,
            active_customers=_int(found.get(i), "active"),
            purchase_count=_int(found.get(i), "purchases"),
            sales=_int(found.get(i), "sales"),
            buyers=_int(found.get(i), "buyers"),
            repeat_buyers=_int(found.get(i), "repeat_buyers"),
            previously_active=_int(found.get(i), "was_active"),
            retained=_int(found.get(i), "retained"),
            outstanding_liability=level,
        )
        for i, (bucket, level) in enumerate(zip(buckets, levels, strict=True))
    ]


@dataclass(frozen=True, slots=True)
class OfferFigures:
    offer_id: int
    title: str
    activations: int
    purchase_count: int
    cashback_issued: int


async def top_offers(*, period: Period, currency: str, first: int) -> list[OfferFigures]:
    """The `first` offers (at most MAX_TOP_OFFERS) that gave the most cashback on the
    period's purchases, then those activated in it. INVALID_INPUT at `first` below 0."""
    if first < 0:
        raise InvalidInput("first must not be negative.", field=["first"])
    query = trends.top_offers(currency=currency, period=period, first=min(first, MAX_TOP_OFFERS))
    return [
        OfferFigures(
            offer_id=int(r["offer_id"]),
            title=r["title"],
            activations=int(r["activations"]),
            purchase_count=int(r["purchases"]),
            cashback_issued=int(r["cashback"]),
        )
        for r in await rows_of(query)
    ]
