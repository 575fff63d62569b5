"""The worker's scheduled rules: credits expiring within 7 days (once per expiry day),
birthdays with the birthday offer (once a year, marketing consent only), lapsed customers
(once per lapse). Each call does bounded work and goes on where the last one stopped;
two workers at once write each message once."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from app.core import clock
from app.notifications.rules import run_scheduled_rules
from app.settings import Settings
from tests.cashback.factories import purchase_input, record
from tests.catalog.factories import make_store
from tests.factories import make_customer
from tests.notifications.inbox import stored
from tests.offers.factories import make_offer
from tests.redemptions.factories import give_credits
from tests.support import Api


def born_today() -> date:
    today = clock.now().date()
    return date(1990, today.month, today.day)


async def only(customer: Any, kind: str) -> list[dict[str, Any]]:
    return [row for row in await stored(customer.id) if row["kind"] == kind]


async def test_credits_expiring_within_a_week_are_announced_once(db: Settings) -> None:
    soon, later = await make_customer(), await make_customer()
    await give_credits(soon, 1250, expires_in=timedelta(days=5))
    await give_credits(later, 800, expires_in=timedelta(days=20))

    first = await run_scheduled_rules()
    again = await run_scheduled_rules()

    assert first["expiring_credits"] == 1 and again["expiring_credits"] == 0
    [message] = await only(soon, "CREDITS_EXPIRING")
    expires_on = (clock.now() + timedelta(days=5)).date().isoformat()
    assert message["body"] == (
        f"12.50 USD of your credits expire on {expires_on}: spend them before then."
    )
    assert await only(later, "CREDITS_EXPIRING") == []
    # Two weeks on, the later credits come within a week: their turn.
    clock.advance(timedelta(days=14))
    assert (await run_scheduled_rules())["expiring_credits"] == 1
    assert len(await only(later, "CREDITS_EXPIRING")) == 1


async def test_each_call_does_bounded_work_and_goes_on(db: Settings) -> None:
    customers = [await make_customer() for _ in range(3)]
    for customer in customers:
        await give_credits(customer, 100, expires_in=timedelta(days=2))

    counts = [(await run_scheduled_rules(limit=2))["expiring_credits"] for _ in range(3)]

    assert counts == [2, 1, 0]
    for customer in customers:
        assert len(await only(customer, "CREDITS_EXPIRING")) == 1


async def test_a_birthday_brings_the_birthday_offer_once_a_year(api: Api) -> None:
    offer = await make_offer(api, title="Birthday treat", audience={"birthdayMonth": True})
    fan = await make_customer(birth_date=born_today(), consent_marketing=True)
    private = await make_customer(birth_date=born_today(), consent_marketing=False)
    await make_customer(birth_date=date(1990, 1, 1) + timedelta(days=1), consent_marketing=True)

    first = await run_scheduled_rules()
    again = await run_scheduled_rules()

    assert (first["birthdays"], again["birthdays"]) == (1, 0)
    [message] = await only(fan, "BIRTHDAY")
    assert message["body"] == "A gift from us for your birthday: Birthday treat."
    assert message["target"] == f"app://offers/{offer}"
    assert message["marketing"]
    assert await stored(private.id) == []


async def test_a_birthday_without_an_offer_is_a_greeting(db: Settings) -> None:
    fan = await make_customer(birth_date=born_today(), consent_marketing=True, locale="es")

    await run_scheduled_rules()

    [message] = await only(fan, "BIRTHDAY")
    assert message["title"] == "¡Feliz cumpleaños!"
    assert message["target"] == "app://offers"


async def test_a_lapsed_customer_is_nudged_once(api: Api) -> None:
    store = await make_store(percent="1")
    lapsed = await make_customer(consent_marketing=True)
    active = await make_customer(consent_marketing=True)
    long_ago = clock.now() - timedelta(days=70)
    await record(api, store, purchase_input(store, lapsed, "10.00", occurred_at=long_ago))
    await record(api, store, purchase_input(store, active, "10.00"))

    first = await run_scheduled_rules()
    again = await run_scheduled_rules()

    assert (first["lapsed_customers"], again["lapsed_customers"]) == (1, 0)
    [message] = await only(lapsed, "LAPSED_NUDGE")
    assert message["title"] == "We miss you"
    assert await only(active, "LAPSED_NUDGE") == []


async def test_two_workers_at_once_write_each_message_once(postgres_only: Settings) -> None:
    customers = [await make_customer(birth_date=born_today(), consent_marketing=True)]
    customers += [await make_customer() for _ in range(4)]
    for customer in customers:
        await give_credits(customer, 100, expires_in=timedelta(days=3))

    results = await asyncio.gather(*(run_scheduled_rules(limit=2) for _ in range(4)))
    while sum((await run_scheduled_rules(limit=2)).values()):
        pass

    assert sum(r["birthdays"] for r in results) <= 1
    for customer in customers:
        assert len(await only(customer, "CREDITS_EXPIRING")) == 1
    assert len(await only(customers[0], "BIRTHDAY")) == 1
