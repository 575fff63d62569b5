"""deleteAccount: personal data erased everywhere, the books kept anonymised and
reconciled, the remaining credit forfeited, every session ended, the partner told."""

from __future__ import annotations

import hashlib
import logging

import pytest

from app import db
from app.accounts.models import AccountDeletion, User
from app.cashback.profiles import rebuild_profiles
from app.core import clock
from app.core.ids import encode_id
from app.privacy import service
from tests.accounts.factories import PROFILE, REFRESH, SIGN_IN, SIGN_UP
from tests.cashback.factories import purchase_input, refund, writer
from tests.cashback.test_record_purchases import RECORD_MANY
from tests.privacy.search import places_holding, text_columns
from tests.privacy.stories import PASSWORD, Member, delete, export_of, held, make_member
from tests.support import Api, error_codes


async def forfeited(member: Member) -> int:
    row = await db.one(
        "SELECT COALESCE(SUM(amount), 0) AS total FROM ledger_postings"
        " WHERE account = 'FORFEITED' AND customer_id = ?",
        member.user.id,
    )
    assert row is not None
    return int(row["total"])


async def test_no_personal_value_remains_anywhere_and_the_credit_is_forfeited(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two customers with histories of every kind
    ana = await make_member(api, "Ana")
    bruno = await make_member(api, "Bruno")
    ana_held, bruno_held = await held(ana), await held(bruno)
    assert ana_held > 0
    assert len(await text_columns()) > 50
    for value in ana.personal:
        assert await places_holding(value), f"the search must find {value} before"

    # When Ana deletes her account
    with caplog.at_level(logging.INFO):
        answer = await delete(api, ana.access_token)

    # Then no text column of any table holds her email, name or member code
    assert answer["data"]["deleteAccount"]["userErrors"] == [], answer
    for value in ana.personal:
        assert await places_holding(value) == [], value
    # her open redemption was released and everything she held forfeited to the program
    assert await held(ana) == 0
    assert await forfeited(ana) == ana_held
    status = await db.one(
        "SELECT status FROM redemptions WHERE customer_id = ? AND status = 'RESERVED'", ana.user.id
    )
    assert status is None
    # the books stay, anonymised, under her id; the tombstone and the operator's record
    purchases = await db.one(
        "SELECT COUNT(*) AS n FROM cashback_purchases WHERE customer_id = ?", ana.user.id
    )
    assert purchases is not None and int(purchases["n"]) == 2
    tombstone = await User.get(id=ana.user.id)
    assert tombstone.deleted_at is not None and tombstone.password_hash == ""
    record = await AccountDeletion.get(customer_id=ana.user.id)
    assert record.deleted_at == tombstone.deleted_at
    logged = [r.getMessage() for r in caplog.records if "account deleted" in r.getMessage()]
    assert len(logged) == 1 and f"customer {ana.user.id}," in logged[0]
    assert not any(value in logged[0] for value in ana.personal)
    # and Bruno keeps everything
    assert await held(bruno) == bruno_held and await forfeited(bruno) == 0
    for value in bruno.personal:
        assert await places_holding(value)
    assert (await export_of(api, bruno.access_token))["profile"]["email"] == bruno.email


async def test_every_session_ends_at_once(api: Api) -> None:
    ana = await make_member(api, "Ana")
    bare_token = api.token_for(ana.user)

    answer = await delete(api, ana.access_token)

    assert answer["data"]["deleteAccount"]["userErrors"] == []
    for token in (ana.access_token, bare_token):
        assert error_codes(await api.gql(PROFILE, token=token)) == ["UNAUTHENTICATED"]
    refreshed = await api.gql(REFRESH, {"refreshToken": ana.refresh_token})
    assert [e["code"] for e in refreshed["data"]["refreshSession"]["userErrors"]] == [
        "INVALID_REFRESH_TOKEN"
    ]
    signed_in = await api.gql(SIGN_IN, {"input": {"email": ana.email, "password": PASSWORD}})
    assert [e["code"] for e in signed_in["data"]["signIn"]["userErrors"]] == ["INVALID_CREDENTIALS"]
    # A second deletion with the dead token is refused like any call
    assert error_codes(await delete(api, ana.access_token)) == ["UNAUTHENTICATED"]


async def test_a_partners_later_report_gets_a_clear_error_and_a_refund_creates_no_credit(
    api: Api,
) -> None:
    ana = await make_member(api, "Ana")
    store = ana.store
    assert (await delete(api, ana.access_token))["data"]["deleteAccount"]["userErrors"] == []
    given_up = await forfeited(ana)

    # A new purchase, named by member code, email or customer id, is refused
    customer_id = encode_id("Customer", ana.user.id)
    references = [
        ({"memberCode": ana.member_code}, "UNKNOWN_CUSTOMER", "memberCode"),
        ({"email": ana.email}, "UNKNOWN_CUSTOMER", "email"),
        ({"customerId": customer_id}, "CUSTOMER_DELETED", "customerId"),
    ]
    inputs = [
        {**purchase_input(store, ana.user, "30.00"), "customer": reference}
        for reference, _, _ in references
    ]
    answer = await api.gql(RECORD_MANY, {"inputs": inputs}, token=writer(api, store))
    results = answer["data"]["recordPurchases"]["results"]
    assert [(r["purchase"], r["userErrors"][0]["code"]) for r in results] == [
        (None, code) for _, code, _ in references
    ]
    assert [r["userErrors"][0]["field"][-1] for r in results] == [f for _, _, f in references]

    # A refund of an earlier purchase still goes through for the store's books, and
    # creates no credit: the wallet stays empty, the forfeited amount is what it was
    refunded = await refund(api, store, ana.external_ids[1], "50.00", "late-refund")
    assert refunded["userErrors"] == []
    assert refunded["purchase"]["status"] == "REFUNDED"
    assert await held(ana) == 0
    assert await forfeited(ana) == given_up
    count = await db.one(
        "SELECT COUNT(*) AS n FROM cashback_purchases WHERE customer_id = ?", ana.user.id
    )
    assert count is not None and int(count["n"]) == 2


async def test_the_email_can_sign_up_again_as_a_new_account(api: Api) -> None:
    ana = await make_member(api, "Ana")
    assert (await delete(api, ana.access_token))["data"]["deleteAccount"]["userErrors"] == []

    answer = await api.gql(
        SIGN_UP,
        {
            "input": {
                "email": ana.email,
                "password": PASSWORD,
                "displayName": ana.display_name,
                "acceptTerms": True,
            }
        },
    )

    session = answer["data"]["signUp"]["session"]
    assert answer["data"]["signUp"]["userErrors"] == []
    fresh = await export_of(api, session["accessToken"])
    assert fresh["customerId"] != encode_id("Customer", ana.user.id)
    assert fresh["purchases"] == [] and fresh["activity"] == [] and fresh["balances"] == []


async def test_rebuilding_profiles_does_not_bring_back_a_deleted_ones(api: Api) -> None:
    # Given two customers with purchases, one of whom deleted the account
    ana = await make_member(api, "Ana")
    bruno = await make_member(api, "Bruno")
    assert (await delete(api, ana.access_token))["data"]["deleteAccount"]["userErrors"] == []

    # When every profile is rebuilt from the purchases (which stay)
    await rebuild_profiles(now=clock.now())

    # Then the deleted customer has none again, and the other one has theirs
    profiles = await db.rows("SELECT customer_id FROM customer_profiles ORDER BY customer_id")
    assert [int(row["customer_id"]) for row in profiles] == [bruno.user.id]
    days = await db.rows("SELECT DISTINCT customer_id FROM profile_spend_days")
    assert [int(row["customer_id"]) for row in days] == [bruno.user.id]


async def test_the_persons_throttling_counters_go_with_the_account(api: Api) -> None:
    # Given failed sign-ins on the account (counted under keys made from the email)
    ana = await make_member(api, "Ana")
    for n in range(3):
        await api.gql(SIGN_IN, {"input": {"email": ana.email, "password": f"wrong-pass-{n}"}})
    named = [f"sign-in:account:{ana.email}", f"sign-in:account-address:{ana.email}:127.0.0.1"]
    keys = [hashlib.sha256(key.encode()).hexdigest() for key in named]
    counted = f"SELECT key FROM throttle_counters WHERE key IN ({db.marks(len(keys))})"
    assert len(await db.rows(counted, *keys)) == 2

    # When the account is deleted
    assert (await delete(api, ana.access_token))["data"]["deleteAccount"]["userErrors"] == []

    # Then those counters are gone
    assert await db.rows(counted, *keys) == []


async def test_a_redemption_started_during_the_deletion_is_released_too(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a redemption that the deletion's first look at open redemptions misses (as one
    # started and committed at that very moment would be)
    ana = await make_member(api, "Ana")
    before = await held(ana)
    release_open = service.redemptions.release_open
    looks: list[int] = []

    async def missing_the_first(*, customer_id: int) -> int:
        looks.append(customer_id)
        return 0 if len(looks) == 1 else await release_open(customer_id=customer_id)

    monkeypatch.setattr(service.redemptions, "release_open", missing_the_first)

    # When the account is deleted
    answer = await delete(api, ana.access_token)

    # Then the forfeit found money reserved, so the redemption was released in a second
    # round and everything forfeited, in the one transaction
    assert answer["data"]["deleteAccount"]["userErrors"] == [], answer
    assert len(looks) == 2
    assert await held(ana) == 0 and await forfeited(ana) == before
    still_open = await db.rows(
        "SELECT id FROM redemptions WHERE customer_id = ? AND status = 'RESERVED'", ana.user.id
    )
    assert still_open == []
