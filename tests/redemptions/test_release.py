"""Giving reserved credits back: the customer cancels, or the partner releases."""

from __future__ import annotations

from app.catalog.values import Channel
from app.core.ids import encode_id
from app.redemptions.models import Redemption
from tests.factories import make_customer
from tests.redemptions.factories import balance, gid, give_credits, make_merchant, make_store
from tests.redemptions.operations import CANCEL, RELEASE, capture, listed, started
from tests.support import Api, error_codes

WRITE = ["redemptions:write"]


async def test_the_customer_cancels_and_the_credits_are_available_again(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    token = api.token_for(customer)
    redemption = await started(api, token, gid("Merchant", merchant), "4.00")

    answer = await api.gql(CANCEL, {"id": redemption["id"]}, token=token)

    payload = answer["data"]["cancelRedemption"]
    assert payload["userErrors"] == []
    assert payload["redemption"] == {"id": redemption["id"], "status": "RELEASED"}
    assert await balance(customer) == (1000, 0)
    [mine] = await listed(api, token)
    assert mine["status"] == "RELEASED"
    # Cancelling again changes nothing and is not an error (a retry).
    again = (await api.gql(CANCEL, {"id": redemption["id"]}, token=token))["data"]
    assert again["cancelRedemption"]["redemption"]["status"] == "RELEASED"
    assert await balance(customer) == (1000, 0)


async def test_a_customer_cannot_cancel_someone_elses_redemption(api: Api) -> None:
    owner, intruder = await make_customer(), await make_customer()
    merchant = await make_merchant()
    await give_credits(owner, 1000)
    redemption = await started(api, api.token_for(owner), gid("Merchant", merchant), "4.00")

    answer = await api.gql(CANCEL, {"id": redemption["id"]}, token=api.token_for(intruder))
    unknown = await api.gql(
        CANCEL, {"id": encode_id("Redemption", 10**12)}, token=api.token_for(intruder)
    )

    for payload in (answer["data"]["cancelRedemption"], unknown["data"]["cancelRedemption"]):
        assert payload["redemption"] is None
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("NOT_FOUND", ["id"])]
    assert await balance(owner) == (600, 400)
    [mine] = await listed(api, api.token_for(owner))
    assert mine["status"] == "RESERVED"


async def test_a_partner_cannot_cancel_for_a_customer(api: Api) -> None:
    owner = await make_customer()
    merchant = await make_merchant()
    await give_credits(owner, 1000)
    redemption = await started(api, api.token_for(owner), gid("Merchant", merchant), "4.00")

    answer = await api.gql(
        CANCEL, {"id": redemption["id"]}, token=api.partner_token(WRITE, merchant_id=merchant.id)
    )

    assert error_codes(answer) == ["FORBIDDEN"]
    assert await balance(owner) == (600, 400)


async def test_a_captured_redemption_cannot_be_cancelled_or_released(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    store = await make_store(merchant)
    await give_credits(customer, 1000)
    token = api.token_for(customer)
    partner = api.partner_token(WRITE, merchant_id=merchant.id)
    redemption = await started(api, token, gid("Merchant", merchant), "4.00")
    await capture(
        api, partner, storeId=gid("Store", store), code=redemption["code"], orderReference="o"
    )

    cancelled = (await api.gql(CANCEL, {"id": redemption["id"]}, token=token))["data"]
    released = (
        await api.gql(
            RELEASE,
            {"input": {"storeId": gid("Store", store), "redemptionId": redemption["id"]}},
            token=partner,
        )
    )["data"]

    for payload in (cancelled["cancelRedemption"], released["releaseRedemption"]):
        assert [e["code"] for e in payload["userErrors"]] == ["REDEMPTION_NOT_OPEN"]
    assert await balance(customer) == (600, 0)


async def test_the_partner_releases_by_code_or_by_id(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    store = await make_store(merchant)
    shop = await make_store(merchant, channel=Channel.ONLINE)
    await give_credits(customer, 1000)
    token = api.token_for(customer)
    partner = api.partner_token(WRITE, merchant_id=merchant.id)
    in_store = await started(api, token, gid("Merchant", merchant), "4.00", key="a")
    online = await started(api, token, gid("Merchant", merchant), "3.00", key="b", channel="ONLINE")
    assert await balance(customer) == (300, 700)

    by_code = await api.gql(
        RELEASE,
        {"input": {"storeId": gid("Store", store), "code": in_store["code"]}},
        token=partner,
    )
    by_id = await api.gql(
        RELEASE,
        {"input": {"storeId": gid("Store", shop), "redemptionId": online["id"]}},
        token=partner,
    )

    assert by_code["data"]["releaseRedemption"] == {
        "redemption": {"id": in_store["id"], "status": "RELEASED"},
        "userErrors": [],
    }
    assert by_id["data"]["releaseRedemption"]["redemption"]["status"] == "RELEASED"
    assert await balance(customer) == (1000, 0)
    # A released code captures nothing.
    late = await capture(
        api, partner, storeId=gid("Store", store), code=in_store["code"], orderReference="o"
    )
    assert [e["code"] for e in late["data"]["captureRedemption"]["userErrors"]] == [
        "REDEMPTION_NOT_OPEN"
    ]
    assert await balance(customer) == (1000, 0)


async def test_a_partner_releases_only_its_own_merchants_redemptions(api: Api) -> None:
    customer = await make_customer()
    merchant, rival = await make_merchant(), await make_merchant()
    rival_store = await make_store(rival, channel=Channel.ONLINE)
    await give_credits(customer, 1000)
    redemption = await started(
        api, api.token_for(customer), gid("Merchant", merchant), "4.00", channel="ONLINE"
    )

    answer = await api.gql(
        RELEASE,
        {"input": {"storeId": gid("Store", rival_store), "redemptionId": redemption["id"]}},
        token=api.partner_token(WRITE, merchant_id=rival.id),
    )

    payload = answer["data"]["releaseRedemption"]
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", ["input", "redemptionId"])
    ]
    assert await balance(customer) == (600, 400)
    row = await Redemption.get(customer_id=customer.id)
    assert row.status == "RESERVED"
