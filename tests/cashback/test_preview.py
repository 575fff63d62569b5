"""A cart's cashback, previewed by the app for the viewer or by a partner for a customer:
exactly what recording it would credit, and nothing written."""

from __future__ import annotations

from app.cashback.models import Purchase
from app.core.ids import encode_id
from tests.cashback.factories import item, make_rule, purchase_input, record
from tests.catalog.factories import make_store
from tests.factories import make_customer
from tests.ledger.factories import totals
from tests.support import Api, error_codes

PREVIEW = """
query Preview($storeId: ID!, $customer: CustomerRefInput, $total: MoneyInput!,
              $items: [PurchaseItemInput!]) {
  cashbackPreview(storeId: $storeId, customer: $customer, total: $total, items: $items) {
    cashback { amount currencyCode }
    explanation { label percent base { amount } amount { amount } }
    noCashbackReason noCashbackMessage
    tier { code cashbackMultiplier }
    availableAt
  }
}
"""


def cart(store, total: str, items=None, customer=None) -> dict:
    variables = {
        "storeId": encode_id("Store", store.id),
        "total": {"amount": total, "currencyCode": "USD"},
        "items": items,
    }
    if customer is not None:
        variables["customer"] = {"memberCode": customer.member_code}
    return variables


async def test_the_preview_is_what_recording_credits_and_writes_nothing(api: Api) -> None:
    store = await make_store(percent="2")
    await make_rule(percent="9", category="Toys", cap="2.00")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "1500.00"))  # now SILVER
    items = [item("KITE", "30.00", category="Toys"), item("TEA", "12.34", category="Food")]

    preview = await api.gql(PREVIEW, cart(store, "42.34", items), token=api.token_for(customer))

    shown = preview["data"]["cashbackPreview"]
    assert shown["tier"] == {"code": "SILVER", "cashbackMultiplier": "1.25"}
    assert await Purchase.all().count() == 1
    recorded = await record(api, store, purchase_input(store, customer, "42.34", items=items))
    assert shown["cashback"] == recorded["purchase"]["cashback"]
    assert shown["explanation"] == recorded["purchase"]["explanation"]
    assert shown["availableAt"] is not None


async def test_a_partner_previews_for_a_named_customer_or_for_anyone(api: Api) -> None:
    store = await make_store(percent="2")
    gold = await make_customer()
    await record(api, store, purchase_input(store, gold, "6000.00"))
    token = api.partner_token(["purchases:write"], merchant_id=store.merchant_id)

    named = await api.gql(PREVIEW, cart(store, "100.00", customer=gold), token=token)
    anyone = await api.gql(PREVIEW, cart(store, "100.00"), token=token)

    assert named["data"]["cashbackPreview"]["cashback"]["amount"] == "3.00"
    assert anyone["data"]["cashbackPreview"]["cashback"]["amount"] == "2.00"
    assert anyone["data"]["cashbackPreview"]["tier"]["code"] == "BRONZE"
    before = await totals(gold.id)
    assert await Purchase.all().count() == 1
    assert await totals(gold.id) == before


async def test_a_preview_that_earns_nothing_says_why(api: Api) -> None:
    store = await make_store(percent="0")
    customer = await make_customer()
    answer = await api.gql(PREVIEW, cart(store, "10.00"), token=api.token_for(customer))
    shown = answer["data"]["cashbackPreview"]
    assert shown["cashback"]["amount"] == "0.00"
    assert shown["noCashbackReason"] == "NO_MATCHING_RULE"
    assert shown["noCashbackMessage"]
    assert shown["availableAt"] is None


async def test_previews_refuse_bad_carts_and_foreign_stores(api: Api) -> None:
    store, other = await make_store(), await make_store()
    token = api.partner_token(["purchases:read"], merchant_id=store.merchant_id)

    foreign = await api.gql(PREVIEW, cart(other, "10.00"), token=token)
    bad_total = await api.gql(PREVIEW, cart(store, "-1.00"), token=token)
    mismatch = await api.gql(PREVIEW, cart(store, "10.00", [item("A", "3.00")]), token=token)
    stranger = {**cart(store, "10.00"), "customer": {"email": "nobody@example.com"}}
    unknown = await api.gql(PREVIEW, stranger, token=token)

    assert error_codes(foreign) == ["STORE_NOT_ALLOWED"]
    assert error_codes(bad_total) == ["INVALID_AMOUNT"]
    assert error_codes(mismatch) == ["ITEMS_TOTAL_MISMATCH"]
    assert error_codes(unknown) == ["UNKNOWN_CUSTOMER"]
    assert error_codes(await api.gql(PREVIEW, cart(store, "10.00"))) == ["UNAUTHENTICATED"]
    no_scope = api.partner_token(["offers:read"], merchant_id=store.merchant_id)
    assert error_codes(await api.gql(PREVIEW, cart(store, "10.00"), token=no_scope)) == [
        "FORBIDDEN"
    ]
