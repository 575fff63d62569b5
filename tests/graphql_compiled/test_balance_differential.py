"""The compiled `Balance` (app/ledger/documents.graphql, a widget's refresh) answers
exactly as standard execution does, and a POST of a compiled document is answered before
strawberry reads the request only when it is the plain case: every other form of the
request (another content type, a streamed answer, a batch, a persisted-query form other
than a known hash alone, JSON only `json` reads) gets the standard answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from app import ledger
from app.core import clock
from app.graphql.compiled.balance import DOCUMENT
from app.graphql.trusted import BUILT_IN, digest
from app.main import create_app
from tests.graphql_compiled.test_home_differential import Pair, callers_left_alone
from tests.ledger.statements import count_statements
from tests.suggestions.factories import Shop, customers, make_shop
from tests.support import Api, error_codes

BALANCE_HASH = digest(DOCUMENT)


@pytest.fixture
def pair(api: Api, uncompiled: httpx.AsyncClient) -> Pair:
    return Pair(api.client, uncompiled, DOCUMENT, "Balance")


async def _wallets(api: Api) -> tuple[list[Any], Shop]:
    """Customers with no wallet, pending credits, available ones and credits that expire."""
    now = clock.now()
    shop = await make_shop({"case": "Cases", "phone": "Phones"}, percent="5", price="40.00")
    fresh, pending, matured, old = await customers(4)
    await shop.buy(api, pending, "case")
    await shop.buy(api, matured, "phone", occurred_at=now - timedelta(days=40))
    await shop.buy(api, old, "case", occurred_at=now - timedelta(days=390))
    await shop.buy(api, old, "phone", occurred_at=now - timedelta(days=40))
    return [fresh, pending, matured, old], shop


async def test_the_balance_document_is_built_in() -> None:
    assert BUILT_IN[BALANCE_HASH] == {"name": "Balance", "document": DOCUMENT}


async def test_compiled_balance_answers_as_standard_execution(api: Api, pair: Pair) -> None:
    people, _ = await _wallets(api)
    answers = {}
    for person in people:
        token = api.token_for(person)
        for way in ({}, {"by_hash": True}, {"operation_name": None}, {"variables": {}}):
            answer, by_compiled = await pair.same(token=token, **way)
            assert by_compiled and "errors" not in answer, (way, answer)
            answers[person.id] = answer["data"]["viewer"]["balance"]
    fresh, pending, matured, old = people
    assert answers[fresh.id]["available"] == {"amount": "0.00", "currencyCode": "USD"}
    assert answers[pending.id]["pending"]["amount"] != "0.00"
    assert answers[matured.id]["available"]["amount"] != "0.00"
    assert answers[old.id]["nextExpiry"] is not None


async def test_callers_and_requests_left_to_standard_execution(api: Api, pair: Pair) -> None:
    people, shop = await _wallets(api)
    refused = await callers_left_alone(api, people[2], shop)
    for who, token in refused.items():
        answer, by_compiled = await pair.same(token=token)
        assert not by_compiled, who
        assert answer["data"] is None and answer["errors"], (who, answer)
    token = api.token_for(people[1])
    # A variable the document does not declare, or another operation's name.
    answer, by_compiled = await pair.same(token=token, variables={"unused": 1})
    assert not by_compiled and "errors" not in answer, answer
    answer, by_compiled = await pair.same(token=token, operation_name="Home")
    assert not by_compiled and answer["errors"], answer
    # A GET is answered by the executor too, after strawberry reads it.
    answer, by_compiled = await pair.same(token=token, method="GET")
    assert by_compiled and "errors" not in answer, answer


async def _both(pair: Pair, content: bytes, headers: dict[str, str]) -> httpx.Response:
    """The same raw POST to both apps: equal answers."""
    on = await pair.on.post("/graphql", content=content, headers=headers)
    off = await pair.off.post("/graphql", content=content, headers=headers)
    assert (on.status_code, on.content) == (off.status_code, off.content), content
    return on


async def test_other_forms_of_post_get_the_standard_answer(api: Api, pair: Pair) -> None:
    people, _ = await _wallets(api)
    auth = {"Authorization": f"Bearer {api.token_for(people[1])}"}
    as_json = {**auth, "Content-Type": "application/json"}
    body = orjson.dumps({"query": DOCUMENT})
    persisted = {"version": 1, "sha256Hash": BALANCE_HASH}
    cases: list[tuple[bytes, dict[str, str]]] = [
        # Not JSON, or JSON that only `json` reads (NaN), or not an object.
        (b"{not json", as_json),
        (b'{"query": ' + orjson.dumps(DOCUMENT) + b', "variables": {"x": NaN}}', as_json),
        (orjson.dumps([{"query": DOCUMENT}]), as_json),
        (orjson.dumps(DOCUMENT), as_json),
        # Another content type, or a streamed answer asked for.
        (body, {**auth, "Content-Type": "text/plain"}),
        (body, {**as_json, "Accept": "text/event-stream"}),
        # Variables or extensions that are not objects.
        (orjson.dumps({"query": DOCUMENT, "variables": [1]}), as_json),
        (orjson.dumps({"query": DOCUMENT, "extensions": "x"}), as_json),
        # The document with its hash, a wrong version, a hash not 64 digits, another hash.
        (orjson.dumps({"query": DOCUMENT, "extensions": {"persistedQuery": persisted}}), as_json),
        (
            orjson.dumps({"extensions": {"persistedQuery": {**persisted, "version": 2}}}),
            as_json,
        ),
        (orjson.dumps({"extensions": {"persistedQuery": {"sha256Hash": "ab"}}}), as_json),
        (
            orjson.dumps({"extensions": {"persistedQuery": {**persisted, "sha256Hash": "0" * 64}}}),
            as_json,
        ),
        # Another extension beside the hash.
        (orjson.dumps({"extensions": {"persistedQuery": persisted, "other": {}}}), as_json),
    ]
    statuses = []
    for content, headers in cases:
        response = await _both(pair, content, headers)
        statuses.append(response.status_code)
    # Refusals (400, none a 500) and answers (200): each the standard one.
    assert statuses == [400, 200, 400, 400, 400, 200, 400, 400, 200, 400, 400, 200, 200], statuses
    # A known hash in capitals is the same hash: the executor answers.
    upper = {"persistedQuery": {**persisted, "sha256Hash": BALANCE_HASH.upper()}}
    response = await api.client.post("/graphql", json={"extensions": upper}, headers=auth)
    assert response.status_code == 200 and "errors" not in response.json()


async def test_compiled_balance_sends_one_statement(api: Api, pair: Pair) -> None:
    people, _ = await _wallets(api)
    token = api.token_for(people[2])
    answer, by_compiled = await pair.same(token=token)  # the program's settings in memory
    assert by_compiled and answer["data"]["viewer"]["balance"]["available"]["amount"] != "0.00"
    with count_statements() as sent:
        response = await api.client.post(
            "/graphql", json={"query": DOCUMENT}, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.json() == answer
    # The session check, the account and the wallet: one statement.
    assert len(sent) == 1 and "ledger_wallets" in sent[0], sent


async def test_compiled_balance_stops_at_the_deadline(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compiled answer is bounded like any operation: past the deadline, TIMEOUT (503)."""
    people, _ = await _wallets(api)

    async def stuck(**_: Any) -> Any:
        await asyncio.sleep(5)

    monkeypatch.setattr(ledger, "get_balance", stuck)
    settings = api.settings.model_copy(update={"request_timeout_seconds": 0.2})
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/graphql",
            json={"query": DOCUMENT},
            headers={"Authorization": f"Bearer {api.token_for(people[1])}"},
        )
    assert response.status_code == 503
    assert error_codes(response.json()) == ["TIMEOUT"]
