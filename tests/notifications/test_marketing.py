"""Marketing messages reach only customers who agreed to them, and at most the program's
`marketingMessagesPerWeek` in any 7 days, even when rules write at the same moment.
Service messages are sent whatever the consent."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tortoise.transactions import in_transaction

from app.core import clock
from app.notifications import triggers
from app.notifications.service import NotificationKind, notify
from app.settings import Settings
from tests.factories import make_admin, make_customer
from tests.notifications.inbox import kinds
from tests.support import Api

UPDATE = """mutation U($n: Int!) { updateProgram(input: {marketingMessagesPerWeek: $n}) {
  program { marketingMessagesPerWeek } userErrors { code field } } }"""


async def nudge(customer_id: int, n: int) -> bool:
    return await notify(
        customer_id=customer_id,
        kind=NotificationKind.LAPSED_NUDGE,
        cause=f"lapsed:test-{n}",
        target="app://offers",
    )


async def test_without_consent_no_marketing_but_service_messages_still(db: Settings) -> None:
    customer = await make_customer(consent_marketing=False)

    assert await nudge(customer.id, 1) is False
    assert await triggers.tier_reached(
        customer_id=customer.id, purchase_id=1, tier_code="SILVER", tier_name="Silver"
    )

    assert await kinds(customer.id) == ["TIER_REACHED"]


async def test_at_most_three_a_week_then_room_again(db: Settings) -> None:
    customer = await make_customer(consent_marketing=True)

    sent = [await nudge(customer.id, n) for n in range(5)]

    assert sent == [True, True, True, False, False]
    # Service messages do not count against the cap.
    assert await triggers.tier_reached(
        customer_id=customer.id, purchase_id=1, tier_code="GOLD", tier_name="Gold"
    )
    clock.advance(timedelta(days=6, hours=23))
    assert await nudge(customer.id, 5) is False
    clock.advance(timedelta(hours=1, seconds=1))
    assert await nudge(customer.id, 6) is True
    assert (await kinds(customer.id)).count("LAPSED_NUDGE") == 4


async def test_the_admin_sets_the_cap(api: Api) -> None:
    admin = api.token_for(await make_admin())
    customer = await make_customer(consent_marketing=True)

    refused = (await api.gql(UPDATE, {"n": 51}, token=admin))["data"]["updateProgram"]
    changed = (await api.gql(UPDATE, {"n": 1}, token=admin))["data"]["updateProgram"]

    assert refused["userErrors"] == [
        {"code": "INVALID_INPUT", "field": ["input", "marketingMessagesPerWeek"]}
    ]
    assert changed == {"program": {"marketingMessagesPerWeek": 1}, "userErrors": []}
    assert [await nudge(customer.id, n) for n in range(2)] == [True, False]
    await api.gql(UPDATE, {"n": 0}, token=admin)
    other = await make_customer(consent_marketing=True)
    assert await nudge(other.id, 1) is False


async def test_two_rules_at_once_cannot_pass_the_cap(postgres_only: Settings) -> None:
    customers = [await make_customer(consent_marketing=True) for _ in range(3)]

    async def rule(customer_id: int, n: int) -> bool:
        async with in_transaction():
            written = await nudge(customer_id, n)
            await asyncio.sleep(0.01)  # the transaction stays open a moment
            return written

    results = await asyncio.gather(
        *(rule(customer.id, n) for customer in customers for n in range(8))
    )

    assert sum(results) == 9
    for customer in customers:
        assert (await kinds(customer.id)).count("LAPSED_NUDGE") == 3
