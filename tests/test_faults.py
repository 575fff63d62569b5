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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from app.accounts.tokens import issue_access_token, issue_partner_token
from app.cashback.models import Purchase
from app.catalog.values import Channel
from app.core.ids import encode_id
from app.redemptions.models import Redemption
from app.settings import Settings
from tests.cashback.factories import RECORD, purchase_input, record, writer
from tests.cashback.invariants import assert_tier_spend_current
from tests.conftest import IN_CI, make_settings
from tests.factories import make_customer
from tests.faults import (
    CREDITS_MINOR,
    ClusterUnavailable,
    PrivateCluster,
    app_backends,
    app_command,
    asyncpg_dsn,
    blocker,
    private_cluster,
    seed,
)
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


# PostgreSQL stopped and started under load


@pytest.fixture
async def cluster() -> AsyncIterator[PrivateCluster]:
    """A private PostgreSQL cluster; skipped where none can be made, failed under CI."""
    made = private_cluster()
    try:
        found = await made.__aenter__()
    except (ClusterUnavailable, RuntimeError) as error:
        message = f"a private PostgreSQL cluster cannot be made here ({error})"
        if IN_CI:
            pytest.fail(f"{message}; under CI=true this is a failure, not a skip")
        pytest.skip(message)
    try:
        yield found
    finally:
        await made.__aexit__(None, None, None)


CLIENTS = 6


@dataclass
class Operation:
    """One client request with its own key: a purchase (store, externalId) or a
    redemption's start (idempotencyKey), and every answer it got."""

    kind: str
    key: str
    customer_id: int
    query: str
    variables: dict[str, Any]
    token: str
    answers: list[httpx.Response] = field(default_factory=list)

    def succeeded(self) -> dict[str, Any] | None:
        """The payload of its last answer when that was a success."""
        last = self.answers[-1]
        if last.status_code != 200 or "errors" in last.json():
            return None
        payload: dict[str, Any] = last.json()["data"][self.kind]
        assert payload["userErrors"] == [], payload
        return payload

    def effect(self) -> str | None:
        """The id of the purchase or redemption its last answer named."""
        payload = self.succeeded()
        if payload is None:
            return None
        made: str = payload["purchase" if self.kind == "recordPurchase" else "redemption"]["id"]
        return made


class Load:
    """Customers start redemptions and the store reports their purchases, each request
    with a fresh key, from several clients at once until stopped."""

    def __init__(self, seeded: dict[str, Any], settings: Settings) -> None:
        self.store = encode_id("Store", seeded["store_id"])
        self.merchant = encode_id("Merchant", seeded["merchant_id"])
        self.customers = seeded["customers"]
        self.settings = settings
        self.partner, _ = issue_partner_token(
            settings,
            client_id=1,
            scopes=["purchases:write"],
            merchant_id=seeded["merchant_id"],
        )
        self.operations: list[Operation] = []
        self.stopping = asyncio.Event()

    def _next(self, n: int) -> Operation:
        customer = self.customers[n % len(self.customers)]
        if n % 2:
            token, _ = issue_access_token(self.settings, user_id=customer["id"], role="CUSTOMER")
            key = f"tap-{n}"
            variables = start_input(self.merchant, "1.00", key=key)
            return Operation("startRedemption", key, customer["id"], START, variables, token)
        key = f"till-{n}"
        variables = {
            "input": {
                "storeId": self.store,
                "externalId": key,
                "customer": {"memberCode": customer["member_code"]},
                "total": {"amount": "20.00", "currencyCode": "USD"},
                "occurredAt": datetime.now(UTC).isoformat(),
            }
        }
        return Operation("recordPurchase", key, customer["id"], RECORD, variables, self.partner)

    async def send(self, client: httpx.AsyncClient, operation: Operation) -> httpx.Response:
        response = await client.post(
            "/graphql",
            json={"query": operation.query, "variables": operation.variables},
            headers={"Authorization": f"Bearer {operation.token}"},
        )
        operation.answers.append(response)
        return response

    async def run(self, client: httpx.AsyncClient) -> None:
        counter = iter(range(1_000_000))

        async def one_client() -> None:
            while not self.stopping.is_set():
                operation = self._next(next(counter))
                self.operations.append(operation)
                await self.send(client, operation)
                if operation.succeeded() is None:
                    await asyncio.sleep(0.05)  # the database is away: do not spin

        await asyncio.gather(*(one_client() for _ in range(CLIENTS)))


async def watch_readiness(base: str, seen: list[tuple[float, int]], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        while not stop.is_set():
            try:
                status = (await client.get("/readyz")).status_code
            except httpx.TransportError:
                status = 0
            seen.append((time.monotonic(), status))
            await asyncio.sleep(0.1)


RECOVERY_SECONDS = 30.0


@pytest.mark.slow
async def test_postgres_restarted_under_load_loses_nothing_and_doubles_nothing(
    postgres_only: Settings, cluster: PrivateCluster
) -> None:
    await app_command(cluster.url, "migrate")
    seeded = await seed(cluster.url, customers=6)
    settings = make_settings(cluster.url)
    env = {"DB_POOL_MIN": "2", "DB_POOL_MAX": "6", "REQUEST_TIMEOUT_SECONDS": "10"}
    async with (
        one_server(settings, **env) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        load = Load(seeded, settings)
        readiness: list[tuple[float, int]] = []
        watching = asyncio.Event()
        watcher = asyncio.create_task(watch_readiness(base, readiness, watching))
        driving = asyncio.create_task(load.run(client))
        try:
            await asyncio.sleep(1.5)
            before_stop = len(load.operations)
            await cluster.stop("immediate")
            stopped_at = time.monotonic()
            await asyncio.sleep(2.0)
            await cluster.start()
            started_at = time.monotonic()
            while not any(t > started_at and s == 200 for t, s in readiness):
                assert time.monotonic() - started_at < RECOVERY_SECONDS, readiness[-5:]
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # load on the recovered pool
        finally:
            load.stopping.set()
            await driving
            watching.set()
            await watcher

        # Readiness went red while the database was away, green again once it was back.
        down = [s for t, s in readiness if stopped_at < t < started_at]
        assert 503 in down, readiness
        assert all(s in (200, 503) for _, s in readiness), readiness
        assert readiness[-1][1] == 200

        failed = [op for op in load.operations if op.succeeded() is None]
        assert failed, "no request met the outage"
        # Before the stop only the requests then in flight (one per client) could fail.
        early = load.operations[:before_stop]
        assert sum(op.succeeded() is None for op in early) <= CLIENTS
        # The recovered pool served the load's last requests (one per client) at once.
        assert all(op.succeeded() for op in load.operations[-CLIENTS:])
        for op in failed:
            # Every failure was a clean one the client can act on.
            assert_clean_outage(op.answers[-1], "SERVICE_UNAVAILABLE")
        # Each failed request once more, with its key, on the same server process.
        for op in failed:
            await load.send(client, op)
            assert op.succeeded() is not None, op.answers[-1].text

    await assert_one_effect_per_key(cluster.url, load.operations)
    assert "the ledger reconciles" in await app_command(cluster.url, "check-ledger")


async def assert_one_effect_per_key(url: str, operations: list[Operation]) -> None:
    """The database holds exactly one purchase (with one credit) per purchase key and one
    redemption (with one reservation) per redemption key, the ones the clients were told
    of, and every wallet holds exactly what they add up to."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        purchases = await connection.fetch(
            "SELECT p.id, p.external_id, p.customer_id, p.cashback_minor,"
            " (SELECT count(*) FROM ledger_entries e"
            "  WHERE e.idempotency_key = 'purchase:' || p.id) AS credits"
            " FROM cashback_purchases p"
        )
        redemptions = await connection.fetch(
            "SELECT r.id, r.idempotency_key, r.customer_id, r.amount_minor,"
            " (SELECT count(*) FROM ledger_entries e WHERE e.reservation_key = 'redemption:'"
            "  || r.id AND e.status = 'RESERVED') AS reservations"
            " FROM redemptions r"
        )
        wallets = await connection.fetch(
            "SELECT customer_id, available, pending, reserved FROM ledger_wallets"
        )
        entries = await connection.fetchval("SELECT count(*) FROM ledger_entries")
    finally:
        await connection.close()
    answered = {(op.kind, op.key): op.effect() for op in operations}
    by_key = {("recordPurchase", row["external_id"]): row for row in purchases}
    by_key |= {("startRedemption", row["idempotency_key"]): row for row in redemptions}
    assert len(by_key) == len(purchases) + len(redemptions)  # no key twice
    assert set(by_key) == set(answered)
    for key, row in by_key.items():
        type_name = "Purchase" if key[0] == "recordPurchase" else "Redemption"
        assert answered[key] == encode_id(type_name, row["id"]), key
    assert all(row["credits"] == 1 and row["cashback_minor"] > 0 for row in purchases)
    assert all(row["reservations"] == 1 for row in redemptions)
    customers = len(wallets)
    assert entries == customers + len(purchases) + len(redemptions)
    for wallet in wallets:
        mine = wallet["customer_id"]
        reserved = sum(r["amount_minor"] for r in redemptions if r["customer_id"] == mine)
        pending = sum(p["cashback_minor"] for p in purchases if p["customer_id"] == mine)
        assert (wallet["available"], wallet["pending"], wallet["reserved"]) == (
            CREDITS_MINOR - reserved,
            pending,
            reserved,
        )
