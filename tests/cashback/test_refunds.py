"""A store refunds part or all of a purchase: the cashback earned on the refunded share is
taken back, pending first, then available; what was already spent comes from the
customer's other credit, and only what that cannot cover is clawed back, never driving the
balance below zero. The same key never refunds twice."""

from __future__ import annotations

from datetime import timedelta

from app import ledger
from app.cashback.models import Purchase, Refund
from app.core import clock
from app.core.ids import encode_id
from app.program.service import update_program
from tests.cashback.factories import REFUND, purchase_input, record, refund, writer
from tests.catalog.factories import make_store
from tests.factories import make_customer
from tests.ledger.factories import balance, reserve, totals
from tests.ledger.invariants import assert_ledger_consistent
from tests.support import Api, error_codes

BY_EXTERNAL_ID = """
query PurchaseByExternalId($storeId: ID!, $externalId: String!) {
  purchase(storeId: $storeId, externalId: $externalId) {
    id status total { amount currencyCode } refunded { amount currencyCode }
    cashback { amount currencyCode } cashbackStatus
  }
}
"""


def errors_of(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def test_a_partial_then_full_refund_takes_back_cashback_in_proportion(api: Api) -> None:
    store = await make_store(percent="5")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "100.00", external_id="R-1"))

    partial = await refund(api, store, "R-1", "40.00", "refund-1", reason="Wrong size")

    assert partial["userErrors"] == []
    purchase = partial["purchase"]
    assert purchase["status"] == "PARTIALLY_REFUNDED"
    assert purchase["refunded"] == {"amount": "40.00", "currencyCode": "USD"}
    assert purchase["cashback"]["amount"] == "3.00"
    assert purchase["cashbackStatus"] == "PENDING"
    assert await totals(customer.id) == (0, 300, 0)
    await assert_ledger_consistent()

    rest = await refund(api, store, "R-1", "60.00", "refund-2")

    purchase = rest["purchase"]
    assert purchase["status"] == "REFUNDED"
    assert purchase["refunded"]["amount"] == "100.00"
    assert purchase["cashback"]["amount"] == "0.00"
    assert purchase["cashbackStatus"] == "REVERSED"
    assert await totals(customer.id) == (0, 0, 0)
    assert (await balance(customer.id)).lifetime_earned == 0


async def test_the_customer_keeps_the_share_of_what_was_kept_rounded_down(api: Api) -> None:
    store = await make_store(percent="3.33")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "10.00", external_id="odd"))
    # 3.33 % of 10.00 = 0.333 -> 0.33

    half = await refund(api, store, "odd", "5.00", "half-1")
    assert half["purchase"]["cashback"]["amount"] == "0.16"  # a half of 0.33, rounded down
    other = await refund(api, store, "odd", "5.00", "half-2")
    assert other["purchase"]["cashback"]["amount"] == "0.00"
    assert await totals(customer.id) == (0, 0, 0)


async def test_matured_cashback_is_taken_back_from_available_credit(api: Api) -> None:
    store = await make_store(percent="10")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "50.00", external_id="M-1"))
    clock.advance(timedelta(days=31))
    assert await totals(customer.id) == (500, 0, 0)

    result = await refund(api, store, "M-1", "20.00", "late-return")

    assert result["purchase"]["cashback"]["amount"] == "3.00"
    assert result["purchase"]["cashbackStatus"] == "AVAILABLE"
    assert await totals(customer.id) == (300, 0, 0)
    taken = await Refund.get(idempotency_key="late-return")
    assert (taken.from_pending_minor, taken.from_available_minor, taken.clawback_minor) == (
        0,
        200,
        0,
    )


async def test_pending_cashback_goes_before_available_credit(api: Api) -> None:
    store = await make_store(percent="10")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "50.00", external_id="old"))
    clock.advance(timedelta(days=31))
    await record(api, store, purchase_input(store, customer, "30.00", external_id="new"))
    assert await totals(customer.id) == (500, 300, 0)

    await refund(api, store, "new", "30.00", "return-new")

    # Only the refunded purchase's own (pending) cashback is taken back.
    assert await totals(customer.id) == (500, 0, 0)
    taken = await Refund.get(idempotency_key="return-new")
    assert (taken.from_pending_minor, taken.from_available_minor) == (300, 0)


async def test_cashback_already_spent_is_clawed_back_and_the_balance_stays_at_zero(
    api: Api,
) -> None:
    await update_program(pending_days=0)
    store = await make_store(percent="10")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "100.00", external_id="spent"))
    await reserve(customer.id, 800, "redeem-1")
    assert await ledger.capture_reservation(reservation_key="redeem-1")
    assert await totals(customer.id) == (200, 0, 0)

    result = await refund(api, store, "spent", "100.00", "full-return")

    assert result["purchase"]["status"] == "REFUNDED"
    assert result["purchase"]["cashback"]["amount"] == "0.00"
    assert await totals(customer.id) == (0, 0, 0)
    taken = await Refund.get(idempotency_key="full-return")
    assert (taken.from_available_minor, taken.clawback_minor) == (200, 800)


async def test_a_refund_of_spent_cashback_is_covered_by_the_customer_s_other_credit(
    api: Api,
) -> None:
    await update_program(pending_days=0)
    store = await make_store(percent="10")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "50.00", external_id="A"))
    await record(api, store, purchase_input(store, customer, "20.00", external_id="B"))
    await reserve(customer.id, 300, "redeem-a")
    assert await ledger.capture_reservation(reservation_key="redeem-a")
    assert await totals(customer.id) == (400, 0, 0)

    result = await refund(api, store, "A", "25.00", "half-of-a")

    assert result["purchase"]["cashback"]["amount"] == "2.50"
    assert await totals(customer.id) == (150, 0, 0)
    taken = await Refund.get(idempotency_key="half-of-a")
    assert (taken.from_available_minor, taken.clawback_minor) == (250, 0)
    await assert_ledger_consistent()


async def test_the_same_key_never_refunds_twice(api: Api) -> None:
    store = await make_store(percent="5")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "100.00", external_id="K-1"))

    first = await refund(api, store, "K-1", "30.00", "same-key")
    again = await refund(api, store, "K-1", "30.00", "same-key")

    assert again["userErrors"] == []
    assert again["purchase"] == first["purchase"]
    assert again["purchase"]["refunded"]["amount"] == "30.00"
    assert await Refund.all().count() == 1
    assert await totals(customer.id) == (0, 350, 0)

    reused = await refund(api, store, "K-1", "10.00", "same-key")
    assert errors_of(reused) == [("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])]
    assert await totals(customer.id) == (0, 350, 0)


async def test_a_refund_never_exceeds_what_is_left_to_refund(api: Api) -> None:
    store = await make_store(percent="5")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "100.00", external_id="E-1"))

    too_much = await refund(api, store, "E-1", "100.01", "too-much")
    assert errors_of(too_much) == [("REFUND_EXCEEDS_PURCHASE", ["input", "amount"])]
    await refund(api, store, "E-1", "60.00", "first")
    over = await refund(api, store, "E-1", "40.01", "second")
    assert errors_of(over) == [("REFUND_EXCEEDS_PURCHASE", ["input", "amount"])]
    assert over["purchase"] is None

    purchase = await Purchase.get(external_id="E-1")
    assert purchase.refunded_minor == 6000
    assert await totals(customer.id) == (0, 200, 0)


async def test_invalid_refunds_are_refused_with_their_fields(api: Api) -> None:
    store = await make_store(percent="5")
    other_store = await make_store()
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "100.00", external_id="V-1"))
    token = writer(api, store)

    def refund_input(**change: object) -> dict:
        return {
            "input": {
                "storeId": encode_id("Store", store.id),
                "externalId": "V-1",
                "amount": {"amount": "10.00", "currencyCode": "USD"},
                "idempotencyKey": "k",
                **change,
            }
        }

    cases = [
        ({"amount": {"amount": "0", "currencyCode": "USD"}}, "INVALID_AMOUNT", ["amount"]),
        ({"amount": {"amount": "-1", "currencyCode": "USD"}}, "INVALID_AMOUNT", ["amount"]),
        ({"amount": {"amount": "1.001", "currencyCode": "USD"}}, "INVALID_AMOUNT", ["amount"]),
        ({"amount": {"amount": "1", "currencyCode": "EUR"}}, "CURRENCY_MISMATCH", ["amount"]),
        ({"idempotencyKey": " "}, "INVALID_INPUT", ["idempotencyKey"]),
        ({"externalId": "nope"}, "UNKNOWN_PURCHASE", ["externalId"]),
        ({"storeId": encode_id("Store", 9_999)}, "UNKNOWN_STORE", ["storeId"]),
        ({"storeId": encode_id("Store", other_store.id)}, "STORE_NOT_ALLOWED", ["storeId"]),
    ]
    for change, code, field in cases:
        answer = await api.gql(REFUND, refund_input(**change), token=token)
        payload = answer["data"]["refundPurchase"]
        assert errors_of(payload) == [(code, ["input", *field])], (change, payload)

    reader = api.partner_token(["purchases:read"], merchant_id=store.merchant_id)
    assert error_codes(await api.gql(REFUND, refund_input(), token=reader)) == ["FORBIDDEN"]
    assert await Refund.all().count() == 0
    assert await totals(customer.id) == (0, 500, 0)


async def test_a_partner_reads_a_purchase_by_its_own_reference(api: Api) -> None:
    store = await make_store(percent="5")
    other_store = await make_store()
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "100.00", external_id="P-1"))
    await refund(api, store, "P-1", "50.00", "half")
    reader = api.partner_token(["purchases:read"], merchant_id=store.merchant_id)
    store_id = encode_id("Store", store.id)

    found = await api.gql(BY_EXTERNAL_ID, {"storeId": store_id, "externalId": "P-1"}, token=reader)
    missing = await api.gql(
        BY_EXTERNAL_ID, {"storeId": store_id, "externalId": "P-2"}, token=reader
    )
    foreign = await api.gql(
        BY_EXTERNAL_ID,
        {"storeId": encode_id("Store", other_store.id), "externalId": "P-1"},
        token=reader,
    )
    writer_only = api.partner_token(["purchases:write"], merchant_id=store.merchant_id)
    no_scope = await api.gql(
        BY_EXTERNAL_ID, {"storeId": store_id, "externalId": "P-1"}, token=writer_only
    )

    assert found["data"]["purchase"] == {
        "id": found["data"]["purchase"]["id"],
        "status": "PARTIALLY_REFUNDED",
        "total": {"amount": "100.00", "currencyCode": "USD"},
        "refunded": {"amount": "50.00", "currencyCode": "USD"},
        "cashback": {"amount": "2.50", "currencyCode": "USD"},
        "cashbackStatus": "PENDING",
    }
    assert missing["data"]["purchase"] is None
    assert error_codes(foreign) == ["STORE_NOT_ALLOWED"]
    assert error_codes(no_scope) == ["FORBIDDEN"]
