"""Sessions: sign up, sign in, refresh (rotation), reuse detection, sign-out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.accounts import service
from app.accounts.models import RefreshToken, Session, User
from app.core import clock
from tests.accounts.factories import (
    PASSWORD,
    REFRESH,
    SIGN_OUT,
    UPDATE_CONSENTS,
    refresh,
    sign_in,
    sign_up,
)
from tests.support import Api, error_codes

ME = "query Me { viewer { email } }"
CHANGE_PASSWORD = """
mutation ChangePassword($input: ChangePasswordInput!) {
  changePassword(input: $input) {
    session { accessToken refreshToken }
    userErrors { code field message }
  }
}
"""
CONSENT_ON = {"input": {"personalization": True, "marketing": False}}


async def consents_with(api: Api, token: str) -> dict:
    return await api.gql(UPDATE_CONSENTS, CONSENT_ON, token=token)


async def test_the_whole_path_from_sign_up_to_sign_out(api: Api) -> None:
    # Sign up: signed in at once.
    first = await sign_up(api, email="Ana@Example.com")
    assert first["tokenType"] == "Bearer"
    me = await api.gql(ME, token=first["accessToken"])
    assert me["data"]["viewer"]["email"] == "ana@example.com"
    expires = datetime.fromisoformat(first["accessTokenExpiresAt"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)

    # Sign in on another device, with the email in another case.
    signed_in = (await sign_in(api, "ANA@example.com"))["data"]["signIn"]
    assert signed_in["userErrors"] == []
    second = signed_in["session"]
    assert second["refreshToken"] != first["refreshToken"]

    # Refresh: new tokens, and the old refresh token stops working.
    renewed = await refresh(api, second["refreshToken"])
    assert renewed["userErrors"] == []
    assert renewed["session"]["refreshToken"] != second["refreshToken"]
    me = await api.gql(ME, token=renewed["session"]["accessToken"])
    assert me["data"]["viewer"]["email"] == "ana@example.com"

    # The rotated token presented again: reuse, answered with a userError, not a session,
    # and the whole family ends (the token it was exchanged for stops working too).
    reused = await refresh(api, second["refreshToken"])
    assert reused["session"] is None
    assert [e["code"] for e in reused["userErrors"]] == ["REFRESH_TOKEN_REUSED"]
    assert reused["userErrors"][0]["field"] == ["refreshToken"]
    after_reuse = await refresh(api, renewed["session"]["refreshToken"])
    assert [e["code"] for e in after_reuse["userErrors"]] == ["INVALID_REFRESH_TOKEN"]
    ended = await consents_with(api, renewed["session"]["accessToken"])
    assert error_codes(ended) == ["UNAUTHENTICATED"]

    # The first device was not part of that family: it still works, until it signs out.
    assert (await consents_with(api, first["accessToken"]))["data"]["updateConsents"][
        "userErrors"
    ] == []
    out = await api.gql(SIGN_OUT, {"refreshToken": first["refreshToken"]})
    assert out["data"]["signOut"]["userErrors"] == []
    assert error_codes(await consents_with(api, first["accessToken"])) == ["UNAUTHENTICATED"]
    gone = await refresh(api, first["refreshToken"])
    assert [e["code"] for e in gone["userErrors"]] == ["INVALID_REFRESH_TOKEN"]


async def test_sign_out_ends_only_that_session(api: Api) -> None:
    phone = await sign_up(api, email="bo@example.com")
    tablet = (await sign_in(api, "bo@example.com"))["data"]["signIn"]["session"]

    await api.gql(SIGN_OUT, {"refreshToken": phone["refreshToken"]})

    assert error_codes(await consents_with(api, phone["accessToken"])) == ["UNAUTHENTICATED"]
    still = await consents_with(api, tablet["accessToken"])
    assert still["data"]["updateConsents"]["userErrors"] == []
    assert (await refresh(api, tablet["refreshToken"]))["session"] is not None


async def test_a_signed_out_access_token_reads_nothing_anywhere(api: Api) -> None:
    # Every guarded field checks the session, not only the accounts feature's own.
    session = await sign_up(api, email="eve@example.com")
    balance = "query B { viewer { balance { available { amount } } } }"
    assert (await api.gql(ME, token=session["accessToken"]))["data"]["viewer"] is not None
    await api.gql(SIGN_OUT, {"refreshToken": session["refreshToken"]})
    assert error_codes(await api.gql(ME, token=session["accessToken"])) == ["UNAUTHENTICATED"]
    assert error_codes(await api.gql(balance, token=session["accessToken"])) == ["UNAUTHENTICATED"]


async def test_sign_out_everywhere_ends_every_session_of_the_user_only(api: Api) -> None:
    phone = await sign_up(api, email="cy@example.com")
    tablet = (await sign_in(api, "cy@example.com"))["data"]["signIn"]["session"]
    someone_else = await sign_up(api, email="di@example.com")

    answer = await api.gql(SIGN_OUT, {"refreshToken": phone["refreshToken"], "everywhere": True})
    assert answer["data"]["signOut"]["userErrors"] == []

    for session in (phone, tablet):
        assert error_codes(await consents_with(api, session["accessToken"])) == ["UNAUTHENTICATED"]
        assert (await refresh(api, session["refreshToken"]))["session"] is None
    other = await consents_with(api, someone_else["accessToken"])
    assert other["data"]["updateConsents"]["userErrors"] == []


async def test_an_unknown_refresh_token_is_refused_everywhere(api: Api) -> None:
    refused = await refresh(api, "rt_not-a-token")
    assert refused["session"] is None
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_REFRESH_TOKEN"]
    out = await api.gql(SIGN_OUT, {"refreshToken": "rt_not-a-token"})
    assert [e["code"] for e in out["data"]["signOut"]["userErrors"]] == ["INVALID_REFRESH_TOKEN"]


async def test_a_refresh_token_expires_after_thirty_days(api: Api) -> None:
    session = await sign_up(api)
    clock.advance(timedelta(days=30, seconds=1))
    expired = await refresh(api, session["refreshToken"])
    assert expired["session"] is None
    assert [e["code"] for e in expired["userErrors"]] == ["INVALID_REFRESH_TOKEN"]


async def test_refreshing_keeps_a_used_session_alive_past_thirty_days(api: Api) -> None:
    session = await sign_up(api)
    clock.advance(timedelta(days=20))
    session = (await refresh(api, session["refreshToken"]))["session"]
    clock.advance(timedelta(days=20))
    renewed = await refresh(api, session["refreshToken"])
    assert renewed["userErrors"] == []


async def test_an_access_token_lasts_fifteen_minutes(api: Api) -> None:
    session = await sign_up(api)
    clock.advance(timedelta(minutes=14, seconds=50))
    assert "errors" not in await api.gql(ME, token=session["accessToken"])
    clock.advance(timedelta(seconds=11))
    assert error_codes(await api.gql(ME, token=session["accessToken"])) == ["UNAUTHENTICATED"]


async def test_refresh_tokens_are_stored_only_hashed(api: Api) -> None:
    session = await sign_up(api)
    stored = await RefreshToken.all().values_list("token_hash", flat=True)
    assert len(stored) == 1
    assert session["refreshToken"] not in stored
    assert all(len(h) == 64 for h in stored)


async def test_a_password_change_ends_every_other_session(api: Api) -> None:
    phone = await sign_up(api, email="ed@example.com")
    tablet = (await sign_in(api, "ed@example.com"))["data"]["signIn"]["session"]
    new_password = "amber-lighthouse-quartz"

    wrong = await api.gql(
        CHANGE_PASSWORD,
        {"input": {"currentPassword": "not the password", "newPassword": new_password}},
        token=phone["accessToken"],
    )
    errors = wrong["data"]["changePassword"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [
        ("INVALID_PASSWORD", ["input", "currentPassword"])
    ]
    assert (await consents_with(api, tablet["accessToken"]))["data"] is not None

    changed = await api.gql(
        CHANGE_PASSWORD,
        {"input": {"currentPassword": PASSWORD, "newPassword": new_password}},
        token=phone["accessToken"],
    )
    fresh = changed["data"]["changePassword"]["session"]
    assert fresh is not None
    for old in (phone, tablet):
        assert error_codes(await consents_with(api, old["accessToken"])) == ["UNAUTHENTICATED"]
        assert (await refresh(api, old["refreshToken"]))["session"] is None
    assert (await consents_with(api, fresh["accessToken"]))["data"]["updateConsents"][
        "userErrors"
    ] == []
    refused = (await sign_in(api, "ed@example.com", PASSWORD))["data"]["signIn"]
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_CREDENTIALS"]
    assert (await sign_in(api, "ed@example.com", new_password))["data"]["signIn"]["session"]


async def test_a_weak_new_password_is_refused_and_nothing_changes(api: Api) -> None:
    session = await sign_up(api, email="fa@example.com")
    answer = await api.gql(
        CHANGE_PASSWORD,
        {"input": {"currentPassword": PASSWORD, "newPassword": "password123"}},
        token=session["accessToken"],
    )
    errors = answer["data"]["changePassword"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [
        ("WEAK_PASSWORD", ["input", "newPassword"])
    ]
    assert (await consents_with(api, session["accessToken"]))["data"]["updateConsents"][
        "userErrors"
    ] == []
    assert (await sign_in(api, "fa@example.com"))["data"]["signIn"]["session"]


async def test_a_deleted_account_can_no_longer_refresh(api: Api) -> None:
    session = await sign_up(api, email="gi@example.com")
    await User.filter(email="gi@example.com").update(deleted_at=clock.now())
    refused = await refresh(api, session["refreshToken"])
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_REFRESH_TOKEN"]
    assert error_codes(await consents_with(api, session["accessToken"])) == ["UNAUTHENTICATED"]


async def test_two_parallel_refreshes_of_one_token_never_both_succeed(
    api: Api, postgres_only
) -> None:
    session = await sign_up(api)
    answers = await asyncio.gather(
        *(api.gql(REFRESH, {"refreshToken": session["refreshToken"]}) for _ in range(2))
    )
    payloads = [a["data"]["refreshSession"] for a in answers]
    winners = [p for p in payloads if p["session"] is not None]
    assert len(winners) <= 1
    losers = [p for p in payloads if p["session"] is None]
    assert all([e["code"] for e in p["userErrors"]] == ["REFRESH_TOKEN_REUSED"] for p in losers)
    # Exactly one exchange was recorded: the token was used once.
    assert await RefreshToken.filter(used_at__not_isnull=True).count() == 1


@pytest.mark.parametrize("racers", [8])
async def test_many_parallel_refreshes_give_at_most_one_session(
    api: Api, postgres_only, racers: int
) -> None:
    session = await sign_up(api)
    answers = await asyncio.gather(
        *(api.gql(REFRESH, {"refreshToken": session["refreshToken"]}) for _ in range(racers))
    )
    sessions = [a["data"]["refreshSession"]["session"] for a in answers]
    assert sum(s is not None for s in sessions) <= 1
    # Someone presented a used token, so the family ended: nothing issued works.
    assert await Session.filter(ended_at=None).count() == 0
    for issued in filter(None, sessions):
        assert (await refresh(api, issued["refreshToken"]))["session"] is None


async def test_wrong_current_passwords_are_throttled(api: Api) -> None:
    session = await sign_up(api)
    attempt = {"input": {"currentPassword": "a-wrong-guess-0", "newPassword": "amber-quartz-1"}}
    for _ in range(10):
        answer = await api.gql(CHANGE_PASSWORD, attempt, token=session["accessToken"])
        assert [e["code"] for e in answer["data"]["changePassword"]["userErrors"]] == [
            "INVALID_PASSWORD"
        ]
    right = {"input": {"currentPassword": PASSWORD, "newPassword": "amber-quartz-1"}}
    limited = await api.gql(CHANGE_PASSWORD, right, token=session["accessToken"])
    assert error_codes(limited) == ["RATE_LIMITED"]
    assert (await refresh(api, session["refreshToken"]))["session"] is not None


async def test_expired_refresh_tokens_are_purged(api: Api) -> None:
    old = await sign_up(api)
    clock.advance(timedelta(days=29))
    kept = await sign_up(api)
    clock.advance(timedelta(days=2))
    assert await service.purge_expired_refresh_tokens() == 1
    assert (await refresh(api, old["refreshToken"]))["session"] is None
    assert (await refresh(api, kept["refreshToken"]))["session"] is not None
