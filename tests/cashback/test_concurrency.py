"""Races a real point of sale produces: retries of one report, double-clicked refunds, a
refund arriving while its purchase is still being recorded. Money stays exact."""

from __future__ import annotations

import asyncio

from app.cashback.models import Purchase, Refund
from tests.cashback.factories import purchase_input, record, refund
from tests.catalog.factories import make_store
from tests.factories import make_customer
from tests.ledger.factories import totals
from tests.support import Api


async def test_twenty_parallel_reports_of_one_purchase_credit_once(
    api: Api, postgres_only: object
) -> None:
    store = await make_store(percent="5")
    customer = await make_customer()
    data = purchase_input(store, customer, "80.00", external_id="retry-storm")

    results = await asyncio.gather(*(record(api, store, data) for _ in range(20)))

    assert all(r["userErrors"] == [] for r in results), results
    assert len({r["purchase"]["id"] for r in results}) == 1
    assert {r["purchase"]["cashback"]["amount"] for r in results} == {"4.00"}
    assert await Purchase.all().count() == 1
    assert await totals(customer.id) == (0, 400, 0)


async def test_parallel_refunds_with_one_key_refund_once(api: Api, postgres_only: object) -> None:
    store = await make_store(percent="10")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "100.00", external_id="dbl"))

    results = await asyncio.gather(
        *(refund(api, store, "dbl", "25.00", "double-click") for _ in range(10))
    )

    assert all(r["userErrors"] == [] for r in results), results
    assert {r["purchase"]["refunded"]["amount"] for r in results} == {"25.00"}
    assert await Refund.all().count() == 1
    assert await totals(customer.id) == (0, 750, 0)


async def test_parallel_refunds_never_refund_more_than_was_paid(
    api: Api, postgres_only: object
) -> None:
    store = await make_store(percent="10")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "100.00", external_id="many"))

    results = await asyncio.gather(
        *(refund(api, store, "many", "30.00", f"key-{i}") for i in range(6))
    )

    accepted = [r for r in results if not r["userErrors"]]
    refused = [r for r in results if r["userErrors"]]
    assert len(accepted) == 3
    assert {e["code"] for r in refused for e in r["userErrors"]} == {"REFUND_EXCEEDS_PURCHASE"}
    purchase = await Purchase.get(external_id="many")
    assert purchase.refunded_minor == 9_000
    assert purchase.cashback_minor - purchase.cashback_reversed_minor == 100
    assert await totals(customer.id) == (0, 100, 0)


async def test_a_purchase_and_its_refund_racing_leave_the_ledger_reconciled(
    api: Api, postgres_only: object
) -> None:
    store = await make_store(percent="10")
    customer = await make_customer()

    for n in range(8):
        external_id = f"race-{n}"
        recorded, refunded = await asyncio.gather(
            record(api, store, purchase_input(store, customer, "50.00", external_id=external_id)),
            refund(api, store, external_id, "50.00", f"race-refund-{n}"),
        )
        assert recorded["userErrors"] == []
        purchase = await Purchase.get(external_id=external_id)
        if refunded["userErrors"]:
            assert [e["code"] for e in refunded["userErrors"]] == ["UNKNOWN_PURCHASE"]
            assert purchase.refunded_minor == 0
        else:
            assert purchase.refunded_minor == 5_000
            assert purchase.cashback_reversed_minor == purchase.cashback_minor

    purchases = await Purchase.all()
    kept = sum(p.cashback_minor - p.cashback_reversed_minor for p in purchases)
    assert await totals(customer.id) == (0, kept, 0)
