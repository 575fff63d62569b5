"""The app shows the customer's purchases and the wallet's history, each entry explained,
at a cost that does not grow with the page size. Nobody sees another customer's."""

from __future__ import annotations

from datetime import timedelta

from app.core import clock
from app.core.ids import encode_id
from tests.cashback.factories import item, make_rule, purchase_input, record, refund
from tests.catalog.factories import make_merchant, make_store
from tests.factories import make_admin, make_customer
from tests.ledger.statements import count_statements
from tests.support import Api, error_codes

ACTIVITY = """
query Activity($first: Int!, $after: String) {
  viewer {
    activity(first: $first, after: $after) {
      edges {
        cursor
        node {
          id kind status
          amount { amount currencyCode }
          occurredAt availableAt expiresAt description
          merchant { id name }
          purchase { id externalId total { amount currencyCode } }
          explanation { label percent base { amount currencyCode } amount { amount currencyCode } }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

PURCHASES = """
query Purchases($first: Int!, $after: String) {
  viewer {
    purchases(first: $first, after: $after) {
      edges {
        cursor
        node {
          id externalId status occurredAt channel
          total { amount currencyCode } refunded { amount currencyCode }
          cashback { amount currencyCode } cashbackStatus cashbackAvailableAt
          store { id name channel merchant { id name } }
          items { sku name category quantity unitPrice { amount currencyCode } }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

NODE = "query($id: ID!) { node(id: $id) { ... on Purchase { externalId } } }"


async def test_the_activity_explains_each_credit_and_links_merchant_and_purchase(
    api: Api,
) -> None:
    merchant = await make_merchant(name="Page & Quill", percent="2")
    store = await make_store(merchant, name="Downtown")
    await make_rule(percent="8", category="Books", name="Bookworm month")
    customer = await make_customer()
    items = [item("NOVEL", "20.00", category="Books"), item("PEN", "5.00", category="Stationery")]
    recorded = await record(
        api, store, purchase_input(store, customer, "25.00", external_id="A-1", items=items)
    )

    answer = await api.gql(ACTIVITY, {"first": 10}, token=api.token_for(customer))

    [edge] = answer["data"]["viewer"]["activity"]["edges"]
    entry = edge["node"]
    assert (entry["kind"], entry["status"]) == ("CASHBACK", "PENDING")
    assert entry["amount"] == {"amount": "1.70", "currencyCode": "USD"}
    assert entry["description"] == "Cashback at Page & Quill"
    assert entry["merchant"] == {"id": encode_id("Merchant", merchant.id), "name": "Page & Quill"}
    assert entry["purchase"] == {
        "id": recorded["purchase"]["id"],
        "externalId": "A-1",
        "total": {"amount": "25.00", "currencyCode": "USD"},
    }
    assert entry["availableAt"] == recorded["purchase"]["cashbackAvailableAt"]
    assert entry["explanation"] == [
        {
            "label": "Page & Quill cashback",
            "percent": "2",
            "base": {"amount": "5.00", "currencyCode": "USD"},
            "amount": {"amount": "0.10", "currencyCode": "USD"},
        },
        {
            "label": "Bookworm month",
            "percent": "8",
            "base": {"amount": "20.00", "currencyCode": "USD"},
            "amount": {"amount": "1.60", "currencyCode": "USD"},
        },
    ]


async def test_a_refund_shows_as_a_reversal_of_the_purchase(api: Api) -> None:
    store = await make_store(percent="10")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "40.00", external_id="B-1"))
    clock.advance(timedelta(minutes=1))
    await refund(api, store, "B-1", "10.00", "b-refund")

    answer = await api.gql(ACTIVITY, {"first": 10}, token=api.token_for(customer))

    entries = [e["node"] for e in answer["data"]["viewer"]["activity"]["edges"]]
    assert [(e["kind"], e["amount"]["amount"]) for e in entries] == [
        ("REVERSAL", "1.00"),
        ("CASHBACK", "4.00"),
    ]
    assert entries[0]["purchase"]["externalId"] == "B-1"


async def test_purchases_are_listed_newest_first_page_by_page(api: Api) -> None:
    merchant = await make_merchant(name="FreshMarket", percent="5")
    store = await make_store(merchant, name="Riverside")
    customer = await make_customer()
    now = clock.now()
    for i in range(3):
        await record(
            api,
            store,
            purchase_input(
                store,
                customer,
                "10.00",
                external_id=f"P-{i}",
                occurred_at=now - timedelta(days=3 - i),
                items=[item("MILK", "2.50", quantity=4, category="Dairy")],
            ),
        )
    await refund(api, store, "P-2", "2.50", "milk-back")
    token = api.token_for(customer)

    first = (await api.gql(PURCHASES, {"first": 2}, token=token))["data"]["viewer"]["purchases"]
    after = first["pageInfo"]["endCursor"]
    rest = (await api.gql(PURCHASES, {"first": 2, "after": after}, token=token))["data"]["viewer"][
        "purchases"
    ]

    nodes = [e["node"] for e in first["edges"] + rest["edges"]]
    assert [n["externalId"] for n in nodes] == ["P-2", "P-1", "P-0"]
    assert first["pageInfo"]["hasNextPage"] is True and rest["pageInfo"]["hasNextPage"] is False
    newest = nodes[0]
    assert newest["status"] == "PARTIALLY_REFUNDED"
    assert newest["refunded"]["amount"] == "2.50"
    assert newest["cashback"]["amount"] == "0.37"  # three quarters of 0.50, rounded down
    assert newest["store"] == {
        "id": encode_id("Store", store.id),
        "name": "Riverside",
        "channel": "IN_STORE",
        "merchant": {"id": encode_id("Merchant", merchant.id), "name": "FreshMarket"},
    }
    assert newest["items"] == [
        {
            "sku": "MILK",
            "name": None,
            "category": "Dairy",
            "quantity": 4,
            "unitPrice": {"amount": "2.50", "currencyCode": "USD"},
        }
    ]


async def test_the_lists_cost_the_same_whatever_the_page_size(api: Api) -> None:
    customer = await make_customer()
    for n in range(6):
        store = await make_store(await make_merchant(percent="5"))
        await record(
            api,
            store,
            purchase_input(store, customer, "10.00", items=[item(f"S{n}", "10.00")]),
        )
    token = api.token_for(customer)
    await api.gql(ACTIVITY, {"first": 1}, token=token)

    counts = {}
    for query, name in ((ACTIVITY, "activity"), (PURCHASES, "purchases")):
        for first in (1, 6):
            with count_statements() as statements:
                answer = await api.gql(query, {"first": first}, token=token)
            assert len(answer["data"]["viewer"][name]["edges"]) == first
            counts[(name, first)] = len(statements)

    # Both include the check that the caller's session is still live (once per request).
    assert counts[("activity", 1)] == counts[("activity", 6)] <= 6, counts
    assert counts[("purchases", 1)] == counts[("purchases", 6)] <= 6, counts


async def test_a_purchase_is_seen_by_its_customer_admins_and_its_merchants_partner(
    api: Api,
) -> None:
    store = await make_store(percent="5")
    owner, stranger = await make_customer(), await make_customer()
    recorded = await record(api, store, purchase_input(store, owner, "10.00", external_id="S-1"))
    purchase_id = recorded["purchase"]["id"]

    async def sees(token: str | None) -> bool:
        return (await api.gql(NODE, {"id": purchase_id}, token=token))["data"]["node"] is not None

    assert await sees(api.token_for(owner))
    assert await sees(api.token_for(await make_admin()))
    assert await sees(api.partner_token(["purchases:read"], merchant_id=store.merchant_id))
    assert not await sees(api.token_for(stranger))
    assert not await sees(api.partner_token(["purchases:read"], merchant_id=store.merchant_id + 1))
    assert not await sees(api.partner_token(["offers:read"], merchant_id=store.merchant_id))
    assert not await sees(None)

    stranger_view = await api.gql(PURCHASES, {"first": 10}, token=api.token_for(stranger))
    assert stranger_view["data"]["viewer"]["purchases"]["edges"] == []
    partner = api.partner_token(["purchases:read"], merchant_id=store.merchant_id)
    assert error_codes(await api.gql(PURCHASES, {"first": 10}, token=partner)) == ["FORBIDDEN"]
