"""GET /account/export streams the same document exportMyData answers, without holding
the history in memory; one export per customer at a time."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app import db
from app.core import clock
from app.privacy import service
from app.settings import Settings
from tests.factories import make_customer
from tests.privacy.stories import EXPORT, export_of, make_member
from tests.support import Api


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "generatedAt"}


async def test_the_download_is_the_same_document_as_the_mutations(api: Api) -> None:
    ana = await make_member(api, "Ana")

    response = await api.client.get(
        "/account/export", headers={"Authorization": f"Bearer {ana.access_token}"}
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"].startswith('attachment; filename="my-data-')
    assert response.headers["cache-control"] == "no-store"
    assert _comparable(response.json()) == _comparable(await export_of(api, ana.access_token))


async def test_the_download_needs_a_live_customer_session(api: Api) -> None:
    ana = await make_member(api, "Ana")
    partner = api.partner_token(["purchases:write"], merchant_id=ana.store.merchant_id)

    answers = [
        await api.client.get("/account/export", headers=headers)
        for headers in (
            {},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": f"Bearer {partner}"},
        )
    ]

    assert [(a.status_code, a.json()["errors"][0]["extensions"]["code"]) for a in answers] == [
        (401, "UNAUTHENTICATED"),
        (401, "UNAUTHENTICATED"),
        (403, "FORBIDDEN"),
    ]


async def test_a_second_export_while_one_runs_is_refused(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an export that stops half-way until told to go on
    ana = await make_member(api, "Ana")
    halfway, go_on = asyncio.Event(), asyncio.Event()

    async def waiting(*, customer_id: int) -> AsyncIterator[dict[str, Any]]:
        halfway.set()
        await go_on.wait()
        yield {"waited": True}

    monkeypatch.setattr(service, "_LISTS", [*service._LISTS, ("waited", waiting)])
    first = asyncio.create_task(api.gql(EXPORT, token=ana.access_token))
    await asyncio.wait_for(halfway.wait(), 10)

    # When a second export is asked for, by the mutation and by the download
    second = await api.gql(EXPORT, token=ana.access_token)
    download = await api.client.get(
        "/account/export", headers={"Authorization": f"Bearer {ana.access_token}"}
    )

    # Then both are refused cleanly; the first finishes, and a later one runs
    assert second["data"]["exportMyData"]["export"] is None
    assert [e["code"] for e in second["data"]["exportMyData"]["userErrors"]] == [
        "EXPORT_IN_PROGRESS"
    ]
    assert download.status_code == 409
    assert download.json()["errors"][0]["extensions"]["code"] == "EXPORT_IN_PROGRESS"
    go_on.set()
    done = (await first)["data"]["exportMyData"]
    assert done["userErrors"] == [] and done["export"]["waited"] == [{"waited": True}]
    assert (await export_of(api, ana.access_token))["waited"] == [{"waited": True}]


async def test_a_claim_left_by_a_dead_process_is_taken_over_once_stale(api: Api) -> None:
    ana = await make_member(api, "Ana")
    await service.start_export(customer_id=ana.user.id)  # never finished

    refused = await api.gql(EXPORT, token=ana.access_token)
    clock.advance(service.STALE_AFTER + timedelta(seconds=1))

    assert refused["data"]["exportMyData"]["userErrors"][0]["code"] == "EXPORT_IN_PROGRESS"
    later_token = api.token_for(ana.user)  # the first one has expired meanwhile
    assert (await export_of(api, later_token))["profile"]["email"] == ana.email


async def _add_purchases(customer_id: int, count: int) -> None:
    """`count` purchases with two items each, written straight to the tables (what is
    measured is reading them back, not recording them)."""
    now = clock.now()
    rows = [
        (1, 1, customer_id, f"bulk-{customer_id}-{n}", "ONLINE", "USD", 2_500, 125, now, now)
        for n in range(count)
    ]
    await db.execute_many(
        "INSERT INTO cashback_purchases (store_id, merchant_id, customer_id, external_id,"
        " channel, currency, total_minor, cashback_minor, occurred_at, created_at,"
        " credits_used_minor, redeemed_minor, refunded_minor, cashback_reversed_minor, status)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 'COMPLETED')",
        rows,
    )
    ids = await db.rows("SELECT id FROM cashback_purchases WHERE customer_id = ?", customer_id)
    await db.execute_many(
        "INSERT INTO cashback_purchase_items (purchase_id, sku, name, category, quantity,"
        " unit_price_minor) VALUES (?, ?, ?, ?, ?, ?)",
        [(row["id"], sku, "A product", "Groceries", 1, 1_250) for row in ids for sku in "AB"],
    )


async def _peak_while_streaming(customer_id: int) -> tuple[int, int, int]:
    """(tracemalloc's peak in bytes while the export is read and thrown away, the
    document's length, the purchases in it)."""
    claim = await service.start_export(customer_id=customer_id)
    size = purchases = 0
    tracemalloc.start()
    try:
        async for chunk in service.export_chunks(claim):
            size += len(chunk)
            purchases += chunk.count('"externalId":"bulk-')
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, size, purchases


async def test_memory_does_not_grow_with_the_history(api: Api) -> None:
    # Given a customer with 1,000 purchases and one with 4,000 (pages hold 500)
    small, large = await make_customer(), await make_customer()
    await _add_purchases(small.id, 1_000)
    await _add_purchases(large.id, 4_000)

    # When each export is streamed
    small_peak, small_size, small_count = await _peak_while_streaming(small.id)
    large_peak, large_size, large_count = await _peak_while_streaming(large.id)

    # Then the document is four times longer, but the memory held at once is not
    assert (small_count, large_count) == (1_000, 4_000)
    assert large_size > 3.9 * small_size
    assert large_peak < 1.3 * small_peak, (small_peak, large_peak)


async def test_one_export_at_a_time_across_server_processes(
    postgres_only: Settings, servers: list[str], api: Api
) -> None:
    # Given an export running in this process
    ana = await make_member(api, "Ana")
    claim = await service.start_export(customer_id=ana.user.id)
    headers = {"Authorization": f"Bearer {ana.access_token}"}

    async with httpx.AsyncClient(timeout=30) as client:
        # When each server process is asked for one
        refused = [
            (await client.post(f"{url}/graphql", json={"query": EXPORT}, headers=headers)).json()
            for url in servers
        ]
        # Then each refuses; once the first is done, a server builds it
        assert [
            [e["code"] for e in answer["data"]["exportMyData"]["userErrors"]] for answer in refused
        ] == [["EXPORT_IN_PROGRESS"]] * len(servers)
        assert [chunk async for chunk in service.export_chunks(claim)]
        done = (
            await client.post(f"{servers[-1]}/graphql", json={"query": EXPORT}, headers=headers)
        ).json()
    assert done["data"]["exportMyData"]["export"]["profile"]["email"] == ana.email
