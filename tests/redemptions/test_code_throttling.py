"""Wrong in-store codes hold back only the partner system that sends them: counted per
partner client at each store and across all its stores, never cleared by a right code, and
never refusing another partner's terminal."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from app.core import clock
from tests.factories import make_customer
from tests.redemptions.factories import balance, gid, give_credits, make_merchant, make_store
from tests.redemptions.operations import capture, listed, started
from tests.support import Api, error_codes

WRITE = ["redemptions:write"]


def wrong_code(*real: str) -> str:
    """An 8-digit code that is none of the real ones."""
    candidate = int(real[0])
    while f"{candidate:08d}" in real:
        candidate = (candidate + 1) % 10**8
    return f"{candidate:08d}"


def outcome(answer: dict[str, Any]) -> str:
    """What the cashier's screen shows."""
    if answer.get("errors"):
        [code] = error_codes(answer)
        return code
    payload = answer["data"]["captureRedemption"]
    if payload["redemption"]:
        return payload["redemption"]["status"]
    [error] = payload["userErrors"]
    return error["code"]


async def at(api: Api, partner: str, store: Any, code: str, reference: str = "o") -> str:
    return outcome(
        await capture(
            api, partner, storeId=gid("Store", store), code=code, orderReference=reference
        )
    )


async def test_a_partner_sending_wrong_codes_does_not_refuse_another_partners_till(
    api: Api,
) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    store = await make_store(merchant)
    await give_credits(customer, 1000)
    redemption = await started(api, api.token_for(customer), gid("Merchant", merchant), "4.00")
    code = redemption["code"]
    careless = api.partner_token(WRITE, merchant_id=merchant.id, client_id=101)
    tills = api.partner_token(WRITE, merchant_id=merchant.id, client_id=102)

    for _ in range(5):
        assert await at(api, careless, store, wrong_code(code)) == "INVALID_CODE"
    # The careless system is refused at this store, even with the right code...
    assert await at(api, careless, store, code) == "RATE_LIMITED"
    assert await balance(customer) == (600, 400)
    [mine] = await listed(api, api.token_for(customer))
    assert mine["status"] == "RESERVED"
    # ...while the store's tills, another partner client, capture it.
    assert await at(api, tills, store, code) == "CAPTURED"
    assert await balance(customer) == (600, 0)


async def test_a_partner_of_the_whole_program_cannot_exhaust_every_store(api: Api) -> None:
    customer = await make_customer()
    await give_credits(customer, 5000)
    token = api.token_for(customer)
    merchants = [await make_merchant() for _ in range(5)]
    stores = [await make_store(merchant) for merchant in merchants]
    codes = [
        (await started(api, token, gid("Merchant", merchant), "1.00", key=f"m{n}"))["code"]
        for n, merchant in enumerate(merchants)
    ]
    roaming = api.partner_token(WRITE, client_id=201)  # bound to no merchant

    # Five wrong codes at each of four stores: twenty, its cap across stores.
    for store in stores[:4]:
        for _ in range(5):
            assert await at(api, roaming, store, wrong_code(*codes)) == "INVALID_CODE"
    # Now it is refused everywhere, at a fifth store too, right code or not...
    assert await at(api, roaming, stores[4], codes[4]) == "RATE_LIMITED"
    assert await balance(customer) == (4500, 500)
    # ...and every store's own system captures as before.
    for n, (merchant, store, code) in enumerate(zip(merchants, stores, codes, strict=True)):
        own = api.partner_token(WRITE, merchant_id=merchant.id, client_id=300 + n)
        assert await at(api, own, store, code) == "CAPTURED"
    assert await balance(customer) == (4500, 0)

    # The roaming partner may try again once its wrong codes have left the window.
    later = await started(api, token, gid("Merchant", merchants[4]), "1.00", key="later")
    clock.advance(timedelta(minutes=5, seconds=1))
    assert await at(api, roaming, stores[4], later["code"], "o-later") == "CAPTURED"


async def test_a_right_code_does_not_buy_more_guesses(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    store = await make_store(merchant)
    await give_credits(customer, 1000)
    token = api.token_for(customer)
    first = await started(api, token, gid("Merchant", merchant), "1.00", key="a")
    second = await started(api, token, gid("Merchant", merchant), "1.00", key="b")
    partner = api.partner_token(WRITE, merchant_id=merchant.id, client_id=401)
    wrong = wrong_code(first["code"], second["code"])

    for _ in range(4):
        assert await at(api, partner, store, wrong) == "INVALID_CODE"
    assert await at(api, partner, store, first["code"], "o-1") == "CAPTURED"
    assert await at(api, partner, store, wrong) == "INVALID_CODE"

    # Five wrong codes in five minutes, a capture between them or not.
    assert await at(api, partner, store, second["code"], "o-2") == "RATE_LIMITED"
    assert await balance(customer) == (800, 100)
    clock.advance(timedelta(minutes=5, seconds=1))
    assert await at(api, partner, store, second["code"], "o-2") == "CAPTURED"


async def test_parallel_wrong_codes_never_pass_a_partners_limits(
    api: Api, postgres_only: object
) -> None:
    customer = await make_customer()
    await give_credits(customer, 1000)
    merchant = await make_merchant()
    stores = [await make_store(merchant) for _ in range(6)]
    redemption = await started(api, api.token_for(customer), gid("Merchant", merchant), "1.00")
    wrong = wrong_code(redemption["code"])
    partner = api.partner_token(WRITE, merchant_id=merchant.id, client_id=501)

    at_one_store = await asyncio.gather(*(at(api, partner, stores[0], wrong) for _ in range(12)))
    assert sorted(at_one_store) == ["INVALID_CODE"] * 5 + ["RATE_LIMITED"] * 7

    everywhere = await asyncio.gather(
        *(at(api, partner, store, wrong) for store in stores[1:] for _ in range(5))
    )
    # Fifteen more fit under its cap of twenty across stores; the other ten are refused.
    assert sorted(everywhere) == ["INVALID_CODE"] * 15 + ["RATE_LIMITED"] * 10
    assert await balance(customer) == (900, 100)
