"""The period a metric covers: [start, end), at most 5 years, and its buckets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from app.core.clock import as_utc
from app.core.errors import InvalidInput

MAX_YEARS = 5
# A series has at most this many points (a day for each of 3 years, a week for 5 years).
MAX_BUCKETS = 1_100


class Interval(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


def _years_later(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    @classmethod
    def of(cls, start: datetime, end: datetime) -> Period:
        """The period from `start` to `end` (times without an offset are UTC, as
        everywhere in the API). INVALID_INPUT at `to` when it does not end after it
        starts or spans more than 5 years."""
        start, end = as_utc(start), as_utc(end)
        if end <= start:
            raise InvalidInput("The period must end after it starts.", field=["to"])
        if end > _years_later(start, MAX_YEARS):
            raise InvalidInput(f"A period spans at most {MAX_YEARS} years.", field=["to"])
        return cls(start, end)

    @property
    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - (self.end - self.start), self.start)

    def buckets(self, interval: Interval) -> list[Period]:
        """Calendar days, ISO weeks (from Monday) or calendar months in UTC, the first
        and last cut to the period. INVALID_INPUT at `interval` past MAX_BUCKETS."""
        bounds = [self.start]
        moment = _floor(self.start, interval)
        while True:
            moment = _next(moment, interval)
            if moment >= self.end:
                break
            bounds.append(moment)
            if len(bounds) > MAX_BUCKETS:
                raise InvalidInput(
                    f"A series has at most {MAX_BUCKETS} points: choose a longer interval.",
                    field=["interval"],
                )
        bounds.append(self.end)
        return [Period(a, b) for a, b in pairwise(bounds)]


def _floor(moment: datetime, interval: Interval) -> datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval is Interval.WEEK:
        return day - timedelta(days=day.weekday())
    if interval is Interval.MONTH:
        return day.replace(day=1)
    return day


def _next(moment: datetime, interval: Interval) -> datetime:
    if interval is Interval.DAY:
        return moment + timedelta(days=1)
    if interval is Interval.WEEK:
        return moment + timedelta(days=7)
    if moment.month == 12:
        return moment.replace(year=moment.year + 1, month=1)
    return moment.replace(month=moment.month + 1)
