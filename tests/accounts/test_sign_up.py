"""Signing up: a customer with a member code, a referral code, the terms version they
accepted and their consents, signed in at once; every input problem reported."""

from __future__ import annotations

import pytest

from app.accounts.models import ConsentChange, Session, User
from app.accounts.service import MEMBER_CODE_ALPHABET
from tests.accounts.factories import PROFILE, SIGN_UP, sign_up, sign_up_input
from tests.support import Api


def errors_of(answer: dict) -> dict[tuple[str, ...], str]:
    payload = answer["data"]["signUp"]
    assert payload["session"] is None
    return {tuple(e["field"] or ()): e["code"] for e in payload["userErrors"]}


async def test_a_new_customer_is_signed_in_with_their_profile(api: Api) -> None:
    session = await sign_up(
        api,
        email="  Rosa.Lima@Example.COM ",
        displayName="  Rosa   Lima ",
        birthDate="1990-04-12",
        locale="pt_br",
        consents={"personalization": True, "marketing": False},
    )
    profile = (await api.gql(PROFILE, token=session["accessToken"]))["data"]["viewer"]
    assert profile["email"] == "rosa.lima@example.com"
    assert profile["displayName"] == "Rosa Lima"
    assert profile["birthDate"] == "1990-04-12"
    assert profile["locale"] == "pt-BR"
    assert profile["consents"]["personalization"] is True
    assert profile["consents"]["marketing"] is False
    assert profile["consents"]["updatedAt"] is not None
    code = profile["memberCode"]
    assert len(code) == 8 and set(code) <= set(MEMBER_CODE_ALPHABET)
    referral = profile["referral"]
    assert len(referral["code"]) == 8 and referral["code"] != code
    assert referral["invitedCount"] == 0
    assert referral["earned"] == {"amount": "0.00", "currencyCode": "USD"}

    stored = await User.get(email="rosa.lima@example.com")
    assert stored.terms_version == 1
    assert [(c.personalization, c.marketing, c.source) for c in await ConsentChange.all()] == [
        (True, False, "SIGN_UP")
    ]


async def test_consents_default_to_false(api: Api) -> None:
    session = await sign_up(api)
    profile = (await api.gql(PROFILE, token=session["accessToken"]))["data"]["viewer"]
    assert profile["consents"]["personalization"] is False
    assert profile["consents"]["marketing"] is False


async def test_terms_must_be_accepted_and_nothing_is_created(api: Api) -> None:
    answer = await api.gql(SIGN_UP, {"input": sign_up_input(acceptTerms=False)})
    assert errors_of(answer) == {("input", "acceptTerms"): "TERMS_NOT_ACCEPTED"}
    assert await User.all().count() == 0
    assert await Session.all().count() == 0


async def test_every_problem_is_reported_at_once(api: Api) -> None:
    answer = await api.gql(
        SIGN_UP,
        {
            "input": sign_up_input(
                email="not-an-email",
                password="short",
                displayName="   ",
                birthDate="2999-01-01",
                locale="english please",
                acceptTerms=False,
                referralCode="NOSUCHCODE",
            )
        },
    )
    assert errors_of(answer) == {
        ("input", "email"): "INVALID_EMAIL",
        ("input", "password"): "WEAK_PASSWORD",
        ("input", "displayName"): "INVALID_INPUT",
        ("input", "birthDate"): "INVALID_INPUT",
        ("input", "locale"): "INVALID_INPUT",
        ("input", "acceptTerms"): "TERMS_NOT_ACCEPTED",
        ("input", "referralCode"): "UNKNOWN_REFERRAL_CODE",
    }
    assert await User.all().count() == 0


async def test_an_email_is_taken_whatever_its_case(api: Api) -> None:
    await sign_up(api, email="sam@example.com")
    answer = await api.gql(SIGN_UP, {"input": sign_up_input(email="SAM@Example.com")})
    assert errors_of(answer) == {("input", "email"): "EMAIL_TAKEN"}
    assert await User.all().count() == 1


@pytest.mark.parametrize(
    "password",
    [
        "password123",
        "qwertyuiop",
        "1234567890",
        "Sunshine2024!",
        "iloveyou123",
        "P@ssw0rd123",
        "aaaaaaaaaaaa",
        "tom.baker@example.com",
        "tombaker2024",
        "Tom Baker 99",
    ],
)
async def test_common_or_personal_passwords_are_refused(api: Api, password: str) -> None:
    answer = await api.gql(
        SIGN_UP,
        {
            "input": sign_up_input(
                email="tom.baker@example.com", displayName="Tom Baker", password=password
            )
        },
    )
    assert errors_of(answer) == {("input", "password"): "WEAK_PASSWORD"}
    assert await User.all().count() == 0


async def test_a_referral_code_counts_the_invited_customer(api: Api) -> None:
    inviter = await sign_up(api, email="uma@example.com")
    code = (await api.gql(PROFILE, token=inviter["accessToken"]))["data"]["viewer"]["referral"][
        "code"
    ]
    await sign_up(api, referralCode=code.lower())
    await sign_up(api, referralCode=f" {code} ")
    await sign_up(api)

    profile = (await api.gql(PROFILE, token=inviter["accessToken"]))["data"]["viewer"]
    assert profile["referral"]["invitedCount"] == 2
    invited = await User.filter(referral_code_used=code).values_list("referred_by_id", flat=True)
    assert invited == [(await User.get(email="uma@example.com")).id] * 2


async def test_member_and_referral_codes_are_unique(api: Api) -> None:
    for _ in range(12):
        await sign_up(api)
    rows = await User.all().values_list("member_code", "referral_code")
    assert len({m for m, _ in rows}) == len(rows) == 12
    assert len({r for _, r in rows}) == 12
