"""`balanceChanged`: a customer's balance pushed over the WebSocket as it moves, only to
that customer, only once the movement committed; bad callers refused, silent clients
dropped, slow ones never buffered without bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from graphql import print_ast
from tortoise.transactions import in_transaction

from app import ledger
from app.core import clock
from app.graphql.schema import build_schema
from app.graphql.view import MAX_SUBSCRIPTIONS_PER_CONNECTION, GraphQLView
from app.notifications import live
from tests.accounts.factories import sign_up
from tests.cashback.factories import purchase_input, record
from tests.catalog.factories import make_store
from tests.conftest import make_settings
from tests.factories import make_customer
from tests.ledger.factories import give_credit, reserve
from tests.ledger.invariants import ledger_checked_db  # noqa: F401  (overrides `db`)
from tests.support import Api
from tests.test_contract import CONTRACT_DIR, _operations
from tests.test_websocket import SIGN_OUT_EVERYWHERE
from tests.ws import WebSocketSession

BALANCE_CHANGED = """
subscription BalanceChanged {
  balanceChanged {
    available { amount currencyCode }
    pending { amount currencyCode }
    reserved { amount currencyCode }
    cause
    changedAt
  }
}
"""
QUIET = 0.3  # seconds to wait for a message that must not come


@pytest.fixture(autouse=True)
async def _listener_stopped_after() -> AsyncIterator[None]:
    yield
    await live.stop()


def socket_app(api: Api, **settings: Any) -> GraphQLView:
    configured = make_settings(api.settings.database_url, **settings)
    return GraphQLView(build_schema(configured), settings=configured)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def subscribed(ws: WebSocketSession, token: str, operation_id: str = "1") -> None:
    assert (await ws.init(bearer(token)))["type"] == "connection_ack"
    await ws.subscribe(operation_id, BALANCE_CHANGED)
    await _until_listening(1)


async def _until_listening(count: int) -> None:
    """The subscription runs once its mailbox is open (the resolver runs in its own task)."""
    for _ in range(200):
        if live.subscriber_count() >= count:
            await asyncio.sleep(0.02)  # and its first read of the wallet is done
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the subscription did not start")


async def next_change(ws: WebSocketSession, operation_id: str = "1") -> dict[str, Any]:
    message = await ws.receive_json(wait=5)
    assert message["type"] == "next", message
    assert message["id"] == operation_id
    return message["payload"]["data"]["balanceChanged"]


async def assert_quiet(ws: WebSocketSession) -> None:
    with pytest.raises(TimeoutError):
        await ws.receive_json(wait=QUIET)


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "USD"}


async def test_a_purchase_pushes_one_event_with_the_new_pending_balance(api: Api) -> None:
    store = await make_store(percent="5")
    customer = await make_customer()
    async with WebSocketSession(socket_app(api)) as ws:
        await subscribed(ws, api.token_for(customer))

        await record(api, store, purchase_input(store, customer, "80.00"))

        change = await next_change(ws)
        await assert_quiet(ws)
    assert change["pending"] == usd("4.00")
    assert change["available"] == change["reserved"] == usd("0.00")
    assert change["cause"] == "CREDITED"
    assert change["changedAt"]


async def test_reserving_capturing_and_releasing_each_push(api: Api) -> None:
    customer = await make_customer()
    await give_credit(customer.id, 5_000)
    async with WebSocketSession(socket_app(api)) as ws:
        await subscribed(ws, api.token_for(customer))

        await reserve(customer.id, 1_000, "r-1")
        reserved = await next_change(ws)
        await ledger.capture_reservation(reservation_key="r-1")
        captured = await next_change(ws)
        await reserve(customer.id, 500, "r-2")
        await next_change(ws)
        await ledger.release_reservation(reservation_key="r-2")
        released = await next_change(ws)

    assert (reserved["cause"], reserved["available"], reserved["reserved"]) == (
        "REDEMPTION_RESERVED",
        usd("40.00"),
        usd("10.00"),
    )
    assert (captured["cause"], captured["available"], captured["reserved"]) == (
        "REDEMPTION_CAPTURED",
        usd("40.00"),
        usd("0.00"),
    )
    assert (released["cause"], released["available"], released["reserved"]) == (
        "REDEMPTION_RELEASED",
        usd("40.00"),
        usd("0.00"),
    )


async def test_credits_maturing_push_when_the_wallet_settles(api: Api) -> None:
    customer = await make_customer()
    await give_credit(customer.id, 700, pending=timedelta(days=1))
    async with WebSocketSession(socket_app(api)) as ws:
        await subscribed(ws, api.token_for(customer))

        clock.advance(timedelta(days=1, minutes=1))
        assert await ledger.settle_due_wallets() == 1

        change = await next_change(ws)
    assert (change["cause"], change["available"], change["pending"]) == (
        "CREDITS_AVAILABLE",
        usd("7.00"),
        usd("0.00"),
    )


async def test_another_customers_movement_pushes_nothing(api: Api) -> None:
    viewer, other = await make_customer(), await make_customer()
    async with WebSocketSession(socket_app(api)) as ws:
        await subscribed(ws, api.token_for(viewer))

        await give_credit(other.id, 900)
        await assert_quiet(ws)

        await give_credit(viewer.id, 100)
        change = await next_change(ws)
    assert change["available"] == usd("1.00")


async def test_a_movement_rolled_back_pushes_nothing(api: Api) -> None:
    customer = await make_customer()
    async with WebSocketSession(socket_app(api)) as ws:
        await subscribed(ws, api.token_for(customer))

        with pytest.raises(RuntimeError):
            async with in_transaction():
                await give_credit(customer.id, 900)
                raise RuntimeError("the caller changes its mind")
        await assert_quiet(ws)

        await give_credit(customer.id, 100)
        change = await next_change(ws)
    assert change["available"] == usd("1.00")  # never the 9.00 that was rolled back


async def test_without_a_token_the_subscription_is_unauthenticated(api: Api) -> None:
    async with WebSocketSession(socket_app(api)) as ws:
        await ws.init()
        await ws.subscribe("1", BALANCE_CHANGED)
        answer = await ws.receive_json()
    assert answer["type"] == "error"
    assert [e["extensions"]["code"] for e in answer["payload"]] == ["UNAUTHENTICATED"]
    assert live.subscriber_count() == 0


async def test_a_partner_token_is_forbidden(api: Api) -> None:
    async with WebSocketSession(socket_app(api)) as ws:
        await ws.init(bearer(api.partner_token(["purchases:write"])))
        await ws.subscribe("1", BALANCE_CHANGED)
        answer = await ws.receive_json()
    assert answer["type"] == "error"
    assert [e["extensions"]["code"] for e in answer["payload"]] == ["FORBIDDEN"]
    assert live.subscriber_count() == 0


async def test_an_expired_token_closes_the_subscription(api: Api) -> None:
    customer = await make_customer()
    async with WebSocketSession(socket_app(api, ws_liveness_check_seconds=0.05)) as ws:
        await subscribed(ws, api.token_for(customer))
        clock.advance(timedelta(minutes=16))  # access tokens last 15 minutes

        closed = await ws.closed(wait=3)
    assert closed.code == 4403
    await asyncio.sleep(0.05)
    assert live.subscriber_count() == 0


async def test_signing_out_everywhere_closes_the_subscription(api: Api) -> None:
    session = await sign_up(api, email="live-signout@example.com")
    async with WebSocketSession(socket_app(api, ws_liveness_check_seconds=0.05)) as ws:
        await subscribed(ws, session["accessToken"])

        await api.gql(SIGN_OUT_EVERYWHERE, {"refreshToken": session["refreshToken"]})

        closed = await ws.closed(wait=3)
    assert closed.code == 4403
    await asyncio.sleep(0.05)
    assert live.subscriber_count() == 0


async def test_a_subscriber_that_never_reads_holds_one_pending_change(api: Api) -> None:
    customer = await make_customer()
    # A client that stops reading: the server's sends wait once one message is unread.
    async with WebSocketSession(socket_app(api), receive_buffer=1) as ws:
        await subscribed(ws, api.token_for(customer))

        for n in range(40):
            await give_credit(customer.id, 100, key=f"slow-{n}")
            assert live.pending_signals() <= 1
        await asyncio.sleep(0.1)
        assert live.pending_signals() <= 1

        received = []
        while True:
            try:
                received.append(await next_change(ws))
            except TimeoutError:
                break
            if received[-1]["available"] == usd("40.00"):
                break
    # At most: one unread, one being sent, one coalesced from all the rest.
    assert 1 <= len(received) <= 3
    assert received[-1]["available"] == usd("40.00")


async def test_a_watch_keeps_only_the_latest_cause() -> None:
    async with live.watching(4242) as watch:
        for n in range(10_000):
            live.announce(4242, "CREDIT" if n % 2 else "MATURE")
        assert watch.pending == 1
        assert await watch.next(None) == "CREDIT"
        assert watch.pending == 0
    assert live.subscriber_count() == 0


async def test_a_client_that_does_not_answer_pings_is_dropped(api: Api) -> None:
    customer = await make_customer()
    app = socket_app(api, ws_ping_interval_seconds=0.05, ws_ping_timeout_seconds=0.2)
    async with WebSocketSession(app) as ws:
        await subscribed(ws, api.token_for(customer))
        assert (await ws.receive_json())["type"] == "ping"

        closed = await ws.closed(wait=3)
    assert closed.code == 4504
    await asyncio.sleep(0.05)
    assert live.subscriber_count() == 0


async def test_a_client_that_answers_pings_stays(api: Api) -> None:
    customer = await make_customer()
    app = socket_app(api, ws_ping_interval_seconds=0.05, ws_ping_timeout_seconds=0.2)
    async with WebSocketSession(app) as ws:
        await subscribed(ws, api.token_for(customer))
        for _ in range(5):  # 5 pings: well past the timeout
            assert (await ws.receive_json())["type"] == "ping"
            await ws.send_json({"type": "pong"})
        await give_credit(customer.id, 300)

        message = await ws.receive_json()
        while message["type"] == "ping":
            await ws.send_json({"type": "pong"})
            message = await ws.receive_json()
    assert message["payload"]["data"]["balanceChanged"]["available"] == usd("3.00")


async def test_subscriptions_per_connection_are_bounded(api: Api) -> None:
    customer = await make_customer()
    async with WebSocketSession(socket_app(api)) as ws:
        await ws.init(bearer(api.token_for(customer)))
        for n in range(MAX_SUBSCRIPTIONS_PER_CONNECTION):
            await ws.subscribe(str(n), BALANCE_CHANGED)
        await _until_listening(MAX_SUBSCRIPTIONS_PER_CONNECTION)

        await ws.subscribe("one-too-many", BALANCE_CHANGED)
        answer = await ws.receive_json()
    assert answer["type"] == "error"
    assert answer["id"] == "one-too-many"
    assert [e["extensions"]["code"] for e in answer["payload"]] == ["TOO_MANY_SUBSCRIPTIONS"]


@pytest.mark.skipif(not CONTRACT_DIR.is_dir(), reason="no contract folder")
async def test_the_contract_subscription_runs_as_clients_send_it(api: Api) -> None:
    (document,) = [doc for _, name, doc in _operations() if name == "BalanceChanged"]
    customer = await make_customer()
    async with WebSocketSession(socket_app(api)) as ws:
        await ws.init(bearer(api.token_for(customer)))
        await ws.send_json(
            {
                "id": "c",
                "type": "subscribe",
                "payload": {"query": print_ast(document), "operationName": "BalanceChanged"},
            }
        )
        await _until_listening(1)
        await give_credit(customer.id, 250)

        change = await next_change(ws, "c")
    assert change == {
        "available": usd("2.50"),
        "pending": usd("0.00"),
        "reserved": usd("0.00"),
    }


async def test_closing_the_socket_ends_the_subscription(api: Api) -> None:
    customer = await make_customer()
    async with WebSocketSession(socket_app(api)) as ws:
        await subscribed(ws, api.token_for(customer))
        assert live.subscriber_count() == 1
    await asyncio.sleep(0.05)
    assert live.subscriber_count() == 0


async def test_a_complete_message_ends_the_subscription(api: Api) -> None:
    customer = await make_customer()
    async with WebSocketSession(socket_app(api)) as ws:
        await subscribed(ws, api.token_for(customer))
        await ws.send_json({"id": "1", "type": "complete"})
        await asyncio.sleep(0.05)
        assert live.subscriber_count() == 0
        await give_credit(customer.id, 100)
        await assert_quiet(ws)


async def test_several_processes_on_one_sqlite_file_poll_as_well(
    api: Api, is_postgres: bool
) -> None:
    # Each process hears only its own transfers: subscribers re-read on a timer too.
    if is_postgres:
        pytest.skip("PostgreSQL processes hear each other's transfers")
    customer = await make_customer()
    async with WebSocketSession(socket_app(api, workers=2)) as ws:
        await subscribed(ws, api.token_for(customer))
        assert not live.is_listening()
    await live.stop()
    async with WebSocketSession(socket_app(api, workers=1)) as ws:
        await subscribed(ws, api.token_for(customer))
        assert live.is_listening()
