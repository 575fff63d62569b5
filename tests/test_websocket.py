"""The WebSocket at /graphql carries subscriptions only, checks the caller for every
operation as HTTP does, maps errors in the same one place, and closes (4403) when the
token expires or the session ends."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

import pytest
import strawberry

from app.core import clock
from app.graphql.context import Info
from app.graphql.permissions import IsCustomer
from app.graphql.schema import build_schema
from app.graphql.view import GraphQLView
from app.redemptions.models import Redemption
from tests.accounts.factories import sign_up
from tests.conftest import make_settings
from tests.redemptions.factories import give_credits, make_merchant
from tests.redemptions.operations import START, start_input
from tests.support import Api
from tests.ws import GRAPHQL_TRANSPORT_WS, Closed, WebSocketSession

SIGN_OUT_EVERYWHERE = """
mutation SignOut($refreshToken: String!) {
  signOut(refreshToken: $refreshToken, everywhere: true) { userErrors { code } } }
"""
TICKS = "subscription Ticks($count: Int!) { ticks(count: $count) }"


@strawberry.type
class Subscription:
    @strawberry.subscription(permission_classes=[IsCustomer])
    async def ticks(self, info: Info, count: int) -> AsyncGenerator[int, None]:
        customer = info.context.principal
        assert customer is not None
        for n in range(count):
            yield customer.subject_id * 1000 + n

    @strawberry.subscription
    async def broken(self) -> AsyncGenerator[int, None]:
        raise RuntimeError("internal detail: connection string postgres://secret")
        yield 0  # pragma: no cover


def socket_app(api: Api, **settings: Any) -> GraphQLView:
    """The /graphql endpoint with a customer-only subscription of its own."""
    configured = make_settings(api.settings.database_url, **settings)
    schema = build_schema(configured, extra_subscriptions=(Subscription,))
    return GraphQLView(schema, settings=configured)


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['accessToken']}"}


async def test_a_signed_in_customer_subscribes_and_gets_their_own_events(api: Api) -> None:
    session = await sign_up(api, email="ws-ana@example.com")
    async with WebSocketSession(socket_app(api)) as ws:
        assert ws.accepted_subprotocol == GRAPHQL_TRANSPORT_WS
        assert (await ws.init(bearer(session)))["type"] == "connection_ack"
        await ws.subscribe("1", TICKS, count=2)

        first, second, done = [await ws.receive_json() for _ in range(3)]

    assert first["type"] == second["type"] == "next"
    assert [
        first["payload"]["data"]["ticks"] % 1000,
        second["payload"]["data"]["ticks"] % 1000,
    ] == [
        0,
        1,
    ]
    assert done == {"id": "1", "type": "complete"}


async def test_queries_and_mutations_over_the_socket_are_refused_and_nothing_moves(
    api: Api,
) -> None:
    session = await sign_up(api, email="ws-ben@example.com")
    customer_id = await _customer_id(api, session)
    await give_credits(_Id(customer_id), 5_000)
    merchant = await make_merchant()
    start = start_input(strawberry.ID(_gid("Merchant", merchant.id)), "10.00")

    async with WebSocketSession(socket_app(api)) as ws:
        await ws.init(bearer(session))
        await ws.subscribe("q", "query Me { viewer { email } }")
        query_answer = await ws.receive_json()
        await ws.subscribe("m", START, **start)
        mutation_answer = await ws.receive_json()

    for answer in (query_answer, mutation_answer):
        assert answer["type"] == "error"
        assert [e["extensions"]["code"] for e in answer["payload"]] == ["OPERATION_NOT_ALLOWED"]
    assert "ws-ben" not in str(query_answer)
    assert await Redemption.filter(customer_id=customer_id).count() == 0


async def test_signing_out_everywhere_closes_an_open_socket(api: Api) -> None:
    session = await sign_up(api, email="ws-cy@example.com")
    async with WebSocketSession(socket_app(api, ws_liveness_check_seconds=0.05)) as ws:
        await ws.init(bearer(session))
        await ws.subscribe("1", TICKS, count=1)
        assert (await ws.receive_json())["type"] == "next"

        await api.gql(SIGN_OUT_EVERYWHERE, {"refreshToken": session["refreshToken"]})

        closed = await ws.closed(wait=3)
    assert closed.code == 4403


async def test_an_expired_token_closes_the_socket(api: Api) -> None:
    session = await sign_up(api, email="ws-di@example.com")
    async with WebSocketSession(socket_app(api, ws_liveness_check_seconds=0.05)) as ws:
        await ws.init(bearer(session))
        clock.advance(timedelta(minutes=16))  # access tokens last 15 minutes

        closed = await ws.closed(wait=3)
    assert closed.code == 4403


async def test_a_subscription_after_sign_out_is_refused_before_it_runs(api: Api) -> None:
    # The periodic check has not come round yet: the operation checks for itself.
    session = await sign_up(api, email="ws-eve@example.com")
    async with WebSocketSession(socket_app(api, ws_liveness_check_seconds=3600)) as ws:
        await ws.init(bearer(session))
        await api.gql(SIGN_OUT_EVERYWHERE, {"refreshToken": session["refreshToken"]})

        await ws.subscribe("1", TICKS, count=1)

        closed = await ws.closed(wait=3)
    assert closed.code == 4403


@pytest.mark.parametrize(
    "payload",
    [
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic abc"},
        {"Authorization": {"nested": "object"}},
    ],
)
async def test_a_connection_with_a_bad_token_is_refused(api: Api, payload: dict) -> None:
    async with WebSocketSession(socket_app(api)) as ws:
        with pytest.raises(Closed) as refused:
            await ws.init(payload)
    assert refused.value.code == 4403


async def test_a_signed_out_token_cannot_open_a_connection(api: Api) -> None:
    session = await sign_up(api, email="ws-flo@example.com")
    await api.gql(SIGN_OUT_EVERYWHERE, {"refreshToken": session["refreshToken"]})
    async with WebSocketSession(socket_app(api)) as ws:
        with pytest.raises(Closed) as refused:
            await ws.init(bearer(session))
    assert refused.value.code == 4403


async def test_an_anonymous_subscription_that_needs_a_customer_is_unauthenticated(
    api: Api,
) -> None:
    async with WebSocketSession(socket_app(api)) as ws:
        await ws.init()
        await ws.subscribe("1", TICKS, count=1)
        answer = await ws.receive_json()
    assert answer["type"] == "error"
    assert [e["extensions"]["code"] for e in answer["payload"]] == ["UNAUTHENTICATED"]


async def test_an_unexpected_fault_is_masked_like_over_http(api: Api) -> None:
    async with WebSocketSession(socket_app(api)) as ws:
        await ws.init()
        await ws.subscribe("1", "subscription { broken }")
        answer = await ws.receive_json()
    text = str(answer)
    assert "INTERNAL_SERVER_ERROR" in text
    assert "secret" not in text and "postgres" not in text


async def test_malformed_subscribe_messages_close_the_socket(api: Api) -> None:
    async with WebSocketSession(socket_app(api)) as ws:
        await ws.init()
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": 42}})
        closed = await ws.closed()
    assert closed.code == 4400


async def test_the_legacy_graphql_ws_protocol_is_not_spoken(api: Api) -> None:
    with pytest.raises(Closed) as refused:
        async with WebSocketSession(socket_app(api), subprotocols=("graphql-ws",)) as ws:
            await ws.init()
    assert refused.value.code == 4406


async def _customer_id(api: Api, session: dict[str, Any]) -> int:
    from app.accounts.tokens import principal_from_token

    return principal_from_token(api.settings, session["accessToken"]).subject_id


def _gid(type_name: str, pk: int) -> str:
    from app.core.ids import encode_id

    return encode_id(type_name, pk)


class _Id:
    def __init__(self, pk: int) -> None:
        self.id = pk


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"type": "ping", "payload": ' + "9" * 5_000 + "}",
        "[1, 2, 3]",
        '"connection_init"',
        "{not json",
    ],
)
async def test_hostile_messages_close_the_socket_cleanly(api: Api, text: str) -> None:
    async with WebSocketSession(socket_app(api)) as ws:
        await ws.init()
        await ws.send_text(text)
        closed = await ws.closed()
    assert closed.code == 4400
