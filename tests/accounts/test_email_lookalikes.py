"""Addresses that look alike are one address or none: compatibility forms (fullwidth
letters) are the letters they stand for, and letters from another script passing for
Latin ones are refused, at sign-up, at sign-in and wherever a customer is named by email."""

from __future__ import annotations

import pytest

from app.accounts import service as accounts
from app.accounts.models import User
from tests.accounts.factories import PASSWORD, SIGN_UP, sign_in, sign_up_input
from tests.cashback.factories import purchase_input, record
from tests.catalog.factories import make_store
from tests.ledger.factories import totals
from tests.support import Api

# The look-alikes are spelled with escapes, so this file shows what they are.
FULLWIDTH_ALICE = "\uff41\uff4c\uff49\uff43\uff45@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com"
CYRILLIC_A = "\u0430"  # looks like a Latin "a"
GREEK_OMICRON = "\u03bf"  # looks like a Latin "o"


async def sign_up_answer(api: Api, email: str) -> dict:
    answer = await api.gql(SIGN_UP, {"input": sign_up_input(email=email)})
    return answer["data"]["signUp"]


def codes(payload: dict) -> list[tuple[str, list[str]]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def test_a_fullwidth_address_is_the_same_account_as_its_plain_spelling(api: Api) -> None:
    created = await sign_up_answer(api, FULLWIDTH_ALICE)
    assert codes(created) == []
    assert await User.filter().values_list("email", flat=True) == ["alice@example.com"]

    again = await sign_up_answer(api, "Alice@Example.com")
    assert codes(again) == [("EMAIL_TAKEN", ["input", "email"])]
    assert again["session"] is None
    assert await User.all().count() == 1

    signed_in = await sign_in(api, FULLWIDTH_ALICE)
    assert signed_in["data"]["signIn"]["session"]["accessToken"]


@pytest.mark.parametrize(
    "lookalike",
    [
        f"{CYRILLIC_A}lice@example.com",  # the local part
        f"alice@ex{CYRILLIC_A}mple.com",  # one letter of the domain
        f"alice@example.c{GREEK_OMICRON}m",  # the top-level domain
        "alice@exam\u00adple.com",  # an invisible soft hyphen
    ],
)
async def test_a_look_alike_address_is_refused_at_sign_up(api: Api, lookalike: str) -> None:
    assert codes(await sign_up_answer(api, "alice@example.com")) == []

    refused = await sign_up_answer(api, lookalike)

    assert codes(refused) == [("INVALID_EMAIL", ["input", "email"])]
    assert refused["session"] is None
    assert await User.filter().values_list("email", flat=True) == ["alice@example.com"]


async def test_signing_in_with_a_look_alike_is_an_unknown_email(api: Api) -> None:
    await sign_up_answer(api, "alice@example.com")

    lookalike = await sign_in(api, f"{CYRILLIC_A}lice@example.com")
    unknown = await sign_in(api, "nobody@example.com")

    assert lookalike["data"]["signIn"]["session"] is None
    assert lookalike["data"]["signIn"]["userErrors"] == unknown["data"]["signIn"]["userErrors"]
    assert [e["code"] for e in lookalike["data"]["signIn"]["userErrors"]] == ["INVALID_CREDENTIALS"]


async def test_a_domain_in_one_other_script_is_kept_in_its_ascii_form(api: Api) -> None:
    cyrillic_domain = "\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444"  # "primer.rf"
    created = await sign_up_answer(api, f"ivan@{cyrillic_domain}")

    assert codes(created) == []
    stored = await User.get()
    assert stored.email == "ivan@xn--e1afmkfd.xn--p1ai"
    # Either spelling signs in to the one account.
    for spelling in (f"ivan@{cyrillic_domain}", "IVAN@xn--e1afmkfd.xn--p1ai"):
        assert (await sign_in(api, spelling))["data"]["signIn"]["session"]["accessToken"]


async def test_a_partner_naming_a_customer_by_a_look_alike_email_reaches_no_one(
    api: Api,
) -> None:
    store = await make_store(percent="10")
    await sign_up_answer(api, "alice@example.com")
    alice = await User.get(email="alice@example.com")

    fullwidth = {**purchase_input(store, alice, "10.00", external_id="a-1")}
    fullwidth["customer"] = {"email": FULLWIDTH_ALICE}
    assert (await record(api, store, fullwidth))["userErrors"] == []

    lookalike = {**purchase_input(store, alice, "10.00", external_id="a-2")}
    lookalike["customer"] = {"email": f"alice@ex{CYRILLIC_A}mple.com"}
    refused = await record(api, store, lookalike)
    assert codes(refused) == [("UNKNOWN_CUSTOMER", ["input", "customer", "email"])]

    # Only the first purchase credited her.
    assert await totals(alice.id) == (0, 100, 0)
    assert await accounts.find_customer(email=f"{CYRILLIC_A}lice@example.com") is None
    assert (await accounts.find_customer(email=FULLWIDTH_ALICE)).id == alice.id  # type: ignore[union-attr]


async def test_an_admin_cannot_be_made_with_a_look_alike_address(db: object) -> None:
    await accounts.create_admin(email="ops@example.com", password=PASSWORD)
    with pytest.raises(accounts.InvalidEmail):
        await accounts.create_admin(email=f"{GREEK_OMICRON}ps@example.com", password=PASSWORD)
    assert await User.filter().values_list("email", flat=True) == ["ops@example.com"]
