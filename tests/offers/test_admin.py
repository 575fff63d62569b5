"""Admins make, change, pause, resume, end and list offers through GraphQL. Every bad input
is a userError at its field path, all of them together, and nothing is written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from app.catalog.models import Merchant, Store
from app.core import clock
from app.core.ids import encode_id
from app.offers import service
from app.offers.models import Offer as OfferRow
from tests.cashback.factories import purchase_input, record
from tests.catalog.factories import make_merchant, make_product, make_store
from tests.factories import make_customer
from tests.offers.factories import (
    CREATE,
    admin_token,
    create_offer,
    make_offer,
    offer_input,
    viewer_offers,
)
from tests.support import Api, error_codes

ADMIN_FIELDS = """
  id title description terms kind percent bonus { amount currencyCode }
  minimumSpend { amount } category channels merchant { id } startsAt endsAt
  exclusive requiresActivation status budget { amount currencyCode }
  budgetUsed { amount currencyCode } uses perCustomerLimit membersOnly
  audience { tiers minAge maxAge generations birthdayMonth favoriteCategory newCustomers
             lapsedDays channels minRecencyScore minFrequencyScore minMonetaryScore }
  translations { locale title description terms }
"""

PROGRAM_OFFERS = """
query ProgramOffers($first: Int!, $after: String, $filter: OfferFilterInput) {
  programOffers(first: $first, after: $after, filter: $filter) {
    edges { cursor node { FIELDS } }
    pageInfo { hasNextPage endCursor }
  }
}
""".replace("FIELDS", ADMIN_FIELDS)

UPDATE = """
mutation UpdateOffer($id: ID!, $input: UpdateOfferInput!) {
  updateOffer(id: $id, input: $input) {
    offer { FIELDS }
    userErrors { code field message }
  }
}
""".replace("FIELDS", ADMIN_FIELDS)

STATUS = """
mutation Status($id: ID!) {
  MUTATION(id: $id) {
    offer { id status endsAt }
    userErrors { code field message }
  }
}
"""

USD = "USD"


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": USD}


def problems(payload: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def program_offers(api: Api, token: str, **variables: Any) -> dict[str, Any]:
    answer = await api.gql(PROGRAM_OFFERS, {"first": 50, **variables}, token=token)
    assert "errors" not in answer, answer
    return answer["data"]["programOffers"]


async def listed(api: Api, token: str, **variables: Any) -> list[dict[str, Any]]:
    page = await program_offers(api, token, **variables)
    return [edge["node"] for edge in page["edges"]]


async def listed_ids(api: Api, token: str, **variables: Any) -> list[str]:
    return [node["id"] for node in await listed(api, token, **variables)]


async def update(api: Api, token: str, offer_id: str, **changes: Any) -> dict[str, Any]:
    answer = await api.gql(UPDATE, {"id": offer_id, "input": changes}, token=token)
    assert "errors" not in answer, answer
    return answer["data"]["updateOffer"]


async def set_status(api: Api, token: str, mutation: str, offer_id: str) -> dict[str, Any]:
    answer = await api.gql(STATUS.replace("MUTATION", mutation), {"id": offer_id}, token=token)
    assert "errors" not in answer, answer
    return answer["data"][mutation]


async def admin_view(api: Api, token: str, offer_id: str) -> dict[str, Any]:
    [node] = [n for n in await listed(api, token) if n["id"] == offer_id]
    return node


# --- creating ------------------------------------------------------------------------------


async def test_a_boosted_and_a_bonus_offer_are_created(api: Api) -> None:
    token = await admin_token(api)
    store = await make_store()
    merchant_id = encode_id("Merchant", store.merchant_id)
    boosted = await create_offer(
        api,
        token,
        title="  Double cashback  ",
        percent="12.5",
        merchantId=merchant_id,
        channels=["ONLINE"],
        minimumSpend=usd("20.00"),
        requiresActivation=True,
        perCustomerLimit=3,
        budget=usd("500.00"),
    )
    assert boosted["userErrors"] == []
    assert boosted["offer"]["title"] == "Double cashback"
    assert boosted["offer"]["kind"] == "BOOSTED_CASHBACK"
    assert boosted["offer"]["exclusive"] is False
    assert boosted["offer"]["requiresActivation"] is True
    bonus = await create_offer(
        api, token, title="Welcome bonus", kind="BONUS_CREDITS", percent=None, bonus=usd("5.00")
    )
    assert bonus["userErrors"] == []
    assert bonus["offer"] == {
        "id": bonus["offer"]["id"],
        "title": "Welcome bonus",
        "kind": "BONUS_CREDITS",
        "exclusive": False,
        "requiresActivation": False,
    }

    first, second = await listed(api, token)
    assert [first["id"], second["id"]] == [bonus["offer"]["id"], boosted["offer"]["id"]]
    assert first["bonus"] == usd("5.00") and first["percent"] is None
    assert second["percent"] == "12.5" and second["bonus"] is None
    assert second["merchant"] == {"id": merchant_id}
    assert second["channels"] == ["ONLINE"]
    assert second["minimumSpend"] == {"amount": "20.00"}
    assert second["status"] == "ACTIVE"
    assert second["budget"] == usd("500.00")
    assert second["budgetUsed"] == usd("0.00")
    assert second["uses"] == 0
    assert second["perCustomerLimit"] == 3
    assert second["membersOnly"] is False
    assert second["audience"] is None
    assert second["translations"] == []


@pytest.mark.parametrize(
    ("extra", "exclusive"),
    [
        ({}, False),
        ({"membersOnly": False}, False),
        ({"audience": {}}, False),
        ({"membersOnly": True}, True),
        ({"audience": {"tiers": ["gold"]}}, True),
        ({"audience": {"birthdayMonth": True}}, True),
        ({"audience": {"minAge": 18}, "membersOnly": True}, True),
    ],
)
async def test_an_offer_is_exclusive_with_an_audience_or_for_members_only(
    api: Api, extra: dict[str, Any], exclusive: bool
) -> None:
    payload = await create_offer(api, **extra)
    assert payload["userErrors"] == []
    assert payload["offer"]["exclusive"] is exclusive


async def test_an_audience_is_stored_as_given(api: Api) -> None:
    token = await admin_token(api)
    merchant = await make_merchant()
    await make_product(merchant, sku="B1", category="Books")
    audience = {
        "tiers": [" silver", "GOLD", "gold"],
        "minAge": 18,
        "maxAge": 40,
        "generations": ["GEN_Z", "MILLENNIAL"],
        "birthdayMonth": True,
        "favoriteCategory": " books ",
        "lapsedDays": 60,
        "channels": ["IN_STORE", "ONLINE"],
        "minRecencyScore": 1,
        "minFrequencyScore": 2,
        "minMonetaryScore": 5,
    }
    offer_id = await make_offer(api, token, audience=audience)
    assert (await admin_view(api, token, offer_id))["audience"] == {
        "tiers": ["SILVER", "GOLD"],
        "minAge": 18,
        "maxAge": 40,
        "generations": ["GEN_Z", "MILLENNIAL"],
        "birthdayMonth": True,
        "favoriteCategory": "books",
        "newCustomers": False,
        "lapsedDays": 60,
        "channels": ["ONLINE", "IN_STORE"],
        "minRecencyScore": 1,
        "minFrequencyScore": 2,
        "minMonetaryScore": 5,
    }


@pytest.mark.parametrize("channels", [["ONLINE"], ["IN_STORE"]])
async def test_an_audience_of_one_channel_reads_back(api: Api, channels: list[str]) -> None:
    token = await admin_token(api)
    offer_id = await make_offer(api, token, audience={"channels": channels})
    assert (await admin_view(api, token, offer_id))["audience"]["channels"] == channels


@pytest.mark.parametrize(
    ("percent", "shown"), [("100", "100"), ("100.0000", "100"), ("0.0001", "0.0001")]
)
async def test_a_percent_up_to_100_is_accepted(api: Api, percent: str, shown: str) -> None:
    token = await admin_token(api)
    offer_id = await make_offer(api, token, percent=percent)
    assert (await admin_view(api, token, offer_id))["percent"] == shown


# Each bad input: the overrides of offer_input (a function of the test's store, merchant
# and a Store's id given as a merchant's) and the (code, field) of every problem.
Setup = dict[str, str]
BadCase = tuple[Callable[[Setup], dict[str, Any]], list[tuple[str, list[str]]]]


def _window(starts: timedelta, ends: timedelta) -> dict[str, str]:
    now = clock.now()
    return {"startsAt": (now + starts).isoformat(), "endsAt": (now + ends).isoformat()}


INPUT_PROBLEMS: dict[str, BadCase] = {
    "percent 0": (lambda s: {"percent": "0"}, [("INVALID_INPUT", ["input", "percent"])]),
    "percent -0": (lambda s: {"percent": "-0"}, [("INVALID_INPUT", ["input", "percent"])]),
    "percent above 100": (
        lambda s: {"percent": "100.0001"},
        [("INVALID_INPUT", ["input", "percent"])],
    ),
    "percent negative": (lambda s: {"percent": "-5"}, [("INVALID_INPUT", ["input", "percent"])]),
    "percent 5 decimals": (
        lambda s: {"percent": "1.00001"},
        [("INVALID_INPUT", ["input", "percent"])],
    ),
    "boosted without percent": (
        lambda s: {"percent": None},
        [("INVALID_INPUT", ["input", "percent"])],
    ),
    "boosted with a bonus": (
        lambda s: {"bonus": usd("5.00")},
        [("INVALID_INPUT", ["input", "bonus"])],
    ),
    "bonus with a percent": (
        lambda s: {"kind": "BONUS_CREDITS", "bonus": usd("5.00")},
        [("INVALID_INPUT", ["input", "percent"])],
    ),
    "bonus without bonus": (
        lambda s: {"kind": "BONUS_CREDITS", "percent": None},
        [("INVALID_INPUT", ["input", "bonus"])],
    ),
    "bonus zero": (
        lambda s: {"kind": "BONUS_CREDITS", "percent": None, "bonus": usd("0.00")},
        [("INVALID_AMOUNT", ["input", "bonus"])],
    ),
    "bonus negative": (
        lambda s: {"kind": "BONUS_CREDITS", "percent": None, "bonus": usd("-1.00")},
        [("INVALID_AMOUNT", ["input", "bonus"])],
    ),
    "bonus in another currency": (
        lambda s: {
            "kind": "BONUS_CREDITS",
            "percent": None,
            "bonus": {"amount": "1.00", "currencyCode": "EUR"},
        },
        [("CURRENCY_MISMATCH", ["input", "bonus"])],
    ),
    "budget zero": (lambda s: {"budget": usd("0")}, [("INVALID_AMOUNT", ["input", "budget"])]),
    "budget negative": (
        lambda s: {"budget": usd("-10.00")},
        [("INVALID_AMOUNT", ["input", "budget"])],
    ),
    "budget too precise": (
        lambda s: {"budget": usd("10.001")},
        [("INVALID_AMOUNT", ["input", "budget"])],
    ),
    "budget too large": (
        lambda s: {"budget": usd("1" + "0" * 20)},
        [("INVALID_AMOUNT", ["input", "budget"])],
    ),
    "minimum spend negative": (
        lambda s: {"minimumSpend": usd("-1.00")},
        [("INVALID_AMOUNT", ["input", "minimumSpend"])],
    ),
    "ends before it starts": (
        lambda s: _window(timedelta(days=2), timedelta(days=1)),
        [("INVALID_INPUT", ["input", "endsAt"])],
    ),
    "ends as it starts": (
        lambda s: _window(timedelta(days=2), timedelta(days=2)),
        [("INVALID_INPUT", ["input", "endsAt"])],
    ),
    "ended already": (
        lambda s: _window(timedelta(days=-5), timedelta(days=-1)),
        [("INVALID_INPUT", ["input", "endsAt"])],
    ),
    "unknown merchant": (
        lambda s: {"merchantId": encode_id("Merchant", 987654)},
        [("UNKNOWN_MERCHANT", ["input", "merchantId"])],
    ),
    "a store's id as merchant": (
        lambda s: {"merchantId": s["store"]},
        [("UNKNOWN_MERCHANT", ["input", "merchantId"])],
    ),
    "not an id as merchant": (
        lambda s: {"merchantId": "not-an-id"},
        [("UNKNOWN_MERCHANT", ["input", "merchantId"])],
    ),
    "a merchant id with no number": (
        lambda s: {"merchantId": encode_id("Merchant", "x")},
        [("UNKNOWN_MERCHANT", ["input", "merchantId"])],
    ),
    "unknown category": (
        lambda s: {"category": "Spaceships"},
        [("UNKNOWN_CATEGORY", ["input", "category"])],
    ),
    "category with a wildcard": (
        lambda s: {"category": "%"},
        [("UNKNOWN_CATEGORY", ["input", "category"])],
    ),
    "empty title": (lambda s: {"title": "  "}, [("INVALID_INPUT", ["input", "title"])]),
    "per-customer limit 0": (
        lambda s: {"perCustomerLimit": 0},
        [("INVALID_INPUT", ["input", "perCustomerLimit"])],
    ),
    "minAge above maxAge": (
        lambda s: {"audience": {"minAge": 40, "maxAge": 30}},
        [("EMPTY_AUDIENCE", ["input", "audience"])],
    ),
    "new customers lapsed": (
        lambda s: {"audience": {"newCustomers": True, "lapsedDays": 30}},
        [("EMPTY_AUDIENCE", ["input", "audience"])],
    ),
    "new customers with a score": (
        lambda s: {"audience": {"newCustomers": True, "minFrequencyScore": 2}},
        [("EMPTY_AUDIENCE", ["input", "audience"])],
    ),
    "generation outside the ages": (
        lambda s: {"audience": {"generations": ["BABY_BOOMER"], "minAge": 18, "maxAge": 25}},
        [("EMPTY_AUDIENCE", ["input", "audience"])],
    ),
    "generation below minAge": (
        lambda s: {"audience": {"generations": ["GEN_ALPHA"], "minAge": 30}},
        [("EMPTY_AUDIENCE", ["input", "audience"])],
    ),
    "unknown tier": (
        lambda s: {"audience": {"tiers": ["PLATINUM"]}},
        [("INVALID_INPUT", ["input", "audience", "tiers"])],
    ),
    "no tier": (
        lambda s: {"audience": {"tiers": []}},
        [("INVALID_INPUT", ["input", "audience", "tiers"])],
    ),
    "no generation": (
        lambda s: {"audience": {"generations": []}},
        [("INVALID_INPUT", ["input", "audience", "generations"])],
    ),
    "no channel": (
        lambda s: {"audience": {"channels": []}},
        [("INVALID_INPUT", ["input", "audience", "channels"])],
    ),
    "recency score 0": (
        lambda s: {"audience": {"minRecencyScore": 0}},
        [("INVALID_INPUT", ["input", "audience", "minRecencyScore"])],
    ),
    "frequency score 6": (
        lambda s: {"audience": {"minFrequencyScore": 6}},
        [("INVALID_INPUT", ["input", "audience", "minFrequencyScore"])],
    ),
    "monetary score -1": (
        lambda s: {"audience": {"minMonetaryScore": -1}},
        [("INVALID_INPUT", ["input", "audience", "minMonetaryScore"])],
    ),
    "lapsed 0 days": (
        lambda s: {"audience": {"lapsedDays": 0}},
        [("INVALID_INPUT", ["input", "audience", "lapsedDays"])],
    ),
    "negative age": (
        lambda s: {"audience": {"minAge": -1}},
        [("INVALID_INPUT", ["input", "audience", "minAge"])],
    ),
    "age 131": (
        lambda s: {"audience": {"maxAge": 131}},
        [("INVALID_INPUT", ["input", "audience", "maxAge"])],
    ),
    "unknown favourite category": (
        lambda s: {"audience": {"favoriteCategory": "Spaceships"}},
        [("UNKNOWN_CATEGORY", ["input", "audience", "favoriteCategory"])],
    ),
}


async def _setup() -> tuple[Setup, Merchant, Store]:
    store = await make_store()
    merchant = await Merchant.get(id=store.merchant_id)
    await make_product(merchant, sku="G1", category="Groceries")
    return {"store": encode_id("Store", store.id)}, merchant, store


@pytest.mark.parametrize("case", list(INPUT_PROBLEMS), ids=list(INPUT_PROBLEMS))
async def test_bad_input_is_refused_at_its_field_and_nothing_is_written(
    api: Api, case: str
) -> None:
    token = await admin_token(api)
    setup, _, _ = await _setup()
    overrides, expected = INPUT_PROBLEMS[case]
    payload = await create_offer(api, token, **overrides(setup))
    assert payload["offer"] is None
    assert problems(payload) == expected
    assert all(e["message"] for e in payload["userErrors"])
    assert await listed(api, token) == []
    assert await OfferRow.all().count() == 0


async def test_every_problem_is_reported_at_once(api: Api) -> None:
    token = await admin_token(api)
    setup, _, _ = await _setup()
    payload = await create_offer(
        api,
        token,
        title="",
        percent="0",
        merchantId=setup["store"],
        category="Spaceships",
        budget=usd("-1"),
        perCustomerLimit=0,
        audience={"tiers": ["PLATINUM"], "minRecencyScore": 9, "lapsedDays": 0},
        translations=[{"locale": "??", "title": "x"}, {"locale": "fr"}],
        **_window(timedelta(days=3), timedelta(days=1)),
    )
    assert payload["offer"] is None
    assert sorted(problems(payload)) == sorted(
        [
            ("INVALID_INPUT", ["input", "title"]),
            ("INVALID_INPUT", ["input", "percent"]),
            ("UNKNOWN_MERCHANT", ["input", "merchantId"]),
            ("UNKNOWN_CATEGORY", ["input", "category"]),
            ("INVALID_INPUT", ["input", "endsAt"]),
            ("INVALID_INPUT", ["input", "perCustomerLimit"]),
            ("INVALID_AMOUNT", ["input", "budget"]),
            ("INVALID_INPUT", ["input", "audience", "tiers"]),
            ("INVALID_INPUT", ["input", "audience", "lapsedDays"]),
            ("INVALID_INPUT", ["input", "audience", "minRecencyScore"]),
            ("INVALID_INPUT", ["input", "translations", "0", "locale"]),
            ("INVALID_INPUT", ["input", "translations", "1"]),
        ]
    )
    assert await listed(api, token) == []


async def test_a_category_and_merchant_that_exist_are_accepted(api: Api) -> None:
    token = await admin_token(api)
    _, merchant, _ = await _setup()
    offer_id = await make_offer(
        api, token, merchantId=encode_id("Merchant", merchant.id), category="  groceries "
    )
    node = await admin_view(api, token, offer_id)
    assert node["category"] == "groceries"
    assert node["merchant"] == {"id": encode_id("Merchant", merchant.id)}


# --- translations ----------------------------------------------------------------------------


async def test_translations_are_stored_by_locale(api: Api) -> None:
    token = await admin_token(api)
    offer_id = await make_offer(
        api,
        token,
        translations=[
            {"locale": "pt_br", "title": " Mais cashback "},
            {"locale": "fr", "description": "Plus de cashback.", "terms": "Conditions."},
        ],
    )
    assert (await admin_view(api, token, offer_id))["translations"] == [
        {"locale": "fr", "title": None, "description": "Plus de cashback.", "terms": "Conditions."},
        {"locale": "pt-BR", "title": "Mais cashback", "description": None, "terms": None},
    ]


TRANSLATION_PROBLEMS: dict[str, tuple[list[dict[str, Any]], list[str]]] = {
    "bad locale": ([{"locale": "not a tag!", "title": "T"}], ["0", "locale"]),
    "empty locale": ([{"locale": " ", "title": "T"}], ["0", "locale"]),
    "same locale twice": (
        [{"locale": "fr", "title": "Un"}, {"locale": "FR", "title": "Deux"}],
        ["1", "locale"],
    ),
    "same locale written differently": (
        [{"locale": "pt-BR", "title": "Um"}, {"locale": "pt_br", "title": "Dois"}],
        ["1", "locale"],
    ),
    "no text": ([{"locale": "de"}], ["0"]),
    "only empty texts": ([{"locale": "de", "title": " "}], ["0", "title"]),
    "title too long": ([{"locale": "de", "title": "x" * 201}], ["0", "title"]),
}


@pytest.mark.parametrize("case", list(TRANSLATION_PROBLEMS), ids=list(TRANSLATION_PROBLEMS))
async def test_a_bad_translation_is_refused_at_its_index(api: Api, case: str) -> None:
    token = await admin_token(api)
    translations, at = TRANSLATION_PROBLEMS[case]
    payload = await create_offer(api, token, translations=translations)
    assert payload["offer"] is None
    assert ("INVALID_INPUT", ["input", "translations", *at]) in problems(payload)
    assert all(e["field"][:2] == ["input", "translations"] for e in payload["userErrors"])
    assert await listed(api, token) == []


async def test_too_many_translations_are_refused(api: Api) -> None:
    token = await admin_token(api)
    tags = [f"{a}{b}" for a in "abcdefg" for b in "abcde"][:31]
    payload = await create_offer(
        api, token, translations=[{"locale": tag, "title": "T"} for tag in tags]
    )
    assert problems(payload) == [("INVALID_INPUT", ["input", "translations"])]


# --- updating --------------------------------------------------------------------------------


async def test_update_changes_only_the_fields_given(api: Api) -> None:
    token = await admin_token(api)
    offer_id = await make_offer(
        api,
        token,
        budget=usd("100.00"),
        perCustomerLimit=2,
        minimumSpend=usd("10.00"),
        translations=[{"locale": "fr", "title": "Offre"}],
    )
    before = await admin_view(api, token, offer_id)
    new_end = (clock.now() + timedelta(days=60)).replace(microsecond=0)
    payload = await update(
        api,
        token,
        offer_id,
        title=" New title ",
        description="New description.",
        terms="New terms.",
        endsAt=new_end.isoformat(),
        budget=usd("250.00"),
        perCustomerLimit=5,
    )
    assert payload["userErrors"] == []
    after = payload["offer"]
    assert after["title"] == "New title"
    assert after["description"] == "New description."
    assert after["terms"] == "New terms."
    assert datetime.fromisoformat(after["endsAt"]) == new_end
    assert after["budget"] == usd("250.00")
    assert after["perCustomerLimit"] == 5
    unchanged = {"minimumSpend", "startsAt", "percent", "kind", "translations", "audience"}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert await admin_view(api, token, offer_id) == after

    # Nothing given: nothing changes. Null removes what can be removed.
    assert (await update(api, token, offer_id))["offer"] == after
    removed = (
        await update(api, token, offer_id, budget=None, perCustomerLimit=None, minimumSpend=None)
    )["offer"]
    assert removed["budget"] is None
    assert removed["perCustomerLimit"] is None
    assert removed["minimumSpend"] is None
    assert removed["title"] == "New title"
    assert removed["translations"] == after["translations"]


async def test_update_sets_and_removes_the_audience(api: Api) -> None:
    token = await admin_token(api)
    offer_id = await make_offer(api, token)
    payload = await update(api, token, offer_id, audience={"tiers": ["GOLD"], "minAge": 30})
    assert payload["userErrors"] == []
    assert payload["offer"]["exclusive"] is True
    assert payload["offer"]["audience"]["tiers"] == ["GOLD"]
    assert payload["offer"]["audience"]["minAge"] == 30

    kept = (await update(api, token, offer_id, title="Still targeted"))["offer"]
    assert kept["audience"] == payload["offer"]["audience"]
    assert kept["exclusive"] is True

    opened = (await update(api, token, offer_id, audience=None))["offer"]
    assert opened["audience"] is None
    assert opened["exclusive"] is False

    members = await make_offer(api, token, membersOnly=True, audience={"birthdayMonth": True})
    still = (await update(api, token, members, audience=None))["offer"]
    assert still["audience"] is None
    assert still["membersOnly"] is True
    assert still["exclusive"] is True
    assert (await update(api, token, members, membersOnly=False))["offer"]["exclusive"] is False


async def test_update_translations_replace_them(api: Api) -> None:
    token = await admin_token(api)
    offer_id = await make_offer(api, token, translations=[{"locale": "fr", "title": "Offre"}])
    payload = await update(api, token, offer_id, translations=[{"locale": "de", "title": "Ang"}])
    assert [t["locale"] for t in payload["offer"]["translations"]] == ["de"]
    assert (await update(api, token, offer_id, translations=[]))["offer"]["translations"] == []


UPDATE_PROBLEMS: dict[str, tuple[dict[str, Any], list[tuple[str, list[str]]]]] = {
    "empty title": ({"title": " "}, [("INVALID_INPUT", ["input", "title"])]),
    "end in the past": (
        {"endsAt": "2001-01-01T00:00:00Z"},
        [("INVALID_INPUT", ["input", "endsAt"])],
    ),
    "budget zero": ({"budget": usd("0.00")}, [("INVALID_AMOUNT", ["input", "budget"])]),
    "limit 0": ({"perCustomerLimit": 0}, [("INVALID_INPUT", ["input", "perCustomerLimit"])]),
    "empty audience": (
        {"audience": {"minAge": 50, "maxAge": 20}},
        [("EMPTY_AUDIENCE", ["input", "audience"])],
    ),
    "unknown tier": (
        {"audience": {"tiers": ["IRON"]}},
        [("INVALID_INPUT", ["input", "audience", "tiers"])],
    ),
    "bad translation": (
        {"translations": [{"locale": "fr"}]},
        [("INVALID_INPUT", ["input", "translations", "0"])],
    ),
    "several": (
        {"title": "", "budget": usd("-1"), "audience": {"lapsedDays": 0}},
        [
            ("INVALID_INPUT", ["input", "title"]),
            ("INVALID_AMOUNT", ["input", "budget"]),
            ("INVALID_INPUT", ["input", "audience", "lapsedDays"]),
        ],
    ),
}


@pytest.mark.parametrize("case", list(UPDATE_PROBLEMS), ids=list(UPDATE_PROBLEMS))
async def test_a_bad_update_changes_nothing(api: Api, case: str) -> None:
    token = await admin_token(api)
    offer_id = await make_offer(api, token, budget=usd("100.00"))
    before = await admin_view(api, token, offer_id)
    changes, expected = UPDATE_PROBLEMS[case]
    payload = await update(api, token, offer_id, **changes)
    assert payload["offer"] is None
    assert sorted(problems(payload)) == sorted(expected)
    assert await admin_view(api, token, offer_id) == before


@pytest.mark.parametrize(
    "offer_id",
    [encode_id("Offer", 987654), encode_id("Merchant", 1), "nonsense", encode_id("Offer", "-1")],
)
async def test_an_unknown_offer_is_not_found(api: Api, offer_id: str) -> None:
    token = await admin_token(api)
    await make_offer(api, token)
    payload = await update(api, token, offer_id, title="Renamed")
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("NOT_FOUND", ["id"])]
    for mutation in ("pauseOffer", "resumeOffer", "endOffer"):
        payload = await set_status(api, token, mutation, offer_id)
        assert problems(payload) == [("NOT_FOUND", ["id"])]
    assert "Renamed" not in [n["title"] for n in await listed(api, token)]


async def test_the_budget_cannot_go_below_what_was_used(api: Api) -> None:
    token = await admin_token(api)
    store = await make_store(percent="2")
    customer = await make_customer()
    offer_id = await make_offer(api, token, budget=usd("100.00"))
    done = await record(api, store, purchase_input(store, customer, "50.00"))
    assert done["purchase"]["cashback"]["amount"] == "5.00"
    used = (await admin_view(api, token, offer_id))["budgetUsed"]
    assert used["amount"] != "0.00"
    assert (await admin_view(api, token, offer_id))["uses"] == 1

    payload = await update(api, token, offer_id, budget=usd("0.01"))
    assert problems(payload) == [("INVALID_AMOUNT", ["input", "budget"])]
    assert (await admin_view(api, token, offer_id))["budget"] == usd("100.00")

    payload = await update(api, token, offer_id, budget=used)
    assert payload["userErrors"] == []
    assert payload["offer"]["budget"] == used


async def test_a_budget_lowered_while_a_purchase_used_it_is_refused(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The update read the offer before a purchase took from its budget."""
    token = await admin_token(api)
    offer_id = await make_offer(api, token, budget=usd("100.00"))
    [row] = await OfferRow.all()
    stale = await OfferRow.get(id=row.id)
    await OfferRow.filter(id=row.id).update(budget_used_minor=500, uses_count=1)

    async def read_before_the_purchase(pk: int) -> OfferRow:
        return stale

    monkeypatch.setattr(service, "get_offer", read_before_the_purchase)
    payload = await update(api, token, offer_id, budget=usd("1.00"), title="Changed")
    assert problems(payload) == [("INVALID_AMOUNT", ["input", "budget"])]
    monkeypatch.undo()
    node = await admin_view(api, token, offer_id)
    assert node["budget"] == usd("100.00")
    assert node["title"] != "Changed"


# --- pausing, resuming, ending ---------------------------------------------------------------


async def test_pause_resume_and_end_change_the_status(api: Api) -> None:
    token = await admin_token(api)
    offer_id = await make_offer(api, token)
    customer = await make_customer()
    paused = await set_status(api, token, "pauseOffer", offer_id)
    assert paused["userErrors"] == []
    assert paused["offer"]["status"] == "PAUSED"
    assert await viewer_offers(api, customer) == []
    assert (await set_status(api, token, "pauseOffer", offer_id))["offer"]["status"] == "PAUSED"

    resumed = await set_status(api, token, "resumeOffer", offer_id)
    assert resumed["offer"]["status"] == "ACTIVE"
    assert [o["id"] for o in await viewer_offers(api, customer)] == [offer_id]

    before_end = clock.now()
    ended = await set_status(api, token, "endOffer", offer_id)
    assert ended["userErrors"] == []
    assert ended["offer"]["status"] == "ENDED"
    ends_at = datetime.fromisoformat(ended["offer"]["endsAt"])
    assert before_end - timedelta(seconds=1) <= ends_at <= clock.now() + timedelta(seconds=1)
    assert await viewer_offers(api, customer) == []

    for mutation in ("resumeOffer", "pauseOffer"):
        refused = await set_status(api, token, mutation, offer_id)
        assert refused["offer"] is None
        assert problems(refused) == [("INVALID_INPUT", ["id"])]
    again = await set_status(api, token, "endOffer", offer_id)
    assert again["userErrors"] == []
    assert again["offer"]["endsAt"] == ended["offer"]["endsAt"]
    assert (await admin_view(api, token, offer_id))["status"] == "ENDED"


async def test_ending_an_offer_that_has_not_started_ends_it_at_its_start(api: Api) -> None:
    token = await admin_token(api)
    offer_id = await make_offer(api, token, **_window(timedelta(days=2), timedelta(days=9)))
    starts_at = (await admin_view(api, token, offer_id))["startsAt"]
    ended = await set_status(api, token, "endOffer", offer_id)
    assert ended["offer"]["status"] == "ENDED"
    assert datetime.fromisoformat(ended["offer"]["endsAt"]) == datetime.fromisoformat(starts_at)


async def test_an_ended_offer_cannot_be_reopened_by_update(api: Api) -> None:
    token = await admin_token(api)
    offer_id = await make_offer(api, token)
    await set_status(api, token, "endOffer", offer_id)
    later = (clock.now() + timedelta(days=10)).isoformat()
    payload = await update(api, token, offer_id, endsAt=later)
    assert problems(payload) == [("INVALID_INPUT", ["input", "endsAt"])]
    assert (await admin_view(api, token, offer_id))["status"] == "ENDED"


# --- listing ---------------------------------------------------------------------------------


async def test_program_offers_are_newest_first_and_paged(api: Api) -> None:
    token = await admin_token(api)
    made = [await make_offer(api, token) for _ in range(5)]
    newest_first = list(reversed(made))
    assert await listed_ids(api, token) == newest_first

    seen: list[str] = []
    after = None
    for _ in range(3):
        page = await program_offers(api, token, first=2, after=after)
        seen += [edge["node"]["id"] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert seen == newest_first
    assert page["pageInfo"]["hasNextPage"] is False


async def test_program_offers_filters(api: Api) -> None:
    token = await admin_token(api)
    merchant = await make_merchant()
    await make_product(merchant, sku="B1", category="Books")
    merchant_id = encode_id("Merchant", merchant.id)
    at_merchant = await make_offer(api, token, merchantId=merchant_id)
    books = await make_offer(api, token, category="Books")
    bonus = await make_offer(api, token, kind="BONUS_CREDITS", percent=None, bonus=usd("2.00"))
    paused = await make_offer(api, token)
    await set_status(api, token, "pauseOffer", paused)
    ended = await make_offer(api, token)
    await set_status(api, token, "endOffer", ended)
    later = await make_offer(api, token, **_window(timedelta(days=3), timedelta(days=9)))

    async def ids(**filter: Any) -> set[str]:
        return set(await listed_ids(api, token, filter=filter))

    assert await ids(status="PAUSED") == {paused}
    assert await ids(status="ENDED") == {ended}
    assert await ids(status="ACTIVE") == {at_merchant, books, bonus, later}
    assert await ids(kind="BONUS_CREDITS") == {bonus}
    assert await ids(kind="BOOSTED_CASHBACK") == {at_merchant, books, paused, ended, later}
    assert await ids(merchantId=merchant_id) == {at_merchant}
    assert await ids(category=" BOOKS ") == {books}
    assert await ids(live=True) == {at_merchant, books, bonus}
    assert await ids(live=False) == {paused, ended, later}
    assert await ids(live=True, kind="BOOSTED_CASHBACK", category="books") == {books}
    assert await ids(merchantId=encode_id("Merchant", 987654)) == set()
    assert await ids(category="Spaceships") == set()


# --- who may ---------------------------------------------------------------------------------


async def _token_of(api: Api, who: str) -> str | None:
    if who == "customer":
        return api.token_for(await make_customer())
    if who == "partner":
        return api.partner_token(["offers:read", "purchases:write", "purchases:read"])
    return None


CALLS: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "createOffer": (CREATE, lambda offer_id: {"input": offer_input()}),
    "updateOffer": (UPDATE, lambda offer_id: {"id": offer_id, "input": {"title": "Mine"}}),
    "pauseOffer": (STATUS.replace("MUTATION", "pauseOffer"), lambda offer_id: {"id": offer_id}),
    "resumeOffer": (STATUS.replace("MUTATION", "resumeOffer"), lambda offer_id: {"id": offer_id}),
    "endOffer": (STATUS.replace("MUTATION", "endOffer"), lambda offer_id: {"id": offer_id}),
    "programOffers": (PROGRAM_OFFERS, lambda offer_id: {"first": 10}),
}


@pytest.mark.parametrize(
    ("who", "code"),
    [("customer", "FORBIDDEN"), ("partner", "FORBIDDEN"), ("anonymous", "UNAUTHENTICATED")],
)
@pytest.mark.parametrize("call", list(CALLS))
async def test_only_admins_manage_offers(api: Api, call: str, who: str, code: str) -> None:
    admin = await admin_token(api)
    offer_id = await make_offer(api, admin, title="As made")
    before = await listed(api, admin)
    query, variables = CALLS[call]
    answer = await api.gql(query, variables(offer_id), token=await _token_of(api, who))
    assert error_codes(answer) == [code]
    assert answer["data"] is None
    assert await listed(api, admin) == before


@pytest.mark.parametrize(
    "field",
    [
        "status",
        "budget { amount }",
        "budgetUsed { amount }",
        "uses",
        "perCustomerLimit",
        "membersOnly",
        "audience { tiers }",
        "translations { locale }",
    ],
)
async def test_admin_fields_are_forbidden_to_a_customer(api: Api, field: str) -> None:
    await make_offer(api, budget=usd("10.00"))
    customer = await make_customer()
    query = "query { viewer { offers(first: 5) { edges { node { id FIELD } } } } }"
    response = await api.post(query.replace("FIELD", field), token=api.token_for(customer))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert error_codes(answer) == ["FORBIDDEN"]


@pytest.mark.parametrize(
    ("who", "code"), [("partner", "FORBIDDEN"), ("anonymous", "UNAUTHENTICATED")]
)
async def test_admin_fields_are_refused_on_the_public_offers(api: Api, who: str, code: str) -> None:
    await make_offer(api, budget=usd("10.00"))
    query = "query { offers(first: 5) { edges { node { id status budget { amount } } } } }"
    response = await api.post(query, token=await _token_of(api, who))
    assert response.status_code == 200, response.text
    assert set(error_codes(response.json())) == {code}
