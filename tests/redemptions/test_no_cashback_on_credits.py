"""Cashback is never earned on credits: a purchase reported for the order a redemption was
captured for earns only on the part paid with money."""

from __future__ import annotations

from decimal import Decimal

from app.catalog.values import Channel
from tests.cashback.factories import purchase_input, record
from tests.factories import make_customer
from tests.redemptions.factories import gid, give_credits, make_merchant, make_store, set_program
from tests.redemptions.operations import capture, started
from tests.support import Api

WRITE = ["redemptions:write"]


async def test_a_purchase_for_a_captured_order_earns_only_on_what_was_paid_with_money(
    api: Api,
) -> None:
    await set_program(pending_days=0)
    customer = await make_customer()
    merchant = await make_merchant(name="Grocer", percent="10")
    store = await make_store(merchant, channel=Channel.IN_STORE)
    other_store = await make_store(merchant, channel=Channel.IN_STORE)
    await give_credits(customer, 2000)
    redemption = await started(api, api.token_for(customer), gid("Merchant", merchant), "20.00")
    await capture(
        api,
        api.partner_token(WRITE, merchant_id=merchant.id),
        storeId=gid("Store", store),
        code=redemption["code"],
        orderReference="ticket-9",
    )

    paid_partly = await record(
        api, store, purchase_input(store, customer, "50.00", external_id="ticket-9")
    )
    same_reference_elsewhere = await record(
        api, other_store, purchase_input(other_store, customer, "50.00", external_id="ticket-9")
    )
    another_order = await record(
        api, store, purchase_input(store, customer, "50.00", external_id="ticket-10")
    )

    # 10 % of the 30.00 paid with money; the 20.00 of credits earns nothing.
    assert paid_partly["userErrors"] == []
    assert paid_partly["purchase"]["cashback"]["amount"] == "3.00"
    bases = [part["base"]["amount"] for part in paid_partly["purchase"]["explanation"]]
    assert bases == ["30.00"]
    # The same reference at another store, or another order, is paid in full with money.
    assert same_reference_elsewhere["purchase"]["cashback"]["amount"] == "5.00"
    assert another_order["purchase"]["cashback"]["amount"] == "5.00"


async def test_an_order_paid_entirely_with_credits_earns_nothing_and_says_why(api: Api) -> None:
    await set_program(max_redemption_share=Decimal("1"))
    customer = await make_customer()
    merchant = await make_merchant(percent="10")
    shop = await make_store(merchant, channel=Channel.ONLINE)
    await give_credits(customer, 2000)
    redemption = await started(
        api, api.token_for(customer), gid("Merchant", merchant), "15.00", channel="ONLINE"
    )
    await capture(
        api,
        api.partner_token(WRITE, merchant_id=merchant.id),
        storeId=gid("Store", shop),
        redemptionId=redemption["id"],
        orderReference="web-1",
    )

    purchase = await record(api, shop, purchase_input(shop, customer, "15.00", external_id="web-1"))

    assert purchase["purchase"]["cashback"]["amount"] == "0.00"
    assert purchase["purchase"]["noCashbackReason"] == "PAID_WITH_CREDITS"
