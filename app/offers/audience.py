"""Who an offer is for. Each condition is written once here, in Python (to check a
purchase against the offers a batch loaded) and in SQL (to list a customer's offers in one
query), side by side so the two never disagree. A customer is in an offer's audience when
every condition the offer sets holds; an offer with none is for every registered customer.

What a condition compares is the customer's `Member` facts at a moment: their tier, age
and generation (from the birth date), whether it is their birthday month, and their
purchase profile (kept current by app.segments)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from app.segments.service import Profile

MAX_AGE = 130
MAX_SCORE = 5


class Generation(StrEnum):
    """Named age ranges, by birth year."""

    GEN_ALPHA = "GEN_ALPHA"
    GEN_Z = "GEN_Z"
    MILLENNIAL = "MILLENNIAL"
    GEN_X = "GEN_X"
    BABY_BOOMER = "BABY_BOOMER"
    SILENT = "SILENT"


GENERATION_YEARS: dict[Generation, tuple[int, int]] = {
    Generation.GEN_ALPHA: (2013, 9999),
    Generation.GEN_Z: (1997, 2012),
    Generation.MILLENNIAL: (1981, 1996),
    Generation.GEN_X: (1965, 1980),
    Generation.BABY_BOOMER: (1946, 1964),
    Generation.SILENT: (1, 1945),
}


def generation_of(birth_date: date) -> Generation:
    return next(g for g, (a, b) in GENERATION_YEARS.items() if a <= birth_date.year <= b)


def age_at(birth_date: date, at: date) -> int:
    """Whole years; someone born on 29 February is a year older on 1 March in other years."""
    return at.year - birth_date.year - ((at.month, at.day) < (birth_date.month, birth_date.day))


@dataclass(frozen=True, slots=True)
class Audience:
    """An offer's audience as stored: None or False means no condition."""

    tiers: tuple[str, ...] | None = None
    min_age: int | None = None
    max_age: int | None = None
    generations: tuple[Generation, ...] | None = None
    birthday_month: bool = False
    favorite_category: str | None = None  # normalised
    new_customers: bool = False
    lapsed_days: int | None = None
    channels: str | None = None  # ONLINE, IN_STORE or BOTH: the channels used, exactly
    min_recency: int | None = None
    min_frequency: int | None = None
    min_monetary: int | None = None

    @property
    def targeted(self) -> bool:
        return self != Audience()


@dataclass(frozen=True, slots=True)
class Member:
    """A customer as audiences see them at one moment."""

    tier_code: str
    age: int | None
    generation: Generation | None
    in_birthday_month: bool
    favorite_category: str | None
    purchase_count: int
    days_since_last_purchase: int | None
    channels_used: str | None
    recency: int
    frequency: int
    monetary: int

    @classmethod
    def of(
        cls,
        *,
        tier_code: str,
        birth_date: date | None,
        profile: Profile,
        at: datetime,
        minor_units: int,
    ) -> Member:
        return cls(
            tier_code=tier_code,
            age=age_at(birth_date, at.date()) if birth_date else None,
            generation=generation_of(birth_date) if birth_date else None,
            in_birthday_month=birth_date is not None and birth_date.month == at.month,
            favorite_category=profile.favorite_category,
            purchase_count=profile.purchase_count,
            days_since_last_purchase=profile.days_since_last_purchase(at),
            channels_used=profile.channels_used,
            recency=profile.recency_score(at),
            frequency=profile.frequency_score,
            monetary=profile.monetary_score(minor_units),
        )


def _listed(values: Sequence[str]) -> str:
    return "," + ",".join(values) + ","


@dataclass(frozen=True, slots=True)
class _Condition:
    # SQL over the offer's row (alias `o`) with one `?`, given `param(member)`.
    sql: str
    param: Callable[[Member], Any]
    holds: Callable[[Audience, Member], bool]


# Unknown facts take values no condition accepts (an age of -1 meets no minimum, ...).
_CONDITIONS = (
    _Condition(
        "(o.aud_tiers IS NULL OR o.aud_tiers LIKE ?)",
        lambda m: f"%,{m.tier_code},%",
        lambda a, m: a.tiers is None or m.tier_code in a.tiers,
    ),
    _Condition(
        "(o.aud_min_age IS NULL OR o.aud_min_age <= ?)",
        lambda m: -1 if m.age is None else m.age,
        lambda a, m: a.min_age is None or (m.age is not None and m.age >= a.min_age),
    ),
    _Condition(
        "(o.aud_max_age IS NULL OR o.aud_max_age >= ?)",
        lambda m: 10_000 if m.age is None else m.age,
        lambda a, m: a.max_age is None or (m.age is not None and m.age <= a.max_age),
    ),
    _Condition(
        "(o.aud_generations IS NULL OR o.aud_generations LIKE ?)",
        lambda m: f"%,{m.generation.value},%" if m.generation else "",
        lambda a, m: a.generations is None or m.generation in a.generations,
    ),
    _Condition(
        "(o.aud_birthday_month = FALSE OR ? = 1)",
        lambda m: int(m.in_birthday_month),
        lambda a, m: not a.birthday_month or m.in_birthday_month,
    ),
    _Condition(
        "(o.aud_favorite_category IS NULL OR o.aud_favorite_category = ?)",
        lambda m: m.favorite_category or "",
        lambda a, m: a.favorite_category is None or a.favorite_category == m.favorite_category,
    ),
    _Condition(
        "(o.aud_new_customers = FALSE OR ? = 0)",
        lambda m: m.purchase_count,
        lambda a, m: not a.new_customers or m.purchase_count == 0,
    ),
    _Condition(
        "(o.aud_lapsed_days IS NULL OR o.aud_lapsed_days <= ?)",
        lambda m: -1 if m.days_since_last_purchase is None else m.days_since_last_purchase,
        lambda a, m: (
            a.lapsed_days is None
            or (
                m.days_since_last_purchase is not None
                and m.days_since_last_purchase >= a.lapsed_days
            )
        ),
    ),
    _Condition(
        "(o.aud_channels IS NULL OR o.aud_channels = ?)",
        lambda m: m.channels_used or "",
        lambda a, m: a.channels is None or a.channels == m.channels_used,
    ),
    _Condition(
        "(o.aud_min_recency IS NULL OR o.aud_min_recency <= ?)",
        lambda m: m.recency,
        lambda a, m: a.min_recency is None or m.recency >= a.min_recency,
    ),
    _Condition(
        "(o.aud_min_frequency IS NULL OR o.aud_min_frequency <= ?)",
        lambda m: m.frequency,
        lambda a, m: a.min_frequency is None or m.frequency >= a.min_frequency,
    ),
    _Condition(
        "(o.aud_min_monetary IS NULL OR o.aud_min_monetary <= ?)",
        lambda m: m.monetary,
        lambda a, m: a.min_monetary is None or m.monetary >= a.min_monetary,
    ),
)

MEMBER_SQL = " AND ".join(c.sql for c in _CONDITIONS)


def member_params(member: Member) -> list[Any]:
    """The parameters of `MEMBER_SQL`, in order."""
    return [c.param(member) for c in _CONDITIONS]


def includes(audience: Audience, member: Member) -> bool:
    return all(c.holds(audience, member) for c in _CONDITIONS)


def audience_columns(audience: Audience) -> dict[str, Any]:
    """The offer row's columns for an audience."""
    return {
        "targeted": audience.targeted,
        "aud_tiers": _listed(audience.tiers) if audience.tiers is not None else None,
        "aud_min_age": audience.min_age,
        "aud_max_age": audience.max_age,
        "aud_generations": (
            _listed([g.value for g in audience.generations])
            if audience.generations is not None
            else None
        ),
        "aud_birthday_month": audience.birthday_month,
        "aud_favorite_category": audience.favorite_category,
        "aud_new_customers": audience.new_customers,
        "aud_lapsed_days": audience.lapsed_days,
        "aud_channels": audience.channels,
        "aud_min_recency": audience.min_recency,
        "aud_min_frequency": audience.min_frequency,
        "aud_min_monetary": audience.min_monetary,
    }


def audience_of(row: Any) -> Audience:
    """The audience of an offer row (a model instance or a dict of its columns)."""

    def get(name: str) -> Any:
        return row[name] if isinstance(row, dict) else getattr(row, name)

    tiers, generations = get("aud_tiers"), get("aud_generations")
    return Audience(
        tiers=tuple(t for t in tiers.split(",") if t) if tiers is not None else None,
        min_age=get("aud_min_age"),
        max_age=get("aud_max_age"),
        generations=(
            tuple(Generation(g) for g in generations.split(",") if g)
            if generations is not None
            else None
        ),
        birthday_month=bool(get("aud_birthday_month")),
        favorite_category=get("aud_favorite_category"),
        new_customers=bool(get("aud_new_customers")),
        lapsed_days=get("aud_lapsed_days"),
        channels=get("aud_channels"),
        min_recency=get("aud_min_recency"),
        min_frequency=get("aud_min_frequency"),
        min_monetary=get("aud_min_monetary"),
    )
