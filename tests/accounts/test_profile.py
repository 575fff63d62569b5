"""The customer's own profile and consents: read, changed, validated, timestamped."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.accounts.models import ConsentChange, User
from app.core import clock
from tests.accounts.factories import PROFILE, UPDATE_CONSENTS, UPDATE_PROFILE, sign_up
from tests.factories import make_admin
from tests.support import Api, error_codes


async def test_the_profile_needs_a_signed_in_customer(api: Api) -> None:
    answer = await api.gql(PROFILE)
    assert error_codes(answer) == ["UNAUTHENTICATED"]
    assert answer["data"] is None
    admin = await make_admin()
    assert error_codes(await api.gql(PROFILE, token=api.token_for(admin))) == ["FORBIDDEN"]


async def test_update_profile_changes_only_what_is_given(api: Api) -> None:
    session = await sign_up(api, displayName="Vic Berg", birthDate="1985-02-03", locale="en-US")
    answer = await api.gql(
        UPDATE_PROFILE, {"input": {"displayName": "Victoria Berg"}}, token=session["accessToken"]
    )
    payload = answer["data"]["updateProfile"]
    assert payload["userErrors"] == []
    assert payload["viewer"]["displayName"] == "Victoria Berg"
    assert payload["viewer"]["birthDate"] == "1985-02-03"
    assert payload["viewer"]["locale"] == "en-US"

    cleared = await api.gql(
        UPDATE_PROFILE,
        {"input": {"birthDate": None, "locale": "fr-fr"}},
        token=session["accessToken"],
    )
    viewer = cleared["data"]["updateProfile"]["viewer"]
    assert (viewer["displayName"], viewer["birthDate"], viewer["locale"]) == (
        "Victoria Berg",
        None,
        "fr-FR",
    )
    profile = (await api.gql(PROFILE, token=session["accessToken"]))["data"]["viewer"]
    assert (profile["displayName"], profile["birthDate"], profile["locale"]) == (
        "Victoria Berg",
        None,
        "fr-FR",
    )


async def test_invalid_profile_input_is_refused_and_nothing_changes(api: Api) -> None:
    session = await sign_up(api, displayName="Wen Kato", locale="ja-JP")
    tomorrow = (clock.now() + timedelta(days=1)).date().isoformat()
    answer = await api.gql(
        UPDATE_PROFILE,
        {"input": {"displayName": None, "birthDate": tomorrow, "locale": "x"}},
        token=session["accessToken"],
    )
    payload = answer["data"]["updateProfile"]
    assert payload["viewer"] is None
    assert {tuple(e["field"]): e["code"] for e in payload["userErrors"]} == {
        ("input", "displayName"): "INVALID_INPUT",
        ("input", "birthDate"): "INVALID_INPUT",
        ("input", "locale"): "INVALID_INPUT",
    }
    stored = await User.get(display_name="Wen Kato")
    assert (stored.birth_date, stored.locale) == (None, "ja-JP")


async def test_update_profile_needs_a_customer(api: Api) -> None:
    answer = await api.gql(UPDATE_PROFILE, {"input": {"displayName": "Nobody"}})
    assert error_codes(answer) == ["UNAUTHENTICATED"]


async def test_consents_record_when_they_changed(api: Api) -> None:
    session = await sign_up(api)
    token = session["accessToken"]
    before = (await api.gql(PROFILE, token=token))["data"]["viewer"]["consents"]["updatedAt"]

    clock.advance(timedelta(minutes=5))
    answer = await api.gql(
        UPDATE_CONSENTS, {"input": {"personalization": True, "marketing": True}}, token=token
    )
    payload = answer["data"]["updateConsents"]
    assert payload["userErrors"] == []
    consents = payload["consents"]
    assert (consents["personalization"], consents["marketing"]) == (True, True)
    changed_at = datetime.fromisoformat(consents["updatedAt"])
    assert changed_at - datetime.fromisoformat(before) >= timedelta(minutes=5)

    # The same consents again: nothing changed, so neither does the time.
    clock.advance(timedelta(minutes=1))
    again = await api.gql(
        UPDATE_CONSENTS, {"input": {"personalization": True, "marketing": True}}, token=token
    )
    assert datetime.fromisoformat(again["data"]["updateConsents"]["consents"]["updatedAt"]) == (
        changed_at
    )
    profile = (await api.gql(PROFILE, token=token))["data"]["viewer"]["consents"]
    assert (profile["personalization"], profile["marketing"]) == (True, True)
    history = await ConsentChange.all().order_by("id").values_list("source", "marketing")
    assert history == [("SIGN_UP", False), ("UPDATE", True)]


async def test_update_consents_needs_a_customer(api: Api) -> None:
    answer = await api.gql(UPDATE_CONSENTS, {"input": {"personalization": True, "marketing": True}})
    assert error_codes(answer) == ["UNAUTHENTICATED"]
    assert await ConsentChange.all().count() == 0
