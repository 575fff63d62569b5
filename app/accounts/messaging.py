"""What messages to a customer need to know of them: their language, whether they agreed
to marketing, and who has a birthday on a given day."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from app import db
from app.accounts.models import Role, User


@dataclass(frozen=True, slots=True)
class Recipient:
    customer_id: int
    locale: str | None
    marketing_consent: bool


async def recipient(customer_id: int) -> Recipient | None:
    """The active customer's language and marketing consent; None for anyone else."""
    found = await User.get_or_none(id=customer_id, deleted_at=None, role=Role.CUSTOMER).only(
        "id", "locale", "consent_marketing"
    )
    if found is None:
        return None
    return Recipient(
        customer_id=customer_id, locale=found.locale, marketing_consent=found.consent_marketing
    )


async def recipients(customer_ids: Iterable[int]) -> dict[int, Recipient]:
    """`recipient` of each active customer among `customer_ids`, in one query."""
    wanted = sorted(set(customer_ids))
    if not wanted:
        return {}
    rows = await User.filter(id__in=wanted, deleted_at=None, role=Role.CUSTOMER).values(
        "id", "locale", "consent_marketing"
    )
    return {
        int(row["id"]): Recipient(
            customer_id=int(row["id"]),
            locale=row["locale"],
            marketing_consent=bool(row["consent_marketing"]),
        )
        for row in rows
    }


async def marketing_audience_born_on(
    day: date, *, after_id: int, limit: int
) -> list[tuple[int, date]]:
    """(customer id, birth date) of active customers with marketing consent born on `day`'s
    month and day (29 February birthdays fall on 28 February in other years), by id
    after `after_id`, at most `limit`."""
    days = [f"{day.month:02d}-{day.day:02d}"]
    if (day.month, day.day) == (2, 28) and not _is_leap(day.year):
        days.append("02-29")
    month_day = (
        "to_char(birth_date, 'MM-DD')"
        if db.dialect() == "postgres"
        else "strftime('%m-%d', birth_date)"
    )
    rows = await db.rows(
        f"SELECT id, birth_date FROM users WHERE role = 'CUSTOMER' AND deleted_at IS NULL"  # noqa: S608
        f" AND consent_marketing AND birth_date IS NOT NULL AND id > ?"
        f" AND {month_day} IN ({db.marks(len(days))}) ORDER BY id LIMIT ?",
        after_id,
        *days,
        limit,
    )
    return [(int(row["id"]), _as_date(row["birth_date"])) for row in rows]


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
