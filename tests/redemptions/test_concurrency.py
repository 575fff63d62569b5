"""Under concurrent requests on two server processes sharing one PostgreSQL database,
credits are never reserved or spent twice, never created, and never go negative; a
redemption ends in exactly one way. (Deadlocks and serialization failures are retried in
the service: no request may see a server error.)"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from app import ledger
from app.catalog.values import Channel
from app.core import clock
from app.redemptions.models import Redemption
from app.settings import Settings
from tests.factories import make_customer
from tests.ledger.invariants import assert_ledger_consistent
from tests.redemptions.factories import (
    balance,
    gid,
    give_credits,
    make_merchant,
    make_store,
    set_program,
)
from tests.redemptions.operations import CANCEL, CAPTURE, START, capture, start_input, started
from tests.support import Api

REQUEST_TIMEOUT = 30.0
RACE_TIMEOUT = 120.0
WRITE = ["redemptions:write"]


async def _send_all(
    servers: list[str],
    calls: list[tuple[str, dict[str, Any], str]],
    *,
    delays: list[float] | None = None,
) -> list[dict[str, Any]]:
    """Send every (query, variables, token) at once (each after its delay, if any),
    alternating between the servers; every answer must be a 200 without top-level errors."""
    limits = httpx.Limits(max_connections=len(calls), max_keepalive_connections=len(calls))
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, limits=limits) as client:

        async def send(n: int, query: str, variables: dict[str, Any], token: str) -> Any:
            if delays:
                await asyncio.sleep(delays[n])
            return await client.post(
                f"{servers[n % len(servers)]}/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )

        responses = await asyncio.wait_for(
            asyncio.gather(*(send(n, *call) for n, call in enumerate(calls))), RACE_TIMEOUT
        )
    answers = []
    for response in responses:
        assert response.status_code == 200, response.text
        answer = response.json()
        assert "errors" not in answer, answer
        answers.append(answer["data"])
    return answers


async def test_a_hundred_concurrent_starts_never_reserve_more_than_the_balance(
    postgres_only: Settings, servers: list[str], api: Api
) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    await set_program(minimum_redemption=(Decimal("0.50"), "USD"))
    token = api.token_for(customer)
    amounts = ["0.50" if n % 2 else "1.00" for n in range(100)]
    calls = [
        (START, start_input(gid("Merchant", merchant), amount, key=f"k{n}"), token)
        for n, amount in enumerate(amounts)
    ]

    seen: list[tuple[int, int]] = []
    racing = True

    async def watch() -> None:
        while racing:
            found = await ledger.get_balance(customer_id=customer.id, currency="USD")
            seen.append((found.available, found.reserved))
            await asyncio.sleep(0.002)

    watcher = asyncio.create_task(watch())
    try:
        answers = await _send_all(servers, calls)
    finally:
        racing = False
        await watcher

    reserved = 0
    refused: set[str] = set()
    for amount, data in zip(amounts, answers, strict=True):
        payload = data["startRedemption"]
        if payload["redemption"] is not None:
            assert payload["userErrors"] == []
            assert payload["redemption"]["status"] == "RESERVED"
            reserved += int(Decimal(amount) * 100)
        else:
            assert [e["code"] for e in payload["userErrors"]] == ["INSUFFICIENT_BALANCE"]
            refused.add(amount)
    assert 0 < reserved <= 1000
    assert await balance(customer) == (1000 - reserved, reserved)
    assert await Redemption.filter(customer_id=customer.id).count() == sum(
        1 for data in answers if data["startRedemption"]["redemption"]
    )
    # Never over-reserved, never negative, never created, at every moment watched.
    assert seen
    for available, held in seen:
        assert available >= 0 and 0 <= held <= 1000
        assert available + held == 1000
    # A refusal means the balance really was short (it only went down during the race).
    if "0.50" in refused:
        assert 1000 - reserved < 50
    if "1.00" in refused:
        assert 1000 - reserved < 100


async def test_twenty_concurrent_starts_with_one_key_make_one_redemption(
    postgres_only: Settings, servers: list[str], api: Api
) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    token = api.token_for(customer)
    variables = start_input(gid("Merchant", merchant), "3.00", key="double-tap")

    answers = await _send_all(servers, [(START, variables, token)] * 20)

    ids = {data["startRedemption"]["redemption"]["id"] for data in answers}
    codes = {data["startRedemption"]["redemption"]["code"] for data in answers}
    assert len(ids) == 1 and len(codes) == 1
    assert all(data["startRedemption"]["userErrors"] == [] for data in answers)
    assert await Redemption.filter(customer_id=customer.id).count() == 1
    assert await balance(customer) == (700, 300)


async def test_thirty_concurrent_captures_of_one_code_have_one_winner(
    postgres_only: Settings, servers: list[str], api: Api
) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    store = await make_store(merchant, channel=Channel.IN_STORE)
    await give_credits(customer, 1000)
    redemption = await started(api, api.token_for(customer), gid("Merchant", merchant), "4.00")
    partner = api.partner_token(WRITE, merchant_id=merchant.id)
    calls = [
        (
            CAPTURE,
            {
                "input": {
                    "storeId": gid("Store", store),
                    "code": redemption["code"],
                    "orderReference": f"till-{n}",
                }
            },
            partner,
        )
        for n in range(30)
    ]

    answers = await _send_all(servers, calls)

    outcomes = Counter(
        "won"
        if data["captureRedemption"]["redemption"]
        else data["captureRedemption"]["userErrors"][0]["code"]
        for data in answers
    )
    assert outcomes == {"won": 1, "ALREADY_CAPTURED": 29}
    [winner] = [
        data["captureRedemption"]["redemption"]
        for data in answers
        if data["captureRedemption"]["redemption"]
    ]
    row = await Redemption.get(customer_id=customer.id)
    assert (row.status, row.order_reference) == ("CAPTURED", winner["orderReference"])
    assert await balance(customer) == (600, 0)


async def test_capture_racing_cancel_ends_one_way(
    postgres_only: Settings, servers: list[str], api: Api
) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    store = await make_store(merchant, channel=Channel.IN_STORE)
    await give_credits(customer, 2000)
    token = api.token_for(customer)
    partner = api.partner_token(WRITE, merchant_id=merchant.id)
    spent = 0
    endings: Counter[str] = Counter()

    for round_ in range(8):
        redemption = await started(
            api, token, gid("Merchant", merchant), "1.00", key=f"round-{round_}"
        )
        captured, cancelled = await _send_all(
            servers,
            [
                (
                    CAPTURE,
                    {
                        "input": {
                            "storeId": gid("Store", store),
                            "code": redemption["code"],
                            "orderReference": f"order-{round_}",
                        }
                    },
                    partner,
                ),
                (CANCEL, {"id": redemption["id"]}, token),
            ],
            # The cancel leaves a little later each round, so either may get there first.
            delays=[0.0, round_ * 0.003],
        )
        capture_payload = captured["captureRedemption"]
        cancel_payload = cancelled["cancelRedemption"]
        row = await Redemption.get(idempotency_key=f"round-{round_}")
        if capture_payload["redemption"] is not None:
            assert [e["code"] for e in cancel_payload["userErrors"]] == ["REDEMPTION_NOT_OPEN"]
            assert row.status == "CAPTURED"
            spent += 100
            endings["captured"] += 1
        else:
            assert [e["code"] for e in capture_payload["userErrors"]] == ["REDEMPTION_NOT_OPEN"]
            assert cancel_payload["redemption"]["status"] == "RELEASED"
            assert row.status == "RELEASED"
            endings["released"] += 1
        assert await balance(customer) == (2000 - spent, 0)
        await assert_ledger_consistent()
    assert sum(endings.values()) == 8


async def test_capture_racing_expiry_ends_one_way(postgres_only: Settings, api: Api) -> None:
    """Captures arriving around the moment of expiry, while reads settle the wallet: the
    redemption is either captured (credits spent) or expired (credits back), never both.
    (In this process, whose clock can be moved to the edge of expiry.)"""
    customer = await make_customer()
    merchant = await make_merchant()
    store = await make_store(merchant, channel=Channel.IN_STORE)
    await give_credits(customer, 5000)
    spent = 0
    endings: Counter[str] = Counter()

    for round_, edge_ms in enumerate((-60, -30, -10, 0, 10, 30)):
        # Tokens are checked against the moved clock: fresh ones each round.
        token = api.token_for(customer)
        partner = api.partner_token(WRITE, merchant_id=merchant.id)
        redemption = await started(api, token, gid("Merchant", merchant), "1.00", key=f"r{round_}")
        expires = datetime.fromisoformat(redemption["expiresAt"])
        clock.advance(expires - clock.now() + timedelta(milliseconds=edge_ms - 15))

        async def try_capture(
            n: int, redemption: dict = redemption, round_: int = round_, partner: str = partner
        ) -> dict:
            await asyncio.sleep(n * 0.004)
            return await capture(
                api,
                partner,
                storeId=gid("Store", store),
                code=redemption["code"],
                orderReference=f"o-{round_}-{n}",
            )

        async def settle() -> None:
            for _ in range(10):
                await ledger.get_balance(customer_id=customer.id, currency="USD")
                await asyncio.sleep(0.003)

        *answers, _ = await asyncio.wait_for(
            asyncio.gather(*(try_capture(n) for n in range(6)), settle()), RACE_TIMEOUT
        )
        wins = [a for a in answers if a["data"]["captureRedemption"]["redemption"]]
        row = await Redemption.get(idempotency_key=f"r{round_}")
        status = (await api.gql(_STATUS, {"id": redemption["id"]}, token=token))["data"]["node"]
        if wins:
            assert len(wins) == 1
            assert row.status == "CAPTURED" and status["status"] == "CAPTURED"
            spent += 100
            endings["captured"] += 1
        else:
            assert status["status"] == "EXPIRED"
            endings["expired"] += 1
        for answer in answers:
            assert "errors" not in answer, answer
            payload = answer["data"]["captureRedemption"]
            if not payload["redemption"]:
                assert payload["userErrors"][0]["code"] in (
                    "REDEMPTION_EXPIRED",
                    "ALREADY_CAPTURED",
                )
        assert await balance(customer) == (5000 - spent, 0)
        await assert_ledger_consistent()
    assert sum(endings.values()) == 6


_STATUS = "query($id: ID!) { node(id: $id) { ... on Redemption { status } } }"
