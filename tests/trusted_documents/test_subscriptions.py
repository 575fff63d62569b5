"""Trusted documents over the WebSocket: a subscribe message may carry a trusted
document's hash alone, and with TRUSTED_DOCUMENTS_ONLY any other document is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.graphql.trusted import digest
from app.notifications import live
from tests.factories import make_customer
from tests.ledger.factories import give_credit
from tests.notifications.test_live_balance import (
    _until_listening,
    bearer,
    next_change,
    socket_app,
)
from tests.support import Api
from tests.trusted_documents.support import built_in
from tests.ws import WebSocketSession

UNTRUSTED = "subscription Mine { balanceChanged { available { amount } } }"


@pytest.fixture(autouse=True)
async def _listener_stopped_after() -> AsyncIterator[None]:
    yield
    await live.stop()


def subscribe_by_hash(operation_id: str, sha256: str) -> dict[str, Any]:
    return {
        "id": operation_id,
        "type": "subscribe",
        "payload": {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256}}},
    }


@pytest.mark.parametrize("sent_as", ["text", "hash"])
async def test_with_the_option_the_contracts_balance_changed_runs(api: Api, sent_as: str) -> None:
    customer = await make_customer()
    sha256, document = built_in("BalanceChanged")
    async with WebSocketSession(socket_app(api, trusted_documents_only=True)) as ws:
        assert (await ws.init(bearer(api.token_for(customer))))["type"] == "connection_ack"
        if sent_as == "text":
            await ws.subscribe("1", document)
        else:
            await ws.send_json(subscribe_by_hash("1", sha256))
        await _until_listening(1)

        await give_credit(customer.id, 1_250)
        change = await next_change(ws)
    assert change["available"] == {"amount": "12.50", "currencyCode": "USD"}


async def test_with_the_option_an_untrusted_subscription_gets_an_error(api: Api) -> None:
    customer = await make_customer()
    async with WebSocketSession(socket_app(api, trusted_documents_only=True)) as ws:
        await ws.init(bearer(api.token_for(customer)))
        await ws.subscribe("1", UNTRUSTED)
        as_text = await ws.receive_json()
        await ws.send_json(subscribe_by_hash("2", digest(UNTRUSTED)))
        by_hash = await ws.receive_json()
    assert live.subscriber_count() == 0
    for operation_id, message in (("1", as_text), ("2", by_hash)):
        assert message["type"] == "error"
        assert message["id"] == operation_id
        assert [e["extensions"]["code"] for e in message["payload"]] == ["DOCUMENT_NOT_TRUSTED"]


async def test_without_the_option_an_unknown_hash_is_not_found_and_text_runs(api: Api) -> None:
    customer = await make_customer()
    async with WebSocketSession(socket_app(api)) as ws:
        await ws.init(bearer(api.token_for(customer)))
        await ws.send_json(subscribe_by_hash("1", digest(UNTRUSTED)))
        unknown = await ws.receive_json()
        await ws.subscribe("2", UNTRUSTED)
        await _until_listening(1)
        await give_credit(customer.id, 300)
        change = await next_change(ws, "2")
    assert [e["extensions"]["code"] for e in unknown["payload"]] == ["PERSISTED_QUERY_NOT_FOUND"]
    assert change == {"available": {"amount": "3.00"}}
