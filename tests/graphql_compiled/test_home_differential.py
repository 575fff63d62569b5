"""The compiled `Home` answers exactly as standard execution does.

A varied program (customers with and without consent, purchases, pending, available and
expiring credits and a tier; offers translated, to activate, at other merchants, for a
tier only, bonuses) is asked for `Home` through two apps on the same database: one with
the compiled executor, one with `COMPILED_DOCUMENTS=false`. Every answer must be the same
bytes with the same status and headers, for every customer, page sizes in and out of
range, variables of the wrong kind, and callers it must not answer (none, a bad token, an
ended session, a partner, an admin). The executor's own counter shows which requests it
answered and which it left to standard execution.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from app.core import clock
from app.core.ids import encode_id
from app.graphql import compiled
from app.graphql.compiled.balance import DOCUMENT as BALANCE_DOCUMENT
from app.graphql.compiled.home import DOCUMENT
from app.graphql.metrics import REGISTRY
from app.graphql.schema import build_schema
from app.graphql.trusted import BUILT_IN, digest
from app.settings import Settings
from tests.accounts.factories import SIGN_OUT, make_partner_client, sign_in
from tests.factories import PASSWORD, make_admin
from tests.ledger.statements import count_statements
from tests.offers.factories import activate, make_offer
from tests.suggestions.factories import Shop, customers, make_shop
from tests.support import Api
from tests.test_home_statements import HOME_STATEMENTS

HOME_HASH = digest(DOCUMENT)
_request_ids = itertools.count(1)

# Page sizes in range, at and past each field's bounds, and of the wrong kind.
PAGE_SIZES: list[Any] = [0, 1, 10, 50, 100, 101, -1, None, "10", True, 2**31]


def _variable_sets() -> list[dict[str, Any] | None]:
    sets: list[dict[str, Any] | None] = [None, {}]
    sets += [{"offers": v, "suggestions": v} for v in PAGE_SIZES]
    sets += [{"offers": v} for v in (3, 101, -1, None)]
    sets += [{"suggestions": v} for v in (2, 50, 51, -1, None)]
    sets += [{"offers": 2, "suggestions": 2, "other": 1}]
    return sets


def _answered_by_compiled(variables: dict[str, Any] | None) -> bool:
    """Whether the executor answers a customer's request with these variables (else it
    leaves it to standard execution)."""
    values = dict(variables or {})
    if not set(values) <= {"offers", "suggestions"}:
        return False
    offers, suggestions = values.get("offers", 10), values.get("suggestions", 6)
    if any(type(v) is not int or v >= 2**31 for v in (offers, suggestions)):
        return False
    return offers >= 0 and 0 <= suggestions <= 50


def _count(result: str, name: str = "Home") -> float:
    return (
        REGISTRY.get_sample_value(
            "graphql_compiled_executions_total", {"operation": name, "result": result}
        )
        or 0.0
    )


def _home_ok() -> float:
    return (
        REGISTRY.get_sample_value(
            "graphql_operations_total", {"operation": "Home", "outcome": "ok"}
        )
        or 0.0
    )


class Pair:
    """The same request to the app with the compiled executor and to the one without."""

    def __init__(
        self,
        on: httpx.AsyncClient,
        off: httpx.AsyncClient,
        document: str = DOCUMENT,
        name: str = "Home",
    ) -> None:
        self.on, self.off = on, off
        self.document, self.name = document, name

    async def send(
        self,
        *,
        token: str | None = None,
        variables: dict[str, Any] | None = None,
        by_hash: bool = False,
        operation_name: str | None = "",
        method: str = "POST",
        headers: dict[str, str] | None = None,
    ) -> tuple[httpx.Response, httpx.Response, float, float]:
        """Both answers, and how many requests the executor answered and left (the
        operation's own name unless another is given)."""
        body: dict[str, Any] = {}
        if by_hash:
            sha256 = digest(self.document)
            body["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": sha256}}
        else:
            body["query"] = self.document
        if variables is not None:
            body["variables"] = variables
        if operation_name is not None:
            body["operationName"] = operation_name or self.name
        sent = {"X-Request-Id": f"home-{next(_request_ids)}", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        answers = []
        answered, left = _count("answered", self.name), _count("fell_back", self.name)
        for client in (self.on, self.off):
            if method == "GET":
                query = {k: v if isinstance(v, str) else orjson.dumps(v) for k, v in body.items()}
                url = "/graphql?" + urlencode(query)
                answers.append(await client.get(url, headers=sent))
            else:
                answers.append(await client.post("/graphql", json=body, headers=sent))
            if client is self.on:
                counted = (
                    _count("answered", self.name) - answered,
                    _count("fell_back", self.name) - left,
                )
        assert (_count("answered", self.name), _count("fell_back", self.name)) == (
            answered + counted[0],
            left + counted[1],
        ), "the app without compiled documents ran the executor"
        on, off = answers
        return on, off, counted[0], counted[1]

    async def same(self, **request: Any) -> tuple[dict[str, Any], bool]:
        """The answer (equal from both apps) and whether the executor gave it."""
        on, off, answered, left = await self.send(**request)
        assert on.status_code == off.status_code, (request, on.text, off.text)
        assert on.content == off.content, (request, on.text, off.text)
        assert dict(on.headers) == dict(off.headers), request
        assert answered + left == 1, (request, answered, left)
        return orjson.loads(on.content), answered == 1


@pytest.fixture
def pair(api: Api, uncompiled: httpx.AsyncClient) -> Pair:
    return Pair(api.client, uncompiled)


async def _program(api: Api) -> tuple[list[Any], Shop]:
    """A varied program, and its customers."""
    now = clock.now()
    phones = await make_shop(
        {"phone": "Phones", "case": "Cases", "charger": "Chargers", "cable": "Cables"},
        percent="2.5",
        prices={"phone": "640.00", "case": "19.99", "charger": "25.00", "cable": "7.05"},
    )
    books = await make_shop(
        {"novel": "Books", "atlas": "Books", "pen": "Stationery"}, price="12.40"
    )
    for buyer in await customers(3):
        await phones.buy(api, buyer, "phone", "case", "charger")
        await phones.buy(api, buyer, "case", "cable")
        await books.buy(api, buyer, "novel", "atlas", "pen")

    phones_id = encode_id("Merchant", phones.merchant.id)
    books_id = encode_id("Merchant", books.merchant.id)
    await make_offer(
        api,
        title="Case week",
        percent="10",
        category="Cases",
        merchantId=phones_id,
        translations=[
            {"locale": "fr", "title": "Semaine des étuis", "description": "Plus de remise."},
            {"locale": "de-AT", "terms": "Es gelten Bedingungen."},
        ],
    )
    to_activate = await make_offer(
        api, title="Activate me", percent="7.25", merchantId=books_id, requiresActivation=True
    )
    await make_offer(
        api,
        title="Bonus",
        kind="BONUS_CREDITS",
        percent=None,
        bonus={"amount": "5.00", "currencyCode": "USD"},
        minimumSpend={"amount": "50.00", "currencyCode": "USD"},
        channels=["ONLINE"],
    )
    await make_offer(api, title="Silver only", percent="12", audience={"tiers": ["SILVER"]})
    await make_offer(api, title="Anywhere", percent="3", category="Books")
    for n in range(4):
        await make_offer(api, title=f"Filler {n}", percent=f"{4 + n}.5", merchantId=phones_id)

    plain, consenting, french, rich, fresh = [
        *await customers(1),
        *await customers(1, consent_personalization=True),
        *await customers(1, consent_personalization=True, locale="fr"),
        *await customers(1, consent_personalization=True, birth_date=now.date()),
        *await customers(1, consent_personalization=True),
    ]
    # Pending (bought today), available (matured), expiring and expired credits.
    await phones.buy(api, plain, "case")
    await phones.buy(api, consenting, "charger", occurred_at=now - timedelta(days=40))
    await books.buy(api, consenting, "novel", occurred_at=now - timedelta(days=390))
    await phones.buy(api, french, "cable", "case")
    await activate(api, french, to_activate)
    # Over 1,000 in the year: a higher tier, with offers for it.
    await phones.buy(api, rich, "phone", occurred_at=now - timedelta(days=60))
    await phones.buy(api, rich, "phone", "case")
    await activate(api, rich, to_activate)
    return [plain, consenting, french, rich, fresh], phones


async def test_compiled_home_answers_as_standard_execution(api: Api, pair: Pair) -> None:
    people, _ = await _program(api)
    before = _home_ok()
    compiled_answers = 0
    for person, language in zip(people, [None, "fr-FR,fr;q=0.9", "de-AT", "pt", None], strict=True):
        token = api.token_for(person)
        headers = {"Accept-Language": language} if language else {}
        for variables in _variable_sets():
            answer, by_compiled = await pair.same(token=token, variables=variables, headers=headers)
            assert by_compiled == _answered_by_compiled(variables), (variables, answer)
            if by_compiled:
                compiled_answers += 1
                viewer = answer["data"]["viewer"]
                assert viewer["displayName"] == person.display_name
                assert "errors" not in answer
            elif "other" not in (variables or {}):
                # Out of range or of the wrong kind: refused, the standard way.
                assert answer.get("errors"), (variables, answer)
            else:
                # A variable the document does not declare is ignored; the executor
                # leaves even that to standard execution.
                assert "errors" not in answer, answer
    # Each compiled answer is counted as a successful Home, as standard execution counts it.
    assert _home_ok() - before >= compiled_answers > 0


async def test_the_program_shows_what_the_differential_test_relies_on(api: Api, pair: Pair) -> None:
    """The generated program really has the variety: both paths' answers show
    translations, activation, tiers, bonuses, pending and available credits."""
    people, _ = await _program(api)
    plain, consenting, french, rich, _fresh = people
    home = {}
    for person in people:
        answer, by_compiled = await pair.same(
            token=api.token_for(person), variables={"offers": 50, "suggestions": 10}
        )
        assert by_compiled, answer
        home[person.id] = answer["data"]["viewer"]
    french_titles = {e["node"]["title"] for e in home[french.id]["offers"]["edges"]}
    assert "Semaine des étuis" in french_titles
    assert any(e["node"]["activated"] for e in home[french.id]["offers"]["edges"])
    assert home[rich.id]["tier"]["code"] != home[plain.id]["tier"]["code"]
    assert "Silver only" in {e["node"]["title"] for e in home[rich.id]["offers"]["edges"]}
    assert any(e["node"]["bonus"] for e in home[plain.id]["offers"]["edges"])
    assert home[plain.id]["balance"]["pending"]["amount"] != "0.00"
    assert home[consenting.id]["balance"]["available"]["amount"] != "0.00"
    assert home[consenting.id]["balance"]["nextExpiry"] is not None
    assert any(home[p.id]["suggestions"] for p in people)
    assert any(e["node"]["merchant"] is None for e in home[plain.id]["offers"]["edges"]), (
        "an offer at every merchant"
    )


async def callers_left_alone(api: Api, customer: Any, shop: Shop) -> dict[str, str | None]:
    """The tokens a compiled executor must leave to standard execution, by who sends them
    (`customer`'s session is ended for one)."""
    admin = await make_admin()
    partner = await make_partner_client(["purchases:read"], merchant_id=shop.merchant.id)
    ended = (await sign_in(api, customer.email, PASSWORD))["data"]["signIn"]["session"]
    signed_out = await api.gql(
        SIGN_OUT, {"refreshToken": ended["refreshToken"]}, token=ended["accessToken"]
    )
    assert signed_out["data"]["signOut"]["userErrors"] == []
    return {
        "no token": None,
        "a bad token": "not-a-token",
        "an ended session": ended["accessToken"],
        "an admin": api.token_for(admin),
        "a partner": api.partner_token(["purchases:read"], client_id=partner.client.id),
    }


async def test_callers_the_executor_leaves_to_standard_execution(api: Api, pair: Pair) -> None:
    people, shop = await _program(api)
    signed_in = (await sign_in(api, people[1].email, PASSWORD))["data"]["signIn"]["session"]
    refused = await callers_left_alone(api, people[2], shop)
    for who, token in refused.items():
        for variables in (None, {"offers": 1, "suggestions": 1}, {"offers": -1}):
            answer, by_compiled = await pair.same(token=token, variables=variables)
            assert not by_compiled, who
            assert answer["data"] is None and answer["errors"], (who, answer)
    # A signed-in session is answered by the executor.
    answer, by_compiled = await pair.same(token=signed_in["accessToken"])
    assert by_compiled and answer["data"]["viewer"]["displayName"] == people[1].display_name


async def test_every_way_of_sending_home(api: Api, pair: Pair) -> None:
    people, _ = await _program(api)
    token = api.token_for(people[1])
    ways: list[dict[str, Any]] = [
        {"by_hash": True},
        {"by_hash": True, "method": "GET", "variables": {"offers": 2}},
        {"method": "GET", "variables": {"suggestions": 3}},
        {"operation_name": None},
    ]
    for way in ways:
        answer, by_compiled = await pair.same(token=token, **way)
        assert by_compiled and "errors" not in answer, (way, answer)
    # Another operation name is not this document's: standard execution refuses it.
    answer, by_compiled = await pair.same(token=token, operation_name="Offers")
    assert not by_compiled and answer["errors"], answer


async def test_compiled_home_sends_no_more_statements(api: Api, pair: Pair) -> None:
    people, _ = await _program(api)
    token = api.token_for(people[1])
    await pair.same(token=token)  # the program's settings, tiers and rules in memory
    counts = {}
    for first in (1, 10, 50):
        with count_statements() as sent:
            response = await api.client.post(
                "/graphql",
                json={"query": DOCUMENT, "variables": {"offers": first, "suggestions": first}},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 200 and b'"errors"' not in response.content
        counts[first] = len(sent)
    assert counts[1] == counts[10] == counts[50] <= HOME_STATEMENTS, counts


def test_home_is_compiled_only_as_the_trusted_document_within_the_limits() -> None:
    settings = Settings(app_env="test")
    assert BUILT_IN[HOME_HASH]["name"] == "Home"
    assert list(compiled.executors(build_schema(settings), settings)) == [
        DOCUMENT,
        BALANCE_DOCUMENT,
    ]
    off = settings.model_copy(update={"compiled_documents": False})
    assert compiled.executors(build_schema(off), off) == {}
    # Where standard execution would refuse the document, its refusal stands.
    for limit in ({"max_query_cost": 100}, {"max_query_depth": 3}, {"max_tokens": 50}):
        tight = settings.model_copy(update=limit)
        assert DOCUMENT not in compiled.executors(build_schema(tight), tight), limit
    tight = settings.model_copy(update={"max_query_depth": 3})
    assert compiled.executors(build_schema(tight), tight) == {}
