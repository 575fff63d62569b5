"""Purchases and refunds recorded at once on two server processes leave exactly the
statistics a rebuild from the same history finds: none lost, none counted twice, no
deadlock reaching a client."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from app.cashback.baskets import rebuild_co_purchases
from app.core import clock
from app.core.ids import encode_id
from app.settings import Settings
from tests.cashback.factories import RECORD, REFUND, item, purchase_input, writer
from tests.suggestions.factories import customers, make_shop
from tests.suggestions.test_related import _statistics
from tests.support import Api

TIMEOUT = 60.0


async def _send_all(servers: list[str], token: str, requests: list[tuple[str, Any]]) -> None:
    """Every request at once, alternating between the servers; each answered cleanly."""
    limits = httpx.Limits(max_connections=len(requests))
    async with httpx.AsyncClient(timeout=TIMEOUT, limits=limits) as client:

        async def send(n: int, query: str, data: dict[str, Any]) -> None:
            response = await client.post(
                f"{servers[n % len(servers)]}/graphql",
                json={"query": query, "variables": {"input": data}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200, response.text
            answer = response.json()
            assert "errors" not in answer, answer
            [payload] = answer["data"].values()
            assert payload["userErrors"] == [], payload

        await asyncio.gather(*(send(n, q, d) for n, (q, d) in enumerate(requests)))


async def test_concurrent_purchases_and_refunds_count_exactly_once(
    api: Api, postgres_only: Settings, servers: list[str]
) -> None:
    catalogue = {f"p{i}": f"Category {i % 2}" for i in range(6)}
    shop = await make_shop(catalogue)
    token = writer(api, shop.store)
    people = await customers(4)
    now = clock.now()
    purchases = []
    for n in range(24):
        # Each customer's purchases a few days apart (follow-ups), the same products
        # across customers (shared pair rows).
        chosen = [f"p{(n + k) % 6}" for k in range(3)]
        purchases.append(
            purchase_input(
                shop.store,
                people[n % 4],
                "30.00",
                items=[item(sku, "10.00") for sku in chosen],
                occurred_at=now - timedelta(days=n % 5),
                external_id=f"concurrent-{n}",
            )
        )
    await _send_all(servers, token, [(RECORD, data) for data in purchases])
    # Half of them fully refunded at once, while others are bought.
    refunds = [
        {
            "storeId": encode_id("Store", shop.store.id),
            "externalId": f"concurrent-{n}",
            "amount": {"amount": "30.00", "currencyCode": "USD"},
            "idempotencyKey": f"back-{n}",
        }
        for n in range(0, 24, 2)
    ]
    more = [
        purchase_input(
            shop.store,
            person,
            "20.00",
            items=[item("p0", "10.00"), item("p5", "10.00")],
            occurred_at=now - timedelta(days=1),
        )
        for person in people
    ]
    await _send_all(
        servers, token, [(REFUND, data) for data in refunds] + [(RECORD, m) for m in more]
    )

    incremental = await _statistics()
    assert len(incremental["lines"]) == (12 * 3) + (4 * 2)
    assert await rebuild_co_purchases() == 16
    assert await _statistics() == incremental
