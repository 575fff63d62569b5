"""When the database fails under a request, the client gets a clean answer it can act on
(SERVICE_UNAVAILABLE or TIMEOUT, HTTP 503, no internals), the request took effect once or
not at all, the same request again with the same key ends in exactly one effect, the pool
recovers by itself and the ledger reconciles. PostgreSQL only: production runs there.

- A backend killed in the middle of a purchase, a redemption's start and its capture: the
  app's statement waits on a wallet row this test locks, so the transaction is open
  and half done when its backend is ended.
- A slow statement (waiting on a lock) stops at DB_STATEMENT_TIMEOUT_MS while other
  requests are served, and its connection goes back to the pool healthy.
- PostgreSQL stopped and started under load (a private cluster: the shared server is
  never touched)."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.cashback.models import Purchase
from app.catalog.values import Channel
from app.redemptions.models import Redemption
from app.settings import Settings
from tests.cashback.factories import RECORD, purchase_input, record, writer
from tests.cashback.invariants import assert_tier_spend_current
from tests.factories import make_customer
from tests.faults import app_backends, blocker
from tests.ledger.factories import totals
from tests.ledger.invariants import assert_ledger_consistent
from tests.ledger.test_viewer_balance import BALANCE
from tests.redemptions.factories import gid, give_credits, make_merchant, make_store
from tests.redemptions.operations import CAPTURE, START, start_input, started
from tests.servers import one_server
from tests.support import Api, error_codes

# What a client must never see in an answer about a database fault.
INTERNALS = ("asyncpg", "Traceback", "terminat", "postgres", "connection", "statement", "SQL")


def assert_clean_outage(response: httpx.Response, code: str) -> None:
    """A 503 whose one error carries `code` and a plain message, and nothing else."""
    assert response.status_code == 503, response.text
    body = response.json()
    assert error_codes(body) == [code], body
    assert body["errors"][0]["extensions"] == {"code": code}
    for word in INTERNALS:
        assert word.lower() not in response.text.lower(), response.text


async def killed_midway(
    api: Api,
    settings: Settings,
    customer_id: int,
    query: str,
    variables: dict[str, Any],
    token: str,
) -> httpx.Response:
    """The answer to an operation whose backend was ended while its transaction was open:
    its statement on the customer's wallet waited on this test's lock."""
    async with blocker(settings.database_url) as held:
        await held.lock_wallets(customer_id)
        sent = asyncio.create_task(api.post(query, variables, token=token))
        await held.terminate(await held.waiting_backend())
        return await asyncio.wait_for(sent, 30)


async def assert_pool_serves(api: Api, token: str, requests: int = 30) -> None:
    """More requests at once than the pool has connections, every one answered."""
    answers = await asyncio.gather(*(api.post(BALANCE, token=token) for _ in range(requests)))
    for response in answers:
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.text


async def entries_of(customer_id: int) -> list[tuple[str, str, int]]:
    from app import db

    found = await db.rows(
        "SELECT kind, status, amount FROM ledger_entries WHERE customer_id = ? ORDER BY id",
        customer_id,
    )
    return [(row["kind"], row["status"], int(row["amount"])) for row in found]


async def test_a_purchase_killed_midway_is_not_recorded_and_its_retry_credits_once(
    postgres_only: Settings, api: Api
) -> None:
    store = await make_store(percent="5")
    customer = await make_customer()
    await give_credits(customer, 1000)  # a wallet for the purchase's credit to wait on
    data = purchase_input(store, customer, "80.00", external_id="till-7")

    response = await killed_midway(
        api, postgres_only, customer.id, RECORD, {"input": data}, writer(api, store)
    )

    assert_clean_outage(response, "SERVICE_UNAVAILABLE")
    # Nothing of it was written: no purchase, no credit, the wallet as it was.
    assert not await Purchase.filter(store_id=store.id, external_id="till-7").exists()
    assert await entries_of(customer.id) == [("ADJUSTMENT", "AVAILABLE", 1000)]
    assert await totals(customer.id) == (1000, 0, 0)
    await assert_pool_serves(api, api.token_for(customer))

    first = await record(api, store, data)
    again = await record(api, store, data)

    assert first["userErrors"] == [] and again["userErrors"] == []
    assert first["purchase"]["cashback"] == {"amount": "4.00", "currencyCode": "USD"}
    assert again["purchase"]["id"] == first["purchase"]["id"]
    assert await Purchase.filter(store_id=store.id, external_id="till-7").count() == 1
    assert await entries_of(customer.id) == [
        ("ADJUSTMENT", "AVAILABLE", 1000),
        ("CASHBACK", "PENDING", 400),
    ]
    assert await totals(customer.id) == (1000, 400, 0)
    await assert_tier_spend_current()
    await assert_ledger_consistent()


async def test_a_redemption_killed_midway_reserves_nothing_and_its_retry_reserves_once(
    postgres_only: Settings, api: Api
) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    token = api.token_for(customer)
    variables = start_input(gid("Merchant", merchant), "3.00", key="tap-1")

    response = await killed_midway(api, postgres_only, customer.id, START, variables, token)

    assert_clean_outage(response, "SERVICE_UNAVAILABLE")
    assert not await Redemption.filter(customer_id=customer.id).exists()
    assert await entries_of(customer.id) == [("ADJUSTMENT", "AVAILABLE", 1000)]
    assert await totals(customer.id) == (1000, 0, 0)
    await assert_pool_serves(api, token)

    first = await started(api, token, gid("Merchant", merchant), "3.00", key="tap-1")
    again = await started(api, token, gid("Merchant", merchant), "3.00", key="tap-1")

    assert (again["id"], again["code"]) == (first["id"], first["code"])
    assert await Redemption.filter(customer_id=customer.id).count() == 1
    assert await entries_of(customer.id) == [
        ("ADJUSTMENT", "AVAILABLE", 1000),
        ("REDEMPTION", "RESERVED", 300),
    ]
    assert await totals(customer.id) == (700, 0, 300)
    await assert_ledger_consistent()


async def test_a_capture_killed_midway_spends_nothing_and_its_retry_spends_once(
    postgres_only: Settings, api: Api
) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    store = await make_store(merchant, channel=Channel.IN_STORE)
    await give_credits(customer, 1000)
    redemption = await started(api, api.token_for(customer), gid("Merchant", merchant), "4.00")
    partner = api.partner_token(["redemptions:write"], merchant_id=merchant.id)
    variables = {
        "input": {
            "storeId": gid("Store", store),
            "code": redemption["code"],
            "orderReference": "o-1",
        }
    }

    response = await killed_midway(api, postgres_only, customer.id, CAPTURE, variables, partner)

    assert_clean_outage(response, "SERVICE_UNAVAILABLE")
    row = await Redemption.get(customer_id=customer.id)
    assert (row.status, row.order_reference) == ("RESERVED", None)
    assert await totals(customer.id) == (600, 0, 400)
    await assert_pool_serves(api, api.token_for(customer))

    answers = [await api.gql(CAPTURE, variables, token=partner) for _ in range(2)]

    won, repeated = (answer["data"]["captureRedemption"] for answer in answers)
    assert won["userErrors"] == [] and won["redemption"]["status"] == "CAPTURED"
    # The same capture again answers as the first did, and takes nothing more.
    assert repeated == won
    row = await Redemption.get(customer_id=customer.id)
    assert (row.status, row.order_reference) == ("CAPTURED", "o-1")
    assert await entries_of(customer.id) == [
        ("ADJUSTMENT", "AVAILABLE", 1000),
        ("REDEMPTION", "COMPLETED", 400),
    ]
    assert await totals(customer.id) == (600, 0, 0)
    await assert_ledger_consistent()


STATEMENT_TIMEOUT_MS = 400


@pytest.mark.slow
async def test_a_statement_past_its_timeout_frees_its_worker_and_connection(
    postgres_only: Settings, api: Api
) -> None:
    """One server process, two pooled connections: a redemption whose statement waits on a
    lock is stopped at the statement timeout with TIMEOUT, other customers are served while
    it waits, and its connection is reused, idle and healthy, afterwards."""
    application = f"cashback-faults-{uuid.uuid4().hex[:8]}"
    url = f"{postgres_only.database_url}?application_name={application}"
    waiting, other = await make_customer(), await make_customer()
    merchant = await make_merchant()
    await give_credits(waiting, 1000)
    await give_credits(other, 1000)
    waiting_token, other_token = api.token_for(waiting), api.token_for(other)
    variables = start_input(gid("Merchant", merchant), "2.00", key="slow-1")
    server_env = {
        "DB_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
        "DB_POOL_MIN": "2",
        "DB_POOL_MAX": "2",
        "REQUEST_TIMEOUT_SECONDS": "30",
    }
    async with (
        one_server(postgres_only.model_copy(update={"database_url": url}), **server_env) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):

        async def post(query: str, variables: dict[str, Any], token: str) -> httpx.Response:
            return await client.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )

        async with blocker(postgres_only.database_url) as held:
            await held.lock_wallets(waiting.id)
            started_at = time.monotonic()
            slow = asyncio.create_task(post(START, variables, waiting_token))
            stuck = await held.waiting_backend(application)
            # Meanwhile the other connection serves everyone else.
            served = [await post(BALANCE, {}, other_token) for _ in range(5)]
            other_start = await post(
                START, start_input(gid("Merchant", merchant), "1.00", key="fast-1"), other_token
            )
            response = await asyncio.wait_for(slow, 30)
            elapsed = time.monotonic() - started_at

        assert_clean_outage(response, "TIMEOUT")
        assert STATEMENT_TIMEOUT_MS / 1000 <= elapsed < 5
        assert all(r.status_code == 200 and "errors" not in r.json() for r in served)
        assert other_start.json()["data"]["startRedemption"]["userErrors"] == []
        assert not await Redemption.filter(customer_id=waiting.id).exists()
        assert await totals(waiting.id) == (1000, 0, 0)
        # The connection that timed out is still in the pool, idle, not in a transaction.
        backends = await app_backends(postgres_only.database_url, application)
        assert stuck in {b["pid"] for b in backends}
        assert {b["state"] for b in backends} == {"idle"}

        # It serves again: every request on both connections, then the retry once.
        for _ in range(6):
            answer = (await post(BALANCE, {}, waiting_token)).json()
            assert answer["data"]["viewer"]["balance"]["available"]["amount"] == "10.00"
        again = [(await post(START, variables, waiting_token)).json() for _ in range(2)]
        ids = {a["data"]["startRedemption"]["redemption"]["id"] for a in again}
        assert len(ids) == 1
        assert await Redemption.filter(customer_id=waiting.id).count() == 1
        assert await totals(waiting.id) == (800, 0, 200)
        assert await totals(other.id) == (900, 0, 100)
    await assert_ledger_consistent()


def _amount(minor: int) -> str:
    return str(Decimal(minor) / 100)
