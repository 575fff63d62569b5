"""A store syncs many purchases at once: each is recorded or refused on its own, and the
answers come back in order."""

from __future__ import annotations

from app.cashback import purchases
from app.cashback.models import Purchase
from tests.cashback.factories import purchase_input, writer
from tests.catalog.factories import make_store
from tests.factories import make_customer
from tests.ledger.factories import totals
from tests.ledger.statements import count_statements
from tests.support import Api

RECORD_MANY = """
mutation RecordPurchases($inputs: [RecordPurchaseInput!]!) {
  recordPurchases(inputs: $inputs) {
    results {
      purchase { id externalId cashback { amount currencyCode } }
      userErrors { code field message }
    }
  }
}
"""


async def test_each_purchase_is_answered_in_order_and_a_bad_one_loses_nothing_else(
    api: Api,
) -> None:
    store = await make_store(percent="10")
    alice, bob = await make_customer(), await make_customer()
    inputs = [
        purchase_input(store, alice, "10.00", external_id="b-1"),
        {**purchase_input(store, bob, "5.00", external_id="b-2"), "customer": {"email": "x@y.z"}},
        purchase_input(store, bob, "20.00", external_id="b-3"),
        {
            **purchase_input(store, alice, "1.00", external_id="b-4"),
            "total": {"amount": "1.00", "currencyCode": "JPY"},
        },
        purchase_input(store, alice, "10.00", external_id="b-1"),  # a repeat of the first
        purchase_input(store, alice, "11.00", external_id="b-1"),  # a repeat that differs
    ]

    answer = await api.gql(RECORD_MANY, {"inputs": inputs}, token=writer(api, store))

    results = answer["data"]["recordPurchases"]["results"]
    assert [r["purchase"]["externalId"] if r["purchase"] else None for r in results] == [
        "b-1",
        None,
        "b-3",
        None,
        "b-1",
        None,
    ]
    assert results[0]["purchase"]["cashback"]["amount"] == "1.00"
    assert results[2]["purchase"]["cashback"]["amount"] == "2.00"
    assert results[4]["purchase"]["id"] == results[0]["purchase"]["id"]
    assert [(e["code"], e["field"]) for e in results[1]["userErrors"]] == [
        ("UNKNOWN_CUSTOMER", ["inputs", "1", "customer", "email"])
    ]
    assert [(e["code"], e["field"]) for e in results[3]["userErrors"]] == [
        ("CURRENCY_MISMATCH", ["inputs", "3", "total"])
    ]
    assert [(e["code"], e["field"]) for e in results[5]["userErrors"]] == [
        ("DUPLICATE_PURCHASE_MISMATCH", ["inputs", "5", "total"])
    ]
    assert await Purchase.all().count() == 2
    assert await totals(alice.id) == (0, 100, 0)
    assert await totals(bob.id) == (0, 200, 0)


async def test_a_batch_earns_exactly_what_one_by_one_would(api: Api) -> None:
    store = await make_store(percent="2")
    batch_customer, single_customer = await make_customer(), await make_customer()
    amounts = ["600.00", "500.00", "100.00"]  # the second one reaches SILVER for the third
    token = writer(api, store)

    batch = await api.gql(
        RECORD_MANY,
        {
            "inputs": [
                purchase_input(store, batch_customer, a, external_id=f"batch-{i}")
                for i, a in enumerate(amounts)
            ]
        },
        token=token,
    )
    singles = []
    for i, amount in enumerate(amounts):
        one = await api.gql(
            RECORD_MANY,
            {"inputs": [purchase_input(store, single_customer, amount, external_id=f"one-{i}")]},
            token=token,
        )
        singles.append(one["data"]["recordPurchases"]["results"][0])

    from_batch = [
        r["purchase"]["cashback"]["amount"] for r in batch["data"]["recordPurchases"]["results"]
    ]
    assert from_batch == [r["purchase"]["cashback"]["amount"] for r in singles]
    assert from_batch == ["12.00", "10.00", "2.50"]


async def test_more_than_five_hundred_purchases_are_refused(api: Api) -> None:
    store = await make_store()
    customer = await make_customer()
    inputs = [purchase_input(store, customer, "1.00") for _ in range(501)]

    answer = await api.gql(
        "mutation($inputs: [RecordPurchaseInput!]!) { recordPurchases(inputs: $inputs) {"
        " results { purchase { id } } userErrors { code field } } }",
        {"inputs": inputs},
        token=writer(api, store),
    )

    payload = answer["data"]["recordPurchases"]
    assert payload["results"] is None
    assert payload["userErrors"] == [{"code": "TOO_MANY_ITEMS", "field": ["inputs"]}]
    assert await Purchase.all().count() == 0


async def test_a_batch_shares_its_reads(api: Api) -> None:
    store = await make_store(percent="2")
    customers = [await make_customer() for _ in range(3)]
    token = writer(api, store)

    def batch(size: int, prefix: str) -> list[dict]:
        return [
            purchase_input(store, customers[i % 3], "10.00", external_id=f"{prefix}-{i}")
            for i in range(size)
        ]

    # Every customer's first read of their spend computes it from the purchases, once.
    await api.gql(RECORD_MANY, {"inputs": batch(3, "warm-up")}, token=token)
    with count_statements() as three:
        await api.gql(RECORD_MANY, {"inputs": batch(3, "a")}, token=token)
    with count_statements() as nine:
        await api.gql(RECORD_MANY, {"inputs": batch(9, "b")}, token=token)

    def reads(statements: list[str]) -> list[str]:
        return [s for s in statements if s.startswith("SELECT") and "ledger_" not in s]

    assert len(reads(nine)) == len(reads(three)) <= 12, reads(nine)


async def test_a_lost_outcome_fails_the_request_instead_of_shortening_the_answer(
    api: Api, monkeypatch
) -> None:
    store = await make_store(percent="10")
    alice, bob = await make_customer(), await make_customer()
    inputs = [
        purchase_input(store, alice, "10.00", external_id="l-1"),
        purchase_input(store, bob, "20.00", external_id="l-2"),
    ]
    # A defect that forgets a row: the answer must not be one result short, which would
    # give the second purchase's result to the first.
    lanes = purchases._lanes
    monkeypatch.setattr(purchases, "_lanes", lambda rows: lanes(rows)[1:])

    answer = await api.gql(RECORD_MANY, {"inputs": inputs}, token=writer(api, store))

    assert answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["INTERNAL_SERVER_ERROR"]
    assert "lost" not in str(answer)  # the reason stays in the server's log
    # What was recorded stays recorded; the same batch again answers every row.
    monkeypatch.setattr(purchases, "_lanes", lanes)
    again = await api.gql(RECORD_MANY, {"inputs": inputs}, token=writer(api, store))
    results = again["data"]["recordPurchases"]["results"]
    assert [r["purchase"]["externalId"] for r in results] == ["l-1", "l-2"]
    assert await totals(alice.id) == (0, 100, 0) and await totals(bob.id) == (0, 200, 0)
