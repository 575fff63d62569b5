"""Offers for the messages a customer receives: the birthday offer, and the offers of the
segments a customer is in."""

from __future__ import annotations

from datetime import date, datetime

from app.cashback import tiers
from app.core.money import minor_units
from app.offers import feed
from app.offers.audience import Member
from app.offers.feed import OfferCard
from app.segments import service as segments


async def _reader(customer_id: int, birth_date: date | None, now: datetime) -> feed.Reader:
    """The customer as audiences see them now (the program's order: no personalization)."""
    [standing] = await tiers.customer_tiers([customer_id])
    profile = (await segments.profiles_of([customer_id]))[customer_id]
    member = Member.of(
        tier_code=standing.tier.code,
        birth_date=birth_date,
        profile=profile,
        at=now,
        minor_units=minor_units(standing.spend.currency),
    )
    return feed.Reader(customer_id=customer_id, member=member, personalized=False)


async def birthday_offer(*, customer_id: int, birth_date: date, now: datetime) -> OfferCard | None:
    """The live offer for customers in their birthday month that this customer may use
    (the program's first in its order), if there is one."""
    reader = await _reader(customer_id, birth_date, now)
    page = await feed.offers_for(
        reader, first=1, after=None, merchant_id=None, category=None, now=now, birthday_only=True
    )
    return page.items[0] if page.items else None


async def segment_offers(
    *, customer_id: int, birth_date: date | None, now: datetime, first: int = 5
) -> list[OfferCard]:
    """Live offers for a segment (not for everyone) whose audience includes the customer
    now, birthday offers aside, in the program's order."""
    reader = await _reader(customer_id, birth_date, now)
    page = await feed.offers_for(
        reader,
        first=first,
        after=None,
        merchant_id=None,
        category=None,
        now=now,
        targeted_only=True,
    )
    return list(page.items)
