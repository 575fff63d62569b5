"""The customer's quote and list of redemptions: their own, and only theirs."""

from __future__ import annotations

from decimal import Decimal

from app.core.ids import encode_id
from tests.factories import make_customer
from tests.redemptions.factories import gid, give_credits, make_merchant, set_program, usd
from tests.redemptions.operations import LIST, NODE, QUOTE, listed, started
from tests.support import Api, error_codes


async def _quote(api: Api, token: str, merchant_id: str, total: dict) -> dict:
    return await api.gql(QUOTE, {"merchantId": merchant_id, "orderTotal": total}, token=token)


async def test_the_quote_is_capped_by_the_share_of_the_order_and_the_balance(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 3000)
    token = api.token_for(customer)

    small = await _quote(api, token, gid("Merchant", merchant), usd("40.00"))
    large = await _quote(api, token, gid("Merchant", merchant), usd("100.00"))
    odd = await _quote(api, token, gid("Merchant", merchant), usd("0.03"))

    assert small["data"]["viewer"]["redemptionQuote"] == {
        "maximum": usd("20.00"),
        "minimum": usd("1.00"),
        "available": usd("30.00"),
    }
    assert large["data"]["viewer"]["redemptionQuote"]["maximum"] == usd("30.00")
    # Half of 0.03 is 0.015, rounded down.
    assert odd["data"]["viewer"]["redemptionQuote"]["maximum"] == usd("0.01")


async def test_the_quote_follows_the_program_and_what_is_reserved(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 3000)
    token = api.token_for(customer)
    await set_program(
        max_redemption_share=Decimal("0.8"), minimum_redemption=(Decimal("5.00"), "USD")
    )
    await started(api, token, gid("Merchant", merchant), "25.00")

    quote = (await _quote(api, token, gid("Merchant", merchant), usd("100.00")))["data"]

    assert quote["viewer"]["redemptionQuote"] == {
        "maximum": usd("5.00"),
        "minimum": usd("5.00"),
        "available": usd("5.00"),
    }


async def test_a_quote_for_an_unknown_merchant_or_currency_is_an_error(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    token = api.token_for(customer)

    unknown = await _quote(api, token, encode_id("Merchant", 10**12), usd("10.00"))
    euros = await _quote(
        api, token, gid("Merchant", merchant), {"amount": "10.00", "currencyCode": "EUR"}
    )
    anonymous = await api.gql(
        QUOTE, {"merchantId": gid("Merchant", merchant), "orderTotal": usd("10.00")}
    )

    assert error_codes(unknown) == ["UNKNOWN_MERCHANT"]
    assert error_codes(euros) == ["CURRENCY_MISMATCH"]
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]


async def test_the_list_shows_only_the_customers_own_redemptions_newest_first(
    api: Api,
) -> None:
    alice, bob = await make_customer(), await make_customer()
    merchant = await make_merchant(name="Books & Co")
    await give_credits(alice, 5000)
    await give_credits(bob, 5000)
    alice_token = api.token_for(alice)
    made = [
        await started(api, alice_token, gid("Merchant", merchant), f"{n}.00", key=f"a{n}")
        for n in range(1, 6)
    ]
    await started(api, api.token_for(bob), gid("Merchant", merchant), "9.00", key="b")

    first_page = await api.gql(LIST, {"first": 2}, token=alice_token)
    connection = first_page["data"]["viewer"]["redemptions"]
    ids = [edge["node"]["id"] for edge in connection["edges"]]
    assert ids == [made[4]["id"], made[3]["id"]]
    assert connection["pageInfo"]["hasNextPage"] is True
    rest = await api.gql(
        LIST, {"first": 10, "after": connection["pageInfo"]["endCursor"]}, token=alice_token
    )
    rest_ids = [edge["node"]["id"] for edge in rest["data"]["viewer"]["redemptions"]["edges"]]
    assert rest_ids == [made[2]["id"], made[1]["id"], made[0]["id"]]
    assert rest["data"]["viewer"]["redemptions"]["pageInfo"]["hasNextPage"] is False

    node = (await listed(api, alice_token))[0]
    assert node["merchant"] == {"id": gid("Merchant", merchant), "name": "Books & Co"}
    assert node["amount"] == usd("5.00")
    assert (node["capturedAt"], node["orderReference"]) == (None, None)
    assert len(await listed(api, api.token_for(bob))) == 1


async def test_no_path_shows_another_customers_redemption(api: Api) -> None:
    alice, bob = await make_customer(), await make_customer()
    merchant = await make_merchant()
    await give_credits(alice, 1000)
    redemption = await started(api, api.token_for(alice), gid("Merchant", merchant), "4.00")

    as_bob = await api.gql(NODE, {"id": redemption["id"]}, token=api.token_for(bob))
    as_partner = await api.gql(
        NODE,
        {"id": redemption["id"]},
        token=api.partner_token(["redemptions:write"], merchant_id=merchant.id),
    )
    anonymous = await api.gql(NODE, {"id": redemption["id"]})

    assert as_bob["data"]["node"] is None
    assert as_partner["data"]["node"] is None
    assert anonymous["data"]["node"] is None
    assert await listed(api, api.token_for(bob)) == []
