"""A store reports a purchase; its customer earns cashback that is pending, then available,
then expires. Repeats earn nothing more; every invalid input is refused with its field."""

from __future__ import annotations

from datetime import timedelta

from app.cashback.models import Purchase
from app.catalog.values import Channel
from app.core import clock
from app.core.ids import encode_id
from app.program.service import update_program
from tests.cashback.factories import RECORD, item, make_rule, purchase_input, record, writer
from tests.catalog.factories import make_merchant, make_product, make_store
from tests.factories import make_customer
from tests.ledger.factories import balance, totals
from tests.ledger.invariants import assert_ledger_consistent
from tests.ledger.statements import count_statements
from tests.support import Api, error_codes


def errors_of(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def test_a_purchase_earns_pending_cashback_that_matures_then_expires(api: Api) -> None:
    store = await make_store(percent="5")
    customer = await make_customer()

    result = await record(api, store, purchase_input(store, customer, "80.00"))

    purchase = result["purchase"]
    assert result["userErrors"] == []
    assert purchase["cashback"] == {"amount": "4.00", "currencyCode": "USD"}
    assert purchase["status"] == "COMPLETED"
    assert purchase["channel"] == "IN_STORE"
    assert purchase["cashbackStatus"] == "PENDING"
    assert await totals(customer.id) == (0, 400, 0)
    await assert_ledger_consistent()

    clock.advance(timedelta(days=30, minutes=1))
    assert await totals(customer.id) == (400, 0, 0)
    await assert_ledger_consistent()

    clock.advance(timedelta(days=365))
    assert await totals(customer.id) == (0, 0, 0)
    assert (await balance(customer.id)).lifetime_earned == 400


async def test_pending_days_and_validity_come_from_the_program(api: Api) -> None:
    await update_program(pending_days=0, credit_validity_days=10)
    store = await make_store(percent="10")
    customer = await make_customer()

    result = await record(api, store, purchase_input(store, customer, "20.00"))

    assert result["purchase"]["cashbackStatus"] == "AVAILABLE"
    assert await totals(customer.id) == (200, 0, 0)
    clock.advance(timedelta(days=10, minutes=1))
    assert await totals(customer.id) == (0, 0, 0)


async def test_an_old_purchase_synced_late_is_available_at_once(api: Api) -> None:
    store = await make_store(percent="10")
    customer = await make_customer()
    occurred = clock.now() - timedelta(days=31)

    result = await record(
        api, store, purchase_input(store, customer, "10.00", occurred_at=occurred)
    )

    assert result["purchase"]["cashbackStatus"] == "AVAILABLE"
    assert await totals(customer.id) == (100, 0, 0)


async def test_the_customer_is_named_by_member_code_email_or_id(api: Api) -> None:
    store = await make_store(percent="1")
    customer = await make_customer()
    refs = [
        {"memberCode": customer.member_code.lower()},
        {"email": customer.email.upper()},
        {"customerId": encode_id("Customer", customer.id)},
    ]
    for ref in refs:
        data = purchase_input(store, customer, "100.00")
        data["customer"] = ref
        assert (await record(api, store, data))["userErrors"] == []
    assert await totals(customer.id) == (0, 300, 0)


async def test_reporting_the_same_purchase_again_returns_it_and_credits_nothing(api: Api) -> None:
    store = await make_store(percent="5")
    customer = await make_customer()
    data = purchase_input(store, customer, "50.00", external_id="till-7-0001")

    first = await record(api, store, data)
    again = await record(api, store, data)

    assert again["userErrors"] == []
    assert again["purchase"]["id"] == first["purchase"]["id"]
    assert again["purchase"]["cashback"]["amount"] == "2.50"
    assert await totals(customer.id) == (0, 250, 0)
    assert await Purchase.all().count() == 1


async def test_the_same_external_id_at_another_store_is_another_purchase(api: Api) -> None:
    merchant = await make_merchant(percent="5")
    one, two = await make_store(merchant), await make_store(merchant)
    customer = await make_customer()

    await record(api, one, purchase_input(one, customer, "10.00", external_id="A-1"))
    await record(api, two, purchase_input(two, customer, "10.00", external_id="A-1"))

    assert await totals(customer.id) == (0, 100, 0)


async def test_a_repeat_with_another_total_or_customer_is_refused(api: Api) -> None:
    store = await make_store(percent="5")
    customer, other = await make_customer(), await make_customer()
    await record(api, store, purchase_input(store, customer, "50.00", external_id="X-1"))

    other_total = await record(
        api, store, purchase_input(store, customer, "51.00", external_id="X-1")
    )
    other_customer = await record(
        api, store, purchase_input(store, other, "50.00", external_id="X-1")
    )

    assert errors_of(other_total) == [("DUPLICATE_PURCHASE_MISMATCH", ["input", "total"])]
    assert other_total["purchase"] is None
    assert errors_of(other_customer) == [("DUPLICATE_PURCHASE_MISMATCH", ["input", "customer"])]
    assert await totals(customer.id) == (0, 250, 0)
    assert await totals(other.id) == (0, 0, 0)


async def test_every_invalid_input_is_refused_with_its_code_and_field(api: Api) -> None:
    store = await make_store(percent="5")
    customer = await make_customer()
    token = writer(api, store)

    cases = [
        ({"total": {"amount": "-1.00", "currencyCode": "USD"}}, "INVALID_AMOUNT", ["total"]),
        ({"total": {"amount": "1.001", "currencyCode": "USD"}}, "INVALID_AMOUNT", ["total"]),
        ({"total": {"amount": "10.00", "currencyCode": "EUR"}}, "CURRENCY_MISMATCH", ["total"]),
        ({"customer": {"memberCode": "NOSUCH99"}}, "UNKNOWN_CUSTOMER", ["customer", "memberCode"]),
        ({"customer": {"email": "nobody@example.com"}}, "UNKNOWN_CUSTOMER", ["customer", "email"]),
        (
            {"customer": {"customerId": encode_id("Customer", 999_999)}},
            "UNKNOWN_CUSTOMER",
            ["customer", "customerId"],
        ),
        ({"customer": {}}, "INVALID_INPUT", ["customer"]),
        (
            {"customer": {"memberCode": customer.member_code, "email": customer.email}},
            "INVALID_INPUT",
            ["customer"],
        ),
        ({"storeId": encode_id("Store", 999_999)}, "UNKNOWN_STORE", ["storeId"]),
        ({"storeId": "not-an-id"}, "UNKNOWN_STORE", ["storeId"]),
        ({"externalId": "  "}, "INVALID_INPUT", ["externalId"]),
        (
            {"occurredAt": (clock.now() + timedelta(hours=2)).isoformat()},
            "OCCURRED_IN_FUTURE",
            ["occurredAt"],
        ),
        ({"items": [item("a", "6.00"), item("b", "3.00")]}, "ITEMS_TOTAL_MISMATCH", ["items"]),
        ({"items": [item("a", "10.00", quantity=0)]}, "INVALID_INPUT", ["items", "0", "quantity"]),
        ({"items": [item("a", "10.001")]}, "INVALID_AMOUNT", ["items", "0", "unitPrice"]),
        (
            {"creditsUsed": {"amount": "10.01", "currencyCode": "USD"}},
            "INVALID_AMOUNT",
            ["creditsUsed"],
        ),
        (
            {"creditsUsed": {"amount": "1.00", "currencyCode": "GBP"}},
            "CURRENCY_MISMATCH",
            ["creditsUsed"],
        ),
    ]
    for change, code, field in cases:
        data = {**purchase_input(store, customer, "10.00"), **change}
        answer = await api.gql(RECORD, {"input": data}, token=token)
        payload = answer["data"]["recordPurchase"]
        assert errors_of(payload) == [(code, ["input", *field])], (change, payload)
        assert payload["purchase"] is None

    assert await Purchase.all().count() == 0
    assert await totals(customer.id) == (0, 0, 0)


async def test_several_problems_are_reported_together(api: Api) -> None:
    store = await make_store()
    customer = await make_customer()
    data = purchase_input(store, customer, "10.00")
    data["total"] = {"amount": "-5", "currencyCode": "USD"}
    data["occurredAt"] = (clock.now() + timedelta(days=3)).isoformat()
    data["customer"] = {"memberCode": "UNKNOWN1"}

    payload = await record(api, store, data)

    assert sorted(errors_of(payload)) == [
        ("INVALID_AMOUNT", ["input", "total"]),
        ("OCCURRED_IN_FUTURE", ["input", "occurredAt"]),
        ("UNKNOWN_CUSTOMER", ["input", "customer", "memberCode"]),
    ]


async def test_items_may_differ_from_the_total_by_rounding_only(api: Api) -> None:
    store = await make_store(percent="10")
    customer = await make_customer()
    # Three items of 3.33 make 9.99 for a total of 10.00: within a cent an item.
    data = purchase_input(store, customer, "10.00", items=[item("a", "3.33", quantity=3)])

    payload = await record(api, store, data)

    assert payload["userErrors"] == []
    assert payload["purchase"]["cashback"]["amount"] == "1.00"


async def test_an_in_store_partner_may_not_report_at_another_merchants_store(api: Api) -> None:
    mine, theirs = await make_store(), await make_store()
    customer = await make_customer()
    token = api.partner_token(["purchases:write"], merchant_id=mine.merchant_id)

    answer = await api.gql(
        RECORD, {"input": purchase_input(theirs, customer, "10.00")}, token=token
    )

    payload = answer["data"]["recordPurchase"]
    assert errors_of(payload) == [("STORE_NOT_ALLOWED", ["input", "storeId"])]
    assert await Purchase.all().count() == 0
    assert await totals(customer.id) == (0, 0, 0)


async def test_only_partners_with_the_write_scope_report_purchases(api: Api) -> None:
    store = await make_store()
    customer = await make_customer()
    data = {"input": purchase_input(store, customer, "10.00")}

    reader = api.partner_token(["purchases:read"], merchant_id=store.merchant_id)
    assert error_codes(await api.gql(RECORD, data, token=reader)) == ["FORBIDDEN"]
    assert error_codes(await api.gql(RECORD, data, token=api.token_for(customer))) == ["FORBIDDEN"]
    assert error_codes(await api.gql(RECORD, data)) == ["UNAUTHENTICATED"]
    assert await Purchase.all().count() == 0


async def test_an_unbound_partner_may_report_at_any_store(api: Api) -> None:
    store = await make_store(percent="3")
    customer = await make_customer()
    token = api.partner_token(["purchases:write"])

    answer = await api.gql(RECORD, {"input": purchase_input(store, customer, "10.00")}, token=token)

    assert answer["data"]["recordPurchase"]["purchase"]["cashback"]["amount"] == "0.30"


async def test_online_and_in_store_purchases_carry_their_channel(api: Api) -> None:
    merchant = await make_merchant(percent="2")
    online = await make_store(merchant, channel=Channel.ONLINE)
    await make_rule(percent="6", channels=[Channel.ONLINE])
    customer = await make_customer()

    payload = await record(api, online, purchase_input(online, customer, "50.00"))

    assert payload["purchase"]["channel"] == "ONLINE"
    assert payload["purchase"]["cashback"]["amount"] == "3.00"


async def test_item_categories_come_from_the_catalogue_when_not_reported(api: Api) -> None:
    merchant = await make_merchant(percent="1")
    store = await make_store(merchant)
    await make_product(merchant, sku="TV-55", category="Electronics", price="500.00")
    await make_rule(percent="5", category="electronics")
    customer = await make_customer()
    data = purchase_input(
        store, customer, "510.00", items=[item("TV-55", "500.00"), item("CABLE", "10.00")]
    )

    payload = await record(api, store, data)

    # 5 % of 500.00 (Electronics, from the catalogue) + 1 % of 10.00
    assert payload["purchase"]["cashback"]["amount"] == "25.10"


async def test_recording_a_purchase_costs_a_fixed_number_of_statements(api: Api) -> None:
    store = await make_store(percent="5")
    customer = await make_customer()
    await make_rule(percent="1")
    token = writer(api, store)
    await api.gql(RECORD, {"input": purchase_input(store, customer, "10.00")}, token=token)

    few = purchase_input(store, customer, "20.00", items=[item("a", "10.00", quantity=2)])
    many = purchase_input(
        store, customer, "20.00", items=[item(f"sku-{i}", "1.00") for i in range(20)]
    )
    with count_statements() as with_one_item:
        await api.gql(RECORD, {"input": few}, token=token)
    with count_statements() as with_twenty_items:
        await api.gql(RECORD, {"input": many}, token=token)
    with count_statements() as repeat:
        await api.gql(RECORD, {"input": many}, token=token)

    assert len(with_one_item) == len(with_twenty_items), with_twenty_items
    # Includes the check that the partner client is still enabled (once per request), the
    # live offers at the merchant (none here), the customer's profile (the day's buckets,
    # then the profile row) and their spend of the tier window (one row).
    assert len(with_twenty_items) <= 21, "\n".join(with_twenty_items)
    assert len(repeat) <= 6, "\n".join(repeat)
