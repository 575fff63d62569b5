"""deleteAccount refused: a wrong password (throttled like sign-in), a partner, an admin
or nobody signed in. A refusal changes nothing."""

from __future__ import annotations

from typing import Any

from app import db
from app.accounts.models import User
from tests.accounts.factories import PROFILE, SIGN_IN
from tests.factories import make_admin
from tests.privacy.stories import DELETE, PASSWORD, Member, delete, held, make_member
from tests.support import Api, error_codes


async def snapshot(member: Member) -> dict[str, Any]:
    """Everything a deletion would change."""
    user = await User.get(id=member.user.id)
    counts = {}
    for table, column in [
        ("auth_sessions", "user_id"),
        ("consent_changes", "user_id"),
        ("offer_customers", "customer_id"),
        ("customer_profiles", "customer_id"),
        ("redemptions", "customer_id"),
    ]:
        row = await db.one(f"SELECT COUNT(*) AS n FROM {table} WHERE {column} = ?", member.user.id)
        assert row is not None
        counts[table] = int(row["n"])
    open_redemptions = await db.one(
        "SELECT COUNT(*) AS n FROM redemptions WHERE customer_id = ? AND status = 'RESERVED'",
        member.user.id,
    )
    return {
        "user": (user.email, user.display_name, user.member_code, user.deleted_at),
        "held": await held(member),
        "counts": counts,
        "open": open_redemptions,
    }


async def test_a_wrong_password_is_refused_and_nothing_changes(api: Api) -> None:
    ana = await make_member(api, "Ana")
    before = await snapshot(ana)

    answer = await delete(api, ana.access_token, password="not-the-password-1")

    errors = answer["data"]["deleteAccount"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID_CREDENTIALS", ["password"])]
    assert await snapshot(ana) == before
    assert error_codes(await api.gql(PROFILE, token=ana.access_token)) == []


async def test_wrong_passwords_are_throttled_as_sign_in_failures_are(api: Api) -> None:
    ana = await make_member(api, "Ana")
    before = await snapshot(ana)

    refusals = [
        (await delete(api, ana.access_token, password=f"wrong-password-{n}"))["data"][
            "deleteAccount"
        ]["userErrors"][0]["code"]
        for n in range(10)
    ]
    throttled = await delete(api, ana.access_token)

    assert refusals == ["INVALID_CREDENTIALS"] * 10
    assert error_codes(throttled) == ["RATE_LIMITED"]
    assert throttled["errors"][0]["extensions"]["retryAfter"] >= 1
    # the same counters as sign-in's: signing in from here is held back too
    signed_in = await api.gql(SIGN_IN, {"input": {"email": ana.email, "password": PASSWORD}})
    assert error_codes(signed_in) == ["RATE_LIMITED"]
    assert await snapshot(ana) == before


async def test_only_the_signed_in_customer_may_delete_their_account(api: Api) -> None:
    ana = await make_member(api, "Ana")
    before = await snapshot(ana)
    partner = api.partner_token(["purchases:write"], merchant_id=ana.store.merchant_id)
    admin = api.token_for(await make_admin())

    assert error_codes(await api.gql(DELETE, {"password": PASSWORD})) == ["UNAUTHENTICATED"]
    assert error_codes(await delete(api, partner)) == ["FORBIDDEN"]
    assert error_codes(await delete(api, admin)) == ["FORBIDDEN"]
    assert await snapshot(ana) == before
