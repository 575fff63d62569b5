"""exportMyData: one JSON document with everything held about the customer, in the
versioned format, and nothing of anyone else."""

from __future__ import annotations

import json

from app.core.ids import encode_id
from tests.privacy.stories import EXPORT, export_of, make_member
from tests.support import Api, error_codes


async def test_the_export_holds_every_kind_of_record_and_nothing_of_another_customer(
    api: Api,
) -> None:
    # Given two customers with histories of every kind
    ana = await make_member(api, "Ana")
    bruno = await make_member(api, "Bruno")

    # When Ana exports her data
    document = await export_of(api, ana.access_token)

    # Then it is the documented format, about her
    assert (document["format"], document["version"]) == ("cashback.customer-data", 1)
    assert document["customerId"] == encode_id("Customer", ana.user.id)
    profile = document["profile"]
    assert (profile["email"], profile["displayName"], profile["memberCode"]) == (
        ana.email,
        ana.display_name,
        ana.member_code,
    )
    assert (profile["birthDate"], profile["locale"]) == ("1990-05-17", "pt-BR")
    assert document["consents"]["marketing"] is True
    assert [c["source"] for c in document["consents"]["history"]] == ["SIGN_UP", "UPDATE"]
    assert document["referral"]["code"] == ana.user.referral_code
    # purchases with their items and refunds
    purchases = document["purchases"]
    assert [p["externalId"] for p in purchases] == ana.external_ids
    assert purchases[0]["items"][0]["name"] == f"Gift for {ana.display_name}"
    assert purchases[0]["refunds"][0]["amount"] == {"amount": "10.00", "currencyCode": "USD"}
    assert purchases[0]["explanation"], "each credit is explained"
    # the ledger: activity with explanations, credits, balances
    kinds = {entry["kind"] for entry in document["activity"]}
    assert {"CASHBACK", "ADJUSTMENT", "REVERSAL", "REDEMPTION"} <= kinds
    cashback = [e for e in document["activity"] if e["kind"] == "CASHBACK"]
    assert all(e["details"] for e in cashback)
    assert len(document["credits"]) == 3
    assert document["balances"][0]["reserved"] == {"amount": "3.00", "currencyCode": "USD"}
    # redemptions, offers, behaviour, sessions (without secrets), the inbox
    assert sorted(r["status"] for r in document["redemptions"]) == ["RELEASED", "RESERVED"]
    assert len(document["offerActivations"]) == 1
    assert document["offerActivations"][0]["activatedAt"]
    assert document["purchaseProfile"]["purchaseCount"] == 2
    assert document["spendByDay"] and document["basketLines"]
    assert len(document["sessions"]) == 2
    inbox = document["notifications"]
    assert [n["kind"] for n in inbox] == [
        "CASHBACK_RECORDED",
        "CASHBACK_RECORDED",
        "CASHBACK_TAKEN_BACK",
    ]
    # No Portuguese texts yet: English.
    assert {n["locale"] for n in inbox} == {"en"}
    assert all(n["title"] and n["body"] and n["createdAt"] for n in inbox)

    # And nothing of Bruno's, nor any secret of Ana's
    text = json.dumps(document)
    for foreign in [*bruno.personal, *bruno.external_ids, bruno.user.referral_code]:
        assert foreign not in text
    for secret in (ana.access_token, ana.refresh_token, ana.user.password_hash):
        assert secret not in text
    # No field of a secret's kind, by name (random ids and codes may spell anything).
    assert not {k for k in _keys(document) if "token" in k.lower() or "hash" in k.lower()}


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


async def test_only_a_signed_in_customer_may_export(api: Api) -> None:
    ana = await make_member(api, "Ana")
    partner = api.partner_token(["purchases:write"], merchant_id=ana.store.merchant_id)

    assert error_codes(await api.gql(EXPORT)) == ["UNAUTHENTICATED"]
    assert error_codes(await api.gql(EXPORT, token=partner)) == ["FORBIDDEN"]
