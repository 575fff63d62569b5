"""Each audience condition lets in the customers it names and keeps out the others, in the
list of offers a customer sees and at purchase, which agree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from app.catalog.models import Store
from app.catalog.values import Channel
from app.core import clock
from tests.cashback.factories import item, purchase_input, record
from tests.catalog.factories import make_merchant, make_product, make_store
from tests.factories import make_customer
from tests.offers.factories import make_offer, seen_ids, viewer_offers
from tests.support import Api

DAY = timedelta(days=1)


@dataclass
class Shop:
    online: Store
    in_store: Store


async def _shop() -> Shop:
    merchant = await make_merchant(percent="1")
    await make_product(merchant, sku="coffee", category="Coffee")
    await make_product(merchant, sku="tea", category="Tea")
    return Shop(
        online=await make_store(merchant, channel=Channel.ONLINE),
        in_store=await make_store(merchant, channel=Channel.IN_STORE),
    )


async def _buy(
    api: Api, store: Store, customer: Any, total: str = "20.00", *, days_ago: int = 0, **kw: Any
) -> dict[str, Any]:
    result = await record(
        api,
        store,
        purchase_input(store, customer, total, occurred_at=clock.now() - days_ago * DAY, **kw),
    )
    assert result["userErrors"] == [], result
    return result["purchase"]


def _offer_applied(purchase: dict[str, Any], title: str) -> bool:
    return any(part["label"] == title for part in purchase["explanation"])


Prepare = Callable[[Api, Shop], Awaitable[tuple[Any, Any]]]


async def _tier(api: Api, shop: Shop) -> tuple[Any, Any]:
    gold, bronze = await make_customer(), await make_customer()
    await _buy(api, shop.in_store, gold, "5000.00", days_ago=10)
    return gold, bronze


async def _ages(api: Api, shop: Shop) -> tuple[Any, Any]:
    today = clock.now().date()
    return (
        await make_customer(birth_date=today.replace(year=today.year - 35) - DAY),
        await make_customer(birth_date=today.replace(year=today.year - 20) - DAY),
    )


async def _generation(api: Api, shop: Shop) -> tuple[Any, Any]:
    return (
        await make_customer(birth_date=date(1990, 6, 1)),
        await make_customer(birth_date=date(1970, 6, 1)),
    )


async def _unknown_age(api: Api, shop: Shop) -> tuple[Any, Any]:
    # A customer who did not give a birth date is in no age range.
    return await make_customer(birth_date=date(1990, 6, 1)), await make_customer()


async def _birthday(api: Api, shop: Shop) -> tuple[Any, Any]:
    today = clock.now().date()
    other = 1 if today.month != 1 else 2
    return (
        await make_customer(birth_date=date(1990, today.month, 1)),
        await make_customer(birth_date=date(1990, other, 1)),
    )


async def _favorite(api: Api, shop: Shop) -> tuple[Any, Any]:
    fan, other = await make_customer(), await make_customer()
    await _buy(api, shop.in_store, fan, "30.00", items=[item("coffee", "30.00")])
    await _buy(api, shop.in_store, fan, "10.00", items=[item("tea", "10.00")])
    await _buy(api, shop.in_store, other, "30.00", items=[item("tea", "30.00")])
    return fan, other


async def _new(api: Api, shop: Shop) -> tuple[Any, Any]:
    returning = await make_customer()
    await _buy(api, shop.online, returning)
    return await make_customer(), returning


async def _lapsed(api: Api, shop: Shop) -> tuple[Any, Any]:
    lapsed, recent = await make_customer(), await make_customer()
    await _buy(api, shop.online, lapsed, days_ago=100)
    await _buy(api, shop.online, recent, days_ago=10)
    return lapsed, recent


async def _omnichannel(api: Api, shop: Shop) -> tuple[Any, Any]:
    both, online = await make_customer(), await make_customer()
    await _buy(api, shop.online, both)
    await _buy(api, shop.in_store, both)
    await _buy(api, shop.online, online)
    return both, online


async def _online_only(api: Api, shop: Shop) -> tuple[Any, Any]:
    online, both = await _omnichannel(api, shop)
    return both, online


async def _recent(api: Api, shop: Shop) -> tuple[Any, Any]:
    recent, older = await make_customer(), await make_customer()
    await _buy(api, shop.online, recent, days_ago=3)
    await _buy(api, shop.online, older, days_ago=100)
    return recent, older


async def _frequent(api: Api, shop: Shop) -> tuple[Any, Any]:
    frequent, once = await make_customer(), await make_customer()
    await _buy(api, shop.online, frequent)
    await _buy(api, shop.online, frequent)
    await _buy(api, shop.online, once)
    return frequent, once


async def _spender(api: Api, shop: Shop) -> tuple[Any, Any]:
    big, small = await make_customer(), await make_customer()
    await _buy(api, shop.online, big, "100.00")
    await _buy(api, shop.online, small, "20.00")
    return big, small


CASES: list[tuple[str, dict[str, Any], Prepare]] = [
    ("tier", {"tiers": ["GOLD"]}, _tier),
    ("age range", {"minAge": 30, "maxAge": 40}, _ages),
    ("unknown age", {"minAge": 18}, _unknown_age),
    ("generation", {"generations": ["MILLENNIAL"]}, _generation),
    ("birthday month", {"birthdayMonth": True}, _birthday),
    ("favourite category", {"favoriteCategory": "coffee"}, _favorite),
    ("new customers", {"newCustomers": True}, _new),
    ("lapsed", {"lapsedDays": 90}, _lapsed),
    ("omnichannel", {"channels": ["ONLINE", "IN_STORE"]}, _omnichannel),
    ("online only", {"channels": ["ONLINE"]}, _online_only),
    ("recency", {"minRecencyScore": 5}, _recent),
    ("frequency", {"minFrequencyScore": 2}, _frequent),
    ("monetary", {"minMonetaryScore": 2}, _spender),
]


@pytest.mark.parametrize(("audience", "prepare"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_an_audience_condition_lets_in_whom_it_names_and_no_one_else(
    api: Api, audience: dict[str, Any], prepare: Prepare
) -> None:
    shop = await _shop()
    inside, outside = await prepare(api, shop)
    offer = await make_offer(api, title="For some", percent="15", audience=audience)

    assert await seen_ids(api, inside) == [offer]
    assert await seen_ids(api, outside) == []

    # At purchase the same: the offer applies to the one and not to the other.
    assert _offer_applied(await _buy(api, shop.in_store, inside, "10.00"), "For some")
    assert not _offer_applied(await _buy(api, shop.in_store, outside, "10.00"), "For some")


async def test_an_offer_without_audience_is_for_every_customer_and_not_exclusive(
    api: Api,
) -> None:
    shop = await _shop()
    offer = await make_offer(api, title="For all", percent="15")
    customer = await make_customer()

    [seen] = [o for o in await viewer_offers(api, customer) if o["id"] == offer]
    assert seen["exclusive"] is False
    assert _offer_applied(await _buy(api, shop.online, customer, "10.00"), "For all")


def _move_clock_to(moment: datetime) -> None:
    clock.advance(moment - clock.now())


@pytest.mark.parametrize(
    ("moment", "in_month"),
    [
        (datetime(2027, 1, 31, 23, 59, tzinfo=UTC), False),
        (datetime(2027, 2, 1, 0, 0, tzinfo=UTC), True),
        (datetime(2027, 2, 28, 23, 59, tzinfo=UTC), True),
        (datetime(2027, 3, 1, 0, 0, tzinfo=UTC), False),
        (datetime(2028, 2, 29, 12, 0, tzinfo=UTC), True),
    ],
)
async def test_a_birthday_offer_for_someone_born_on_29_february(
    api: Api, moment: datetime, in_month: bool
) -> None:
    shop = await _shop()
    leapling = await make_customer(birth_date=date(2000, 2, 29))
    _move_clock_to(moment - timedelta(days=40))
    offer = await make_offer(
        api,
        title="Happy birthday",
        percent="20",
        audience={"birthdayMonth": True},
        startsAt=(moment - timedelta(days=40)).isoformat(),
        endsAt=(moment + timedelta(days=40)).isoformat(),
    )
    _move_clock_to(moment)

    assert (await seen_ids(api, leapling) == [offer]) is in_month
    purchase = await _buy(api, shop.online, leapling, "10.00")
    assert _offer_applied(purchase, "Happy birthday") is in_month


async def test_a_purchase_reported_late_is_judged_by_when_it_occurred(api: Api) -> None:
    """A birthday offer applies to a purchase made in the birthday month, reported after."""
    shop = await _shop()
    _move_clock_to(datetime(2027, 2, 20, tzinfo=UTC))
    leapling = await make_customer(birth_date=date(2000, 2, 29))
    await make_offer(api, title="Happy birthday", percent="20", audience={"birthdayMonth": True})
    _move_clock_to(datetime(2027, 3, 2, tzinfo=UTC))

    assert await seen_ids(api, leapling) == []
    late = await _buy(api, shop.online, leapling, "10.00", days_ago=5)  # 25 February
    assert _offer_applied(late, "Happy birthday")
