"""In-store codes: random, stored so the database cannot give them back, shown to their
owner only while open, unique among open redemptions, and not guessable."""

from __future__ import annotations

from app.core.ids import encode_id
from app.redemptions import codes
from app.redemptions.models import Redemption
from tests.factories import make_customer
from tests.redemptions.factories import balance, gid, give_credits, make_merchant, make_store
from tests.redemptions.operations import NODE, capture, listed, started
from tests.support import Api, error_codes

WRITE = ["redemptions:write"]


async def test_the_database_never_holds_the_code_in_clear(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    redemption = await started(api, api.token_for(customer), gid("Merchant", merchant), "4.00")

    row = await Redemption.get(customer_id=customer.id).values()
    stored = " ".join(str(value) for value in row.values())
    assert redemption["code"] not in stored
    assert row["code_hash"] == codes.keys_for(api.settings).digest(redemption["code"])


async def test_only_the_owner_sees_the_code_and_only_while_it_is_open(api: Api) -> None:
    owner, other = await make_customer(), await make_customer()
    merchant = await make_merchant()
    store = await make_store(merchant)
    await give_credits(owner, 1000)
    owner_token = api.token_for(owner)
    redemption = await started(api, owner_token, gid("Merchant", merchant), "4.00")
    code = redemption["code"]

    mine = (await api.gql(NODE, {"id": redemption["id"]}, token=owner_token))["data"]["node"]
    theirs = (await api.gql(NODE, {"id": redemption["id"]}, token=api.token_for(other)))["data"]
    assert mine["code"] == code
    assert theirs["node"] is None

    partner = api.partner_token(WRITE, merchant_id=merchant.id)
    answer = await api.gql(
        "mutation($i: CaptureRedemptionInput!) { captureRedemption(input: $i) {"
        " redemption { status code } userErrors { code } } }",
        {"i": {"storeId": gid("Store", store), "code": code, "orderReference": "o"}},
        token=partner,
    )
    assert answer["data"]["captureRedemption"]["redemption"] == {
        "status": "CAPTURED",
        "code": None,
    }
    after = (await api.gql(NODE, {"id": redemption["id"]}, token=owner_token))["data"]["node"]
    assert after["code"] is None


async def test_codes_are_unique_among_open_redemptions(api: Api, monkeypatch) -> None:
    merchant = await make_merchant()
    alice, bob = await make_customer(), await make_customer()
    await give_credits(alice, 1000)
    await give_credits(bob, 1000)
    drawn = iter(["11112222", "11112222", "33334444"])
    monkeypatch.setattr(codes, "new_code", lambda: next(drawn))

    first = await started(api, api.token_for(alice), gid("Merchant", merchant), "1.00")
    second = await started(api, api.token_for(bob), gid("Merchant", merchant), "1.00")

    assert (first["code"], second["code"]) == ("11112222", "33334444")
    assert await balance(bob) == (900, 100)


async def test_a_closed_redemptions_code_may_be_drawn_again(api: Api, monkeypatch) -> None:
    merchant = await make_merchant()
    store = await make_store(merchant)
    partner = api.partner_token(WRITE, merchant_id=merchant.id)
    alice, bob = await make_customer(), await make_customer()
    await give_credits(alice, 1000)
    await give_credits(bob, 1000)
    monkeypatch.setattr(codes, "new_code", lambda: "55556666")
    first = await started(api, api.token_for(alice), gid("Merchant", merchant), "1.00")
    fields = {"storeId": gid("Store", store), "code": "55556666"}
    await capture(api, partner, **fields, orderReference="alice-order")

    second = await started(api, api.token_for(bob), gid("Merchant", merchant), "2.00")
    assert second["code"] == "55556666"

    # A retry of Alice's capture still finds Alice's; a new order captures Bob's.
    retry = await capture(api, partner, **fields, orderReference="alice-order")
    assert retry["data"]["captureRedemption"]["redemption"]["id"] == first["id"]
    bobs = await capture(api, partner, **fields, orderReference="bob-order")
    assert bobs["data"]["captureRedemption"]["redemption"]["id"] == second["id"]
    assert await balance(alice) == (900, 0)
    assert await balance(bob) == (800, 0)


async def test_a_store_sending_five_wrong_codes_is_throttled(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    store, other_store = await make_store(merchant), await make_store(merchant)
    await give_credits(customer, 1000)
    redemption = await started(api, api.token_for(customer), gid("Merchant", merchant), "4.00")
    partner = api.partner_token(WRITE, merchant_id=merchant.id)
    code = redemption["code"]
    wrong = f"{(int(code) + 1) % 10**8:08d}"

    for _ in range(5):
        answer = await capture(
            api, partner, storeId=gid("Store", store), code=wrong, orderReference="o"
        )
        assert [e["code"] for e in answer["data"]["captureRedemption"]["userErrors"]] == [
            "INVALID_CODE"
        ]
    # Even the right code is refused now at that store...
    throttled = await capture(
        api, partner, storeId=gid("Store", store), code=code, orderReference="o"
    )
    assert error_codes(throttled) == ["RATE_LIMITED"]
    assert await balance(customer) == (600, 400)
    [mine] = await listed(api, api.token_for(customer))
    assert mine["status"] == "RESERVED"
    # ...but another store of the merchant is not throttled.
    elsewhere = await capture(
        api, partner, storeId=gid("Store", other_store), code=code, orderReference="o"
    )
    assert elsewhere["data"]["captureRedemption"]["redemption"]["status"] == "CAPTURED"


async def test_retrying_a_capture_does_not_clear_wrong_codes(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    store = await make_store(merchant)
    await give_credits(customer, 1000)
    partner = api.partner_token(WRITE, merchant_id=merchant.id)
    redemption = await started(api, api.token_for(customer), gid("Merchant", merchant), "1.00")
    fields = {"storeId": gid("Store", store)}
    await capture(api, partner, **fields, code=redemption["code"], orderReference="o")
    wrong = f"{(int(redemption['code']) + 1) % 10**8:08d}"

    for _ in range(3):
        await capture(api, partner, **fields, code=wrong, orderReference="x")
        await capture(api, partner, **fields, code=redemption["code"], orderReference="o")

    for _ in range(2):
        await capture(api, partner, **fields, code=wrong, orderReference="x")
    assert error_codes(
        await capture(api, partner, **fields, code=redemption["code"], orderReference="o")
    ) == ["RATE_LIMITED"]


async def test_an_id_that_is_not_a_redemption_is_not_found(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    store = await make_store(merchant)
    partner = api.partner_token(WRITE, merchant_id=merchant.id)

    for bad in (encode_id("Redemption", 10**12), gid("Customer", customer), "garbage"):
        answer = await capture(
            api, partner, storeId=gid("Store", store), redemptionId=bad, orderReference="o"
        )
        errors = answer["data"]["captureRedemption"]["userErrors"]
        assert [(e["code"], e["field"]) for e in errors] == [
            ("NOT_FOUND", ["input", "redemptionId"])
        ]
