"""A customer starts a redemption: credits move from available to reserved, or nothing
moves and the answer says why."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg

from app import cache, ledger
from app.core import clock
from app.core.ids import encode_id
from app.redemptions.models import Redemption
from tests.factories import make_customer
from tests.redemptions.factories import balance, gid, give_credits, make_merchant, set_program
from tests.redemptions.operations import (
    START,
    errors_of,
    listed,
    start,
    start_input,
    started,
)
from tests.support import Api, error_codes


async def test_an_in_store_redemption_reserves_credits_and_shows_a_ten_minute_code(
    api: Api,
) -> None:
    customer = await make_customer()
    merchant = await make_merchant(name="Corner Bakery")
    await give_credits(customer, 1000)
    token = api.token_for(customer)

    before = clock.now()
    redemption = await started(api, token, gid("Merchant", merchant), "4.00")

    assert redemption["status"] == "RESERVED"
    assert redemption["channel"] == "IN_STORE"
    assert redemption["amount"] == {"amount": "4.00", "currencyCode": "USD"}
    assert redemption["merchant"] == {"id": gid("Merchant", merchant), "name": "Corner Bakery"}
    assert len(redemption["code"]) == 8 and redemption["code"].isdigit()
    expires = datetime.fromisoformat(redemption["expiresAt"])
    created = datetime.fromisoformat(redemption["createdAt"])
    assert before - timedelta(seconds=1) <= created <= clock.now()
    assert expires - created == timedelta(minutes=10)
    assert await balance(customer) == (600, 400)


async def test_an_online_redemption_has_no_code_and_lasts_thirty_minutes(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)

    redemption = await started(
        api, api.token_for(customer), gid("Merchant", merchant), "10.00", channel="ONLINE"
    )

    assert redemption["channel"] == "ONLINE"
    assert redemption["code"] is None
    lasts = datetime.fromisoformat(redemption["expiresAt"]) - datetime.fromisoformat(
        redemption["createdAt"]
    )
    assert lasts == timedelta(minutes=30)
    assert await balance(customer) == (0, 1000)


async def test_more_than_the_available_balance_is_refused_and_nothing_moves(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 500)
    token = api.token_for(customer)

    payload = await start(api, token, gid("Merchant", merchant), "5.01")

    assert payload["redemption"] is None
    assert errors_of(payload) == [("INSUFFICIENT_BALANCE", ["input", "amount"])]
    assert await balance(customer) == (500, 0)
    assert await listed(api, token) == []


async def test_a_customer_without_credits_cannot_redeem(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()

    payload = await start(api, api.token_for(customer), gid("Merchant", merchant), "1.00")

    assert errors_of(payload) == [("INSUFFICIENT_BALANCE", ["input", "amount"])]
    assert await Redemption.all().count() == 0


async def test_below_the_program_minimum_is_refused(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    await set_program(minimum_redemption=(Decimal("2.00"), "USD"))

    payload = await start(api, api.token_for(customer), gid("Merchant", merchant), "1.99")

    assert errors_of(payload) == [("BELOW_MINIMUM", ["input", "amount"])]
    assert await balance(customer) == (1000, 0)
    ok = await started(api, api.token_for(customer), gid("Merchant", merchant), "2.00", key="k2")
    assert ok["status"] == "RESERVED"


async def test_more_than_the_programs_share_of_the_order_is_refused(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 10_000)
    token = api.token_for(customer)
    merchant_id = gid("Merchant", merchant)

    over = await start(api, token, merchant_id, "25.01", order_total="50.00")
    assert errors_of(over) == [("ABOVE_MAXIMUM", ["input", "amount"])]
    assert await balance(customer) == (10_000, 0)

    await set_program(max_redemption_share=Decimal("0.2"))
    over_new_share = await start(api, token, merchant_id, "10.01", order_total="50.00", key="b")
    assert errors_of(over_new_share) == [("ABOVE_MAXIMUM", ["input", "amount"])]
    at_share = await started(api, token, merchant_id, "10.00", order_total="50.00", key="c")
    assert at_share["amount"]["amount"] == "10.00"
    assert await balance(customer) == (9_000, 1_000)


async def test_amounts_in_another_currency_or_malformed_are_refused_with_their_fields(
    api: Api,
) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    token = api.token_for(customer)
    merchant_id = gid("Merchant", merchant)

    euros = await start(api, token, merchant_id, "1.00", currency="EUR")
    too_precise = await start(api, token, merchant_id, "1.001", key="b")
    negative = await start(api, token, merchant_id, "-1.00", key="c")
    zero = await start(api, token, merchant_id, "0", key="d")
    total_in_euros = await api.gql(
        START,
        {
            "input": {
                **start_input(merchant_id, "1.00", key="e")["input"],
                "orderTotal": {"amount": "10.00", "currencyCode": "EUR"},
            }
        },
        token=token,
    )

    assert errors_of(euros) == [("CURRENCY_MISMATCH", ["input", "amount"])]
    assert errors_of(too_precise) == [("INVALID_AMOUNT", ["input", "amount"])]
    assert errors_of(negative) == [("INVALID_AMOUNT", ["input", "amount"])]
    assert errors_of(zero)[0][1] == ["input", "amount"]
    assert errors_of(total_in_euros["data"]["startRedemption"]) == [
        ("CURRENCY_MISMATCH", ["input", "orderTotal"])
    ]
    assert await balance(customer) == (1000, 0)
    assert await Redemption.all().count() == 0


async def test_an_unknown_merchant_is_refused(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    token = api.token_for(customer)

    missing = await start(api, token, encode_id("Merchant", 10**12), "1.00")
    not_a_merchant = await start(api, token, gid("Customer", customer), "1.00", key="b")
    deleted_id = gid("Merchant", merchant)
    await merchant.delete()
    # The app never deletes a merchant: deleted here behind the catalogue's back, which
    # would otherwise go on knowing it from memory.
    await cache.changed_everything()
    gone = await start(api, token, deleted_id, "1.00", key="c")

    for payload in (missing, not_a_merchant, gone):
        assert errors_of(payload) == [("UNKNOWN_MERCHANT", ["input", "merchantId"])]
    assert await balance(customer) == (1000, 0)


async def test_the_same_idempotency_key_returns_the_same_redemption_reserved_once(
    api: Api,
) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    token = api.token_for(customer)

    first = await started(api, token, gid("Merchant", merchant), "3.00", key="checkout-42")
    again = await started(api, token, gid("Merchant", merchant), "3.00", key="checkout-42")

    assert again == first  # the same redemption, code included
    assert await balance(customer) == (700, 300)
    assert len(await listed(api, token)) == 1


async def test_the_same_key_with_other_input_is_refused(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    other = await make_merchant()
    await give_credits(customer, 1000)
    token = api.token_for(customer)
    await started(api, token, gid("Merchant", merchant), "3.00", key="k")

    for changed in (
        start_input(gid("Merchant", merchant), "4.00", key="k"),
        start_input(gid("Merchant", other), "3.00", key="k"),
        start_input(gid("Merchant", merchant), "3.00", key="k", channel="ONLINE"),
        start_input(gid("Merchant", merchant), "3.00", key="k", order_total="10.00"),
    ):
        payload = (await api.gql(START, changed, token=token))["data"]["startRedemption"]
        assert payload["redemption"] is None
        assert errors_of(payload) == [("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])]
    assert await balance(customer) == (700, 300)


async def test_keys_belong_to_one_customer(api: Api) -> None:
    merchant = await make_merchant()
    alice, bob = await make_customer(), await make_customer()
    await give_credits(alice, 1000)
    await give_credits(bob, 1000)

    a = await started(api, api.token_for(alice), gid("Merchant", merchant), "1.00", key="same")
    b = await started(api, api.token_for(bob), gid("Merchant", merchant), "2.00", key="same")

    assert a["id"] != b["id"]
    assert await balance(alice) == (900, 100)
    assert await balance(bob) == (800, 200)


async def test_a_key_that_failed_can_be_used_again(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    token = api.token_for(customer)

    refused = await start(api, token, gid("Merchant", merchant), "5.00", key="retry")
    await give_credits(customer, 500)
    later = await started(api, token, gid("Merchant", merchant), "5.00", key="retry")

    assert errors_of(refused) == [("INSUFFICIENT_BALANCE", ["input", "amount"])]
    assert later["status"] == "RESERVED"
    assert await balance(customer) == (0, 500)


async def test_only_a_signed_in_customer_starts_a_redemption(api: Api) -> None:
    merchant = await make_merchant()
    variables = start_input(gid("Merchant", merchant), "1.00")

    anonymous = await api.gql(START, variables)
    partner = await api.gql(START, variables, token=api.partner_token(["redemptions:write"]))

    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    assert error_codes(partner) == ["FORBIDDEN"]
    assert await Redemption.all().count() == 0


async def test_a_deadlock_is_retried_and_never_reaches_the_customer(api: Api, monkeypatch) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    reserve = ledger.reserve
    failures = iter([asyncpg.exceptions.DeadlockDetectedError("deadlock detected")])

    async def reserve_once_deadlocked(**kwargs):
        error = next(failures, None)
        if error is not None:
            raise error
        return await reserve(**kwargs)

    monkeypatch.setattr(ledger, "reserve", reserve_once_deadlocked)
    redemption = await started(api, api.token_for(customer), gid("Merchant", merchant), "4.00")

    assert redemption["status"] == "RESERVED"
    assert await Redemption.all().count() == 1
    assert await balance(customer) == (600, 400)
