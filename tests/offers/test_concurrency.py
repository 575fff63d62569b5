"""Under concurrent purchases on two server processes sharing one PostgreSQL database, an
offer's budget is never exceeded and a customer never uses an offer beyond their limit."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app.core.ids import decode_id
from app.offers.models import Offer, OfferUse
from app.settings import Settings
from tests.cashback.factories import RECORD, purchase_input, writer
from tests.catalog.factories import make_store
from tests.factories import make_customer
from tests.ledger.invariants import assert_ledger_consistent
from tests.offers.factories import make_offer
from tests.support import Api

TIMEOUT = 60.0


async def _record_all(servers: list[str], token: str, inputs: list[dict[str, Any]]) -> list[Any]:
    """Every purchase at once, alternating between the servers; each answered cleanly."""
    limits = httpx.Limits(max_connections=len(inputs))
    async with httpx.AsyncClient(timeout=TIMEOUT, limits=limits) as client:

        async def send(n: int, data: dict[str, Any]) -> dict[str, Any]:
            response = await client.post(
                f"{servers[n % len(servers)]}/graphql",
                json={"query": RECORD, "variables": {"input": data}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200, response.text
            answer = response.json()
            assert "errors" not in answer, answer
            payload = answer["data"]["recordPurchase"]
            assert payload["userErrors"] == [], payload
            return payload["purchase"]

        return await asyncio.gather(*(send(n, data) for n, data in enumerate(inputs)))


def _offer_part(purchase: dict[str, Any], title: str) -> int:
    return sum(
        round(float(p["amount"]["amount"]) * 100)
        for p in purchase["explanation"]
        if p["label"] == title
    )


async def test_the_budget_holds_under_concurrent_purchases_on_two_processes(
    api: Api, postgres_only: Settings, servers: list[str]
) -> None:
    store = await make_store(percent="1")
    customers = [await make_customer() for _ in range(16)]
    offer = await make_offer(
        api, title="Budgeted", percent="10", budget={"amount": "12.00", "currencyCode": "USD"}
    )

    purchases = await _record_all(
        servers,
        writer(api, store),
        [purchase_input(store, c, "50.00") for c in customers],
    )

    given = [_offer_part(p, "Budgeted") for p in purchases]
    row = await Offer.get(id=decode_id(offer, "Offer"))
    # 12.00 given out exactly: two full 5.00 parts and 2.00 of a third, never more.
    assert sum(given) == row.budget_used_minor == 1_200
    assert sorted(g for g in given if g) == [200, 500, 500]
    uses = await OfferUse.filter(offer_id=row.id)
    assert sum(u.amount_minor for u in uses) == 1_200 and row.uses_count == len(uses) == 3
    await assert_ledger_consistent()


async def test_a_customer_uses_an_offer_once_under_concurrent_purchases(
    api: Api, postgres_only: Settings, servers: list[str]
) -> None:
    store = await make_store(percent="0")
    customer = await make_customer()
    await make_offer(api, title="Once", percent="10", perCustomerLimit=1)

    purchases = await _record_all(
        servers,
        writer(api, store),
        [purchase_input(store, customer, "10.00") for _ in range(8)],
    )

    assert sorted(_offer_part(p, "Once") for p in purchases) == [0] * 7 + [100]
    await assert_ledger_consistent()
