"""Money moves and the customer is told, once per cause, in the same transaction: cashback
recorded, credits available, a tier reached, cashback taken back by a refund, a
redemption captured. A repeat of the cause (the same key) writes nothing more."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from tortoise.transactions import in_transaction

from app import ledger
from app.cashback import purchases
from app.catalog.values import Channel
from app.core import clock
from app.core.errors import DomainError
from app.db import rows
from app.notifications import triggers
from app.program.service import get_program
from app.settings import Settings
from tests.cashback.factories import purchase_input, record, refund
from tests.catalog.factories import make_store
from tests.factories import make_customer
from tests.ledger.statements import count_statements
from tests.notifications.inbox import kinds, messages, stored
from tests.redemptions.factories import gid, give_credits, make_merchant
from tests.redemptions.operations import capture, started
from tests.support import Api


async def test_a_purchase_tells_the_amount_and_when_it_becomes_available(api: Api) -> None:
    store = await make_store(percent="5")
    customer = await make_customer()
    data = purchase_input(store, customer, "80.00")

    await record(api, store, data)
    await record(api, store, data)  # the partner sends it again

    [message] = await messages(api, api.token_for(customer))
    available_on = (clock.now() + timedelta(days=30)).date().isoformat()
    assert message["kind"] == "CASHBACK_RECORDED"
    assert message["title"] == "You earned 4.00 USD cashback"
    assert "4.00 USD" in message["body"] and available_on in message["body"]
    assert message["target"].startswith("app://purchases/")
    assert (message["readAt"], message["marketing"]) == (None, False)


async def test_a_purchase_without_cashback_says_nothing(api: Api) -> None:
    store = await make_store(percent="0")
    customer = await make_customer()

    await record(api, store, purchase_input(store, customer, "80.00"))

    assert await kinds(customer.id) == []


async def test_credits_maturing_are_announced_once_by_any_read_or_the_worker(api: Api) -> None:
    store = await make_store(percent="10")
    first, second = await make_customer(), await make_customer()
    await record(api, store, purchase_input(store, first, "20.00"))
    await record(api, store, purchase_input(store, second, "30.00"))
    clock.advance(timedelta(days=30, minutes=1))

    # A read settles the first wallet; the worker settles the other one.
    assert (await ledger.get_balance(customer_id=first.id, currency="USD")).available == 200
    assert await ledger.settle_due_wallets() >= 1
    await ledger.get_balance(customer_id=first.id, currency="USD")

    for customer, amount in ((first, "2.00 USD"), (second, "3.00 USD")):
        assert await kinds(customer.id) == ["CASHBACK_RECORDED", "CREDITS_AVAILABLE"]
        newest = (await messages(api, api.token_for(customer)))[0]
        assert newest["title"] == f"{amount} ready to spend"
        assert newest["target"] == "app://activity"


async def test_reaching_a_tier_is_announced_once(api: Api) -> None:
    store = await make_store(percent="1")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "600.00"))
    data = purchase_input(store, customer, "500.00")

    await record(api, store, data)
    await record(api, store, data)
    await record(api, store, purchase_input(store, customer, "10.00"))  # still Silver

    found = await stored(customer.id)
    assert [row["kind"] for row in found].count("TIER_REACHED") == 1
    [tier] = [row for row in found if row["kind"] == "TIER_REACHED"]
    assert tier["title"] == "Welcome to Silver"
    assert tier["target"] == "app://tier"


async def test_a_refund_that_takes_cashback_back_is_announced_once(api: Api) -> None:
    store = await make_store(await make_merchant(name="Shoe Shop", percent="10"))
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "100.00", external_id="R-1"))

    await refund(api, store, "R-1", "40.00", "refund-1")
    await refund(api, store, "R-1", "40.00", "refund-1")  # the same refund, sent again

    assert await kinds(customer.id) == ["CASHBACK_RECORDED", "CASHBACK_TAKEN_BACK"]
    newest = (await messages(api, api.token_for(customer)))[0]
    assert newest["body"] == "A refund at Shoe Shop took back 4.00 USD of cashback."


async def test_a_captured_redemption_is_announced_once(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant(name="Corner Bakery")
    store = await make_store(merchant, channel=Channel.ONLINE)
    await give_credits(customer, 1000)
    redemption = await started(
        api, api.token_for(customer), gid("Merchant", merchant), "4.00", channel="ONLINE"
    )
    partner = api.partner_token(["redemptions:write"], merchant_id=merchant.id)
    fields = {
        "storeId": gid("Store", store),
        "redemptionId": redemption["id"],
        "orderReference": "order-7",
    }

    first = await capture(api, partner, **fields)
    again = await capture(api, partner, **fields)

    assert first["data"]["captureRedemption"]["userErrors"] == []
    assert again["data"]["captureRedemption"]["userErrors"] == []
    [message] = await messages(api, api.token_for(customer))
    assert message["kind"] == "REDEMPTION_CAPTURED"
    assert message["body"] == "4.00 USD of your credits paid part of your order at Corner Bakery."
    assert message["target"] == f"app://redemptions/{redemption['id']}"


async def test_a_movement_that_rolls_back_leaves_no_message(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await make_store(percent="10")
    customer = await make_customer()

    async def fails(**_: object) -> None:
        raise DomainError("The spend could not be counted.")

    # The last step of recording a purchase fails, after its message was written.
    monkeypatch.setattr(purchases, "count_purchase", fails)
    answer = await record(api, store, purchase_input(store, customer, "50.00"))

    assert answer["purchase"] is None
    assert await kinds(customer.id) == []
    assert (await ledger.get_balance(customer_id=customer.id, currency="USD")).pending == 0


async def test_a_message_written_in_a_transaction_that_fails_is_gone(db: Settings) -> None:
    customer = await make_customer()
    program = await get_program()

    with pytest.raises(RuntimeError):
        async with in_transaction():
            written = await triggers.redemption_captured(
                customer_id=customer.id,
                redemption_id=1,
                amount_minor=100,
                currency=program.currency_code,
                merchant_name="Shop",
            )
            assert written
            raise RuntimeError("the capture failed")

    assert await kinds(customer.id) == []


async def test_the_same_cause_twice_writes_one_message(db: Settings) -> None:
    customer = await make_customer()
    kwargs = {
        "customer_id": customer.id,
        "redemption_id": 9,
        "amount_minor": 100,
        "currency": "USD",
        "merchant_name": "Shop",
    }

    assert await triggers.redemption_captured(**kwargs) is True
    assert await triggers.redemption_captured(**kwargs) is False

    assert await kinds(customer.id) == ["REDEMPTION_CAPTURED"]


async def test_a_deleted_or_unknown_customer_gets_nothing(db: Settings) -> None:
    assert not await triggers.tier_reached(
        customer_id=999_999, purchase_id=1, tier_code="SILVER", tier_name="Silver"
    )


async def test_some_kinds_also_go_by_email_once_and_only_if_they_commit(db: Settings) -> None:
    customer = await make_customer(locale="fr")
    kwargs = {
        "customer_id": customer.id,
        "redemption_id": 5,
        "amount_minor": 250,
        "currency": "USD",
        "merchant_name": "Shop",
    }
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await triggers.redemption_captured(**{**kwargs, "redemption_id": 6})
            raise RuntimeError("the capture failed")

    await triggers.redemption_captured(**kwargs)
    await triggers.redemption_captured(**kwargs)
    await triggers.tier_reached(
        customer_id=customer.id, purchase_id=1, tier_code="SILVER", tier_name="Silver"
    )

    queued = await outgoing(customer.id)
    assert queued == [
        {"subject": "Vous avez payé 2.50 USD avec vos crédits", "locale": "fr", "channel": "email"}
    ]


async def outgoing(customer_id: int) -> list[dict[str, object]]:
    return await rows(
        "SELECT subject, locale, channel FROM outbox_messages WHERE customer_id = ? ORDER BY id",
        customer_id,
    )


async def test_the_same_purchase_twice_at_once_writes_one_message(
    api: Api, postgres_only: Settings
) -> None:
    store = await make_store(percent="5")
    customer = await make_customer()
    data = purchase_input(store, customer, "40.00")

    answers = await asyncio.gather(*(record(api, store, data) for _ in range(4)))

    assert {a["purchase"]["id"] for a in answers} == {answers[0]["purchase"]["id"]}
    assert await kinds(customer.id) == ["CASHBACK_RECORDED"]


async def test_the_worker_announces_a_whole_batch_in_a_fixed_number_of_statements(
    api: Api, postgres_only: Settings
) -> None:
    store = await make_store(percent="10")
    few = [await make_customer() for _ in range(2)]
    many = [await make_customer() for _ in range(8)]
    for customer in few:
        await record(api, store, purchase_input(store, customer, "10.00"))
    clock.advance(timedelta(days=30, minutes=1))
    with count_statements() as settling_few:
        assert await ledger.settle_due_wallets() == 2
    for customer in many:
        await record(api, store, purchase_input(store, customer, "10.00"))
    clock.advance(timedelta(days=30, minutes=1))
    with count_statements() as settling_many:
        assert await ledger.settle_due_wallets() == 8

    assert len(settling_few) == len(settling_many), "\n".join(settling_many)
    for customer in few + many:
        assert await kinds(customer.id) == ["CASHBACK_RECORDED", "CREDITS_AVAILABLE"]
