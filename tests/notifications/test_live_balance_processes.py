"""On PostgreSQL, a balance change committed by one server process reaches a subscriber
on another, through a real graphql-transport-ws client; and a process whose listening
connection is lost keeps its subscribers informed."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from tortoise.connection import get_connection

from app import ledger
from app.notifications import live
from app.settings import Settings
from tests.cashback.factories import RECORD, purchase_input, writer
from tests.catalog.factories import make_store
from tests.factories import make_customer
from tests.ledger.factories import give_credit
from tests.ledger.invariants import ledger_checked_db  # noqa: F401  (overrides `db`)
from tests.notifications.test_live_balance import (
    BALANCE_CHANGED,
    bearer,
    next_change,
    socket_app,
    subscribed,
    usd,
)
from tests.support import Api
from tests.ws import WebSocketSession


@pytest.fixture(autouse=True)
async def _listener_stopped_after() -> AsyncIterator[None]:
    yield
    await live.stop()


async def _next_data(ws: websockets.ClientConnection, wait: float) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), wait))
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        assert message["type"] == "next", message
        return message["payload"]["data"]["balanceChanged"]


async def test_a_purchase_through_one_process_reaches_a_subscriber_on_another(
    api: Api, postgres_only: Settings, servers: list[str]
) -> None:
    subscriber_side, recording_side = servers
    store = await make_store(percent="5")
    customer = await make_customer()
    url = subscriber_side.replace("http://", "ws://") + "/graphql"

    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": bearer(api.token_for(customer))})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": BALANCE_CHANGED}})
        )
        # The subscription starts in its own task over there: a cent is credited until
        # one is heard, then the purchase is recorded.
        for _ in range(50):
            await give_credit(customer.id, 1)
            try:
                first = await _next_data(ws, 0.2)
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError("the subscription never started")

        async with httpx.AsyncClient(base_url=recording_side) as client:
            response = await client.post(
                "/graphql",
                json={
                    "query": RECORD,
                    "variables": {"input": purchase_input(store, customer, "80.00")},
                },
                headers=bearer(writer(api, store)),
            )
        assert response.status_code == 200 and "errors" not in response.json(), response.text
        change = await _next_data(ws, 5)

    assert first["available"]["amount"] != "0.00"
    assert change["pending"] == usd("4.00")
    assert change["cause"] == "CREDITED"


async def test_a_lost_listening_connection_is_replaced_and_nothing_is_missed(
    api: Api, postgres_only: Settings
) -> None:
    customer = await make_customer()
    async with WebSocketSession(socket_app(api, live_fallback_poll_seconds=0.1)) as ws:
        await subscribed(ws, api.token_for(customer))
        assert live.is_listening()

        await get_connection("default").execute_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            [f"cashback-live:{os.getpid()}"],
        )
        await give_credit(customer.id, 200)
        found = await next_change(ws)
        for _ in range(100):
            if live.is_listening():
                break
            await asyncio.sleep(0.05)
        assert live.is_listening()
        await give_credit(customer.id, 300)
        heard = await next_change(ws)

    assert found["available"] == usd("2.00")
    assert (heard["available"], heard["cause"]) == (usd("5.00"), "CREDITED")


async def test_only_movements_of_watched_customers_are_announced(
    api: Api, postgres_only: Settings
) -> None:
    # A notifying commit holds PostgreSQL's global notify lock: customers nobody watches
    # move money without it.
    heard: list[str] = []
    dsn = postgres_only.database_url.replace("postgres://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    await conn.add_listener(ledger.TRANSFERS_CHANNEL, lambda *args: heard.append(args[3]))
    watched, unwatched = await make_customer(), await make_customer()
    try:
        async with WebSocketSession(socket_app(api)) as ws:
            await subscribed(ws, api.token_for(watched))
            await give_credit(unwatched.id, 100)
            await give_credit(watched.id, 100)
            await next_change(ws)
        await asyncio.sleep(0.2)
        await give_credit(watched.id, 100)  # the subscription has ended
        await asyncio.sleep(0.3)
    finally:
        await conn.close()
    assert heard == [f"{watched.id}:CREDIT"]
