"""An uncaptured redemption expires by itself: no worker needed for the credits to come
back or for the status to say so."""

from __future__ import annotations

from datetime import timedelta

from app.catalog.values import Channel
from app.core import clock
from app.redemptions import service
from app.redemptions.models import Redemption
from tests.factories import make_customer
from tests.redemptions.factories import balance, gid, give_credits, make_merchant, make_store
from tests.redemptions.operations import CANCEL, NODE, capture, listed, started
from tests.support import Api

WRITE = ["redemptions:write"]


async def test_an_in_store_code_expires_after_ten_minutes(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    store = await make_store(merchant)
    await give_credits(customer, 1000)
    token = api.token_for(customer)
    redemption = await started(api, token, gid("Merchant", merchant), "4.00")

    clock.advance(timedelta(minutes=9, seconds=59))
    [still] = await listed(api, token)
    assert still["status"] == "RESERVED"
    assert await balance(customer) == (600, 400)

    clock.advance(timedelta(seconds=1))
    [mine] = await listed(api, token)
    assert mine["status"] == "EXPIRED"
    assert await balance(customer) == (1000, 0)
    node = (await api.gql(NODE, {"id": redemption["id"]}, token=token))["data"]["node"]
    assert (node["status"], node["code"]) == ("EXPIRED", None)

    late = await capture(
        api,
        api.partner_token(WRITE, merchant_id=merchant.id),
        storeId=gid("Store", store),
        code=redemption["code"],
        orderReference="o",
    )
    assert [(e["code"], e["field"]) for e in late["data"]["captureRedemption"]["userErrors"]] == [
        ("REDEMPTION_EXPIRED", None)
    ]
    assert await balance(customer) == (1000, 0)
    assert (await Redemption.get(customer_id=customer.id)).status == "EXPIRED"


async def test_an_online_redemption_lasts_thirty_minutes(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    shop = await make_store(merchant, channel=Channel.ONLINE)
    await give_credits(customer, 1000)
    token = api.token_for(customer)
    partner = api.partner_token(WRITE, merchant_id=merchant.id)
    first = await started(api, token, gid("Merchant", merchant), "2.00", key="a", channel="ONLINE")
    second = await started(api, token, gid("Merchant", merchant), "3.00", key="b", channel="ONLINE")

    clock.advance(timedelta(minutes=29))
    ok = await capture(
        api, partner, storeId=gid("Store", shop), redemptionId=first["id"], orderReference="o-1"
    )
    assert ok["data"]["captureRedemption"]["redemption"]["status"] == "CAPTURED"

    clock.advance(timedelta(minutes=1))
    late = await capture(
        api, partner, storeId=gid("Store", shop), redemptionId=second["id"], orderReference="o-2"
    )
    assert [e["code"] for e in late["data"]["captureRedemption"]["userErrors"]] == [
        "REDEMPTION_EXPIRED"
    ]
    assert await balance(customer) == (800, 0)


async def test_expired_credits_can_be_redeemed_again_at_once(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    token = api.token_for(customer)
    await started(api, token, gid("Merchant", merchant), "10.00", key="a")

    clock.advance(timedelta(minutes=10))
    again = await started(api, token, gid("Merchant", merchant), "10.00", key="b")

    assert again["status"] == "RESERVED"
    assert await balance(customer) == (0, 1000)
    statuses = sorted(r["status"] for r in await listed(api, token))
    assert statuses == ["EXPIRED", "RESERVED"]


async def test_cancelling_an_expired_redemption_leaves_it_expired(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    token = api.token_for(customer)
    redemption = await started(api, token, gid("Merchant", merchant), "4.00")

    clock.advance(timedelta(minutes=11))
    payload = (await api.gql(CANCEL, {"id": redemption["id"]}, token=token))["data"][
        "cancelRedemption"
    ]

    assert payload == {
        "redemption": {"id": redemption["id"], "status": "EXPIRED"},
        "userErrors": [],
    }
    assert await balance(customer) == (1000, 0)


async def test_the_periodic_job_writes_expiry_down(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    token = api.token_for(customer)
    await started(api, token, gid("Merchant", merchant), "1.00", key="a")
    await started(api, token, gid("Merchant", merchant), "2.00", key="b", channel="ONLINE")

    clock.advance(timedelta(minutes=15))
    assert await service.expire_lapsed() == 1

    rows = {r.idempotency_key: r.status for r in await Redemption.all()}
    assert rows == {"a": "EXPIRED", "b": "RESERVED"}
    assert await balance(customer) == (800, 200)
