"""A store's point of sale captures an in-store redemption by its code; a shop's backend
captures an online one by id. Capturing spends the reserved credits."""

from __future__ import annotations

from datetime import datetime, timedelta

from app import ledger
from app.catalog.values import Channel
from app.core import clock
from app.core.ids import encode_id
from app.redemptions.models import Redemption
from tests.factories import make_customer
from tests.redemptions.factories import (
    balance,
    gid,
    give_credits,
    make_merchant,
    make_store,
    usd,
)
from tests.redemptions.operations import NODE, capture, listed, started
from tests.support import Api, error_codes

WRITE = ["redemptions:write"]


async def _in_store_setup(api: Api, amount: str = "4.00"):
    customer = await make_customer()
    merchant = await make_merchant(name="Corner Bakery")
    store = await make_store(merchant, channel=Channel.IN_STORE)
    await give_credits(customer, 1000)
    redemption = await started(api, api.token_for(customer), gid("Merchant", merchant), amount)
    partner = api.partner_token(WRITE, merchant_id=merchant.id)
    return customer, merchant, store, redemption, partner


async def test_the_point_of_sale_captures_by_code_and_the_credits_are_spent(api: Api) -> None:
    customer, _, store, redemption, partner = await _in_store_setup(api)

    answer = await capture(
        api,
        partner,
        storeId=gid("Store", store),
        code=redemption["code"],
        orderReference="ticket-1001",
        orderTotal=usd("12.00"),
    )

    captured = answer["data"]["captureRedemption"]
    assert captured["userErrors"] == []
    assert captured["redemption"]["id"] == redemption["id"]
    assert captured["redemption"]["status"] == "CAPTURED"
    assert captured["redemption"]["orderReference"] == "ticket-1001"
    assert captured["redemption"]["amount"] == usd("4.00")
    assert datetime.fromisoformat(captured["redemption"]["capturedAt"]) <= clock.now()
    assert await balance(customer) == (600, 0)

    # The customer sees where the credits went; the code is gone once used.
    token = api.token_for(customer)
    [mine] = await listed(api, token)
    assert (mine["status"], mine["orderReference"]) == ("CAPTURED", "ticket-1001")
    node = (await api.gql(NODE, {"id": redemption["id"]}, token=token))["data"]["node"]
    assert node["code"] is None
    assert node["store"] == {"id": gid("Store", store), "channel": "IN_STORE"}


async def test_a_code_is_accepted_with_spaces_and_dashes(api: Api) -> None:
    _, _, store, redemption, partner = await _in_store_setup(api)
    code = redemption["code"]

    answer = await capture(
        api,
        partner,
        storeId=gid("Store", store),
        code=f" {code[:4]}-{code[4:]} ",
        orderReference="t-1",
    )

    assert answer["data"]["captureRedemption"]["redemption"]["status"] == "CAPTURED"


async def test_capturing_again_with_the_same_order_returns_the_same_result(api: Api) -> None:
    customer, _, store, redemption, partner = await _in_store_setup(api)
    fields = {"storeId": gid("Store", store), "code": redemption["code"], "orderReference": "o-1"}

    first = (await capture(api, partner, **fields))["data"]["captureRedemption"]
    again = (await capture(api, partner, **fields))["data"]["captureRedemption"]

    assert again == first
    assert await balance(customer) == (600, 0)


async def test_capturing_for_another_order_is_already_captured(api: Api) -> None:
    customer, _, store, redemption, partner = await _in_store_setup(api)
    fields = {"storeId": gid("Store", store), "code": redemption["code"]}
    await capture(api, partner, **fields, orderReference="o-1")

    other = (await capture(api, partner, **fields, orderReference="o-2"))["data"][
        "captureRedemption"
    ]

    assert other["redemption"] is None
    assert [(e["code"], e["field"]) for e in other["userErrors"]] == [
        ("ALREADY_CAPTURED", ["input", "orderReference"])
    ]
    [mine] = await listed(api, api.token_for(customer))
    assert mine["orderReference"] == "o-1"
    assert await balance(customer) == (600, 0)


async def test_a_wrong_code_captures_nothing(api: Api) -> None:
    customer, _, store, redemption, partner = await _in_store_setup(api)
    wrong = f"{(int(redemption['code']) + 1) % 10**8:08d}"

    for code in (wrong, "12ab5678", "123"):
        payload = (
            await capture(api, partner, storeId=gid("Store", store), code=code, orderReference="o")
        )["data"]["captureRedemption"]
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("INVALID_CODE", ["input", "code"])
        ]
    assert await balance(customer) == (600, 400)
    [mine] = await listed(api, api.token_for(customer))
    assert mine["status"] == "RESERVED"


async def test_a_shops_backend_captures_an_online_redemption_by_id(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    shop = await make_store(merchant, channel=Channel.ONLINE)
    await give_credits(customer, 2000)
    redemption = await started(
        api, api.token_for(customer), gid("Merchant", merchant), "15.00", channel="ONLINE"
    )

    answer = await capture(
        api,
        api.partner_token(WRITE, merchant_id=merchant.id),
        storeId=gid("Store", shop),
        redemptionId=redemption["id"],
        orderReference="web-77",
    )

    assert answer["data"]["captureRedemption"]["redemption"]["status"] == "CAPTURED"
    assert await balance(customer) == (500, 0)
    row = await Redemption.get(id=int(await _pk(redemption["id"])))
    assert (row.store_id, row.captured_channel) == (shop.id, Channel.ONLINE)


async def _pk(global_id: str) -> int:
    from app.core.ids import decode_id

    return decode_id(global_id, "Redemption")


async def test_an_in_store_redemption_needs_its_code(api: Api) -> None:
    customer, _, store, redemption, partner = await _in_store_setup(api)

    payload = (
        await capture(
            api,
            partner,
            storeId=gid("Store", store),
            redemptionId=redemption["id"],
            orderReference="o",
        )
    )["data"]["captureRedemption"]

    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID_INPUT", ["input", "redemptionId"])
    ]
    assert await balance(customer) == (600, 400)


async def test_code_or_id_but_not_both_nor_neither(api: Api) -> None:
    customer, _, store, redemption, partner = await _in_store_setup(api)

    both = await capture(
        api,
        partner,
        storeId=gid("Store", store),
        code=redemption["code"],
        redemptionId=redemption["id"],
        orderReference="o",
    )
    neither = await capture(api, partner, storeId=gid("Store", store), orderReference="o")
    blank_reference = await capture(
        api, partner, storeId=gid("Store", store), code=redemption["code"], orderReference=" "
    )

    for answer, field in (
        (both, ["input", "code"]),
        (neither, ["input", "code"]),
        (blank_reference, ["input", "orderReference"]),
    ):
        errors = answer["data"]["captureRedemption"]["userErrors"]
        assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", field)]
    assert await balance(customer) == (600, 400)


async def test_a_partner_captures_only_at_its_own_merchants_stores(api: Api) -> None:
    customer, merchant, store, redemption, _ = await _in_store_setup(api)
    rival = await make_merchant(name="Rival")
    rival_store = await make_store(rival)
    rival_partner = api.partner_token(WRITE, merchant_id=rival.id)

    at_foreign_store = await capture(
        api, rival_partner, storeId=gid("Store", store), code=redemption["code"], orderReference="o"
    )
    at_own_store = await capture(
        api,
        rival_partner,
        storeId=gid("Store", rival_store),
        code=redemption["code"],
        orderReference="o",
    )
    unknown_store = await capture(
        api,
        api.partner_token(WRITE, merchant_id=merchant.id),
        storeId=encode_id("Store", 10**12),
        code=redemption["code"],
        orderReference="o",
    )

    def errors(answer):
        return [(e["code"], e["field"]) for e in answer["data"]["captureRedemption"]["userErrors"]]

    assert errors(at_foreign_store) == [("STORE_NOT_ALLOWED", ["input", "storeId"])]
    # Another merchant's code does not exist for this merchant's stores.
    assert errors(at_own_store) == [("INVALID_CODE", ["input", "code"])]
    assert errors(unknown_store) == [("UNKNOWN_STORE", ["input", "storeId"])]
    assert await balance(customer) == (600, 400)


async def test_capture_needs_the_redemptions_scope(api: Api) -> None:
    customer, merchant, store, redemption, _ = await _in_store_setup(api)
    fields = {"storeId": gid("Store", store), "code": redemption["code"], "orderReference": "o"}

    wrong_scope = await capture(
        api, api.partner_token(["purchases:write"], merchant_id=merchant.id), **fields
    )
    as_customer = await capture(api, api.token_for(customer), **fields)
    anonymous = await api.gql(
        "mutation($i: CaptureRedemptionInput!) { captureRedemption(input: $i) { __typename } }",
        {"i": fields},
    )

    assert error_codes(wrong_scope) == ["FORBIDDEN"]
    assert error_codes(as_customer) == ["FORBIDDEN"]
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    assert await balance(customer) == (600, 400)


async def test_an_order_total_caps_what_credits_may_pay(api: Api) -> None:
    customer, _, store, redemption, partner = await _in_store_setup(api, "4.00")
    fields = {"storeId": gid("Store", store), "code": redemption["code"]}

    small_order = (
        await capture(api, partner, **fields, orderReference="o-1", orderTotal=usd("7.99"))
    )["data"]["captureRedemption"]
    euros = (
        await capture(
            api,
            partner,
            **fields,
            orderReference="o-1",
            orderTotal={"amount": "20.00", "currencyCode": "EUR"},
        )
    )["data"]["captureRedemption"]

    assert [(e["code"], e["field"]) for e in small_order["userErrors"]] == [
        ("ABOVE_MAXIMUM", ["input", "orderTotal"])
    ]
    assert [(e["code"], e["field"]) for e in euros["userErrors"]] == [
        ("CURRENCY_MISMATCH", ["input", "orderTotal"])
    ]
    assert await balance(customer) == (600, 400)
    ok = (await capture(api, partner, **fields, orderReference="o-1", orderTotal=usd("8.00")))[
        "data"
    ]["captureRedemption"]
    assert ok["redemption"]["status"] == "CAPTURED"


async def test_capture_spends_the_credits_that_expire_soonest(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    store = await make_store(merchant)
    await give_credits(customer, 500, expires_in=timedelta(days=300))
    await give_credits(customer, 500, expires_in=timedelta(days=20))
    redemption = await started(api, api.token_for(customer), gid("Merchant", merchant), "6.00")

    await capture(
        api,
        api.partner_token(WRITE, merchant_id=merchant.id),
        storeId=gid("Store", store),
        code=redemption["code"],
        orderReference="o",
    )

    # What is left is the later-expiring lot: 4.00 expiring in 300 days.
    left = await ledger.get_balance(customer_id=customer.id, currency="USD")
    assert (left.available, left.reserved) == (400, 0)
    assert left.next_expiry_amount == 400
    assert left.next_expiry_at is not None
    assert left.next_expiry_at > clock.now() + timedelta(days=299)
