"""The operator sets the program up; everyone can read its settings and terms."""

from __future__ import annotations

from tests.factories import make_admin, make_customer
from tests.support import Api, error_codes

UPDATE = """
mutation UpdateProgram($input: UpdateProgramInput!) {
  updateProgram(input: $input) {
    program { currencyCode pendingDays creditValidityDays maxRedemptionShare terms termsVersion
              minimumRedemption { amount currencyCode } }
    userErrors { code field message }
  }
}
"""
READ = """{ program { currencyCode pendingDays creditValidityDays maxRedemptionShare terms
             termsVersion minimumRedemption { amount currencyCode } } }"""


async def test_a_new_program_has_the_documented_defaults(api: Api) -> None:
    program = (await api.gql(READ))["data"]["program"]
    assert program["currencyCode"] == "USD"
    assert program["pendingDays"] == 30
    assert program["creditValidityDays"] == 365
    assert program["maxRedemptionShare"] == "0.5"
    assert program["minimumRedemption"] == {"amount": "1.00", "currencyCode": "USD"}
    assert program["termsVersion"] == 1


async def test_an_admin_changes_settings_and_new_terms_make_a_new_version(api: Api) -> None:
    admin = await make_admin()
    token = api.token_for(admin)
    answer = await api.gql(
        UPDATE,
        {
            "input": {
                "pendingDays": 0,
                "maxRedemptionShare": "0.25",
                "terms": "New terms.",
                "minimumRedemption": {"amount": "0.50", "currencyCode": "USD"},
            }
        },
        token=token,
    )
    payload = answer["data"]["updateProgram"]
    assert payload["userErrors"] == []
    assert payload["program"]["pendingDays"] == 0
    assert payload["program"]["maxRedemptionShare"] == "0.25"
    assert payload["program"]["minimumRedemption"]["amount"] == "0.50"
    assert payload["program"]["terms"] == "New terms."
    assert payload["program"]["termsVersion"] == 2

    again = await api.gql(UPDATE, {"input": {"terms": "New terms."}}, token=token)
    assert again["data"]["updateProgram"]["program"]["termsVersion"] == 2
    public = (await api.gql(READ))["data"]["program"]
    assert (public["pendingDays"], public["termsVersion"]) == (0, 2)


async def test_invalid_settings_are_refused_with_their_fields_and_nothing_changes(api: Api) -> None:
    admin = await make_admin()
    answer = await api.gql(
        UPDATE,
        {
            "input": {
                "currencyCode": "XXX",
                "pendingDays": -1,
                "creditValidityDays": 0,
                "maxRedemptionShare": "1.5",
                "terms": "  ",
                "minimumRedemption": {"amount": "0.001", "currencyCode": "USD"},
            }
        },
        token=api.token_for(admin),
    )
    payload = answer["data"]["updateProgram"]
    assert payload["program"] is None
    fields = {tuple(e["field"]): e["code"] for e in payload["userErrors"]}
    assert fields == {
        ("input", "currencyCode"): "INVALID_INPUT",
        ("input", "pendingDays"): "INVALID_INPUT",
        ("input", "creditValidityDays"): "INVALID_INPUT",
        ("input", "maxRedemptionShare"): "INVALID_INPUT",
        ("input", "terms"): "INVALID_INPUT",
        ("input", "minimumRedemption"): "INVALID_AMOUNT",
    }
    program = (await api.gql(READ))["data"]["program"]
    assert (program["pendingDays"], program["termsVersion"]) == (30, 1)


async def test_a_minimum_in_another_currency_is_a_currency_mismatch(api: Api) -> None:
    admin = await make_admin()
    answer = await api.gql(
        UPDATE,
        {"input": {"minimumRedemption": {"amount": "1.00", "currencyCode": "EUR"}}},
        token=api.token_for(admin),
    )
    errors = answer["data"]["updateProgram"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [
        ("CURRENCY_MISMATCH", ["input", "minimumRedemption"])
    ]


async def test_only_admins_change_the_program(api: Api) -> None:
    customer = await make_customer()
    as_customer = await api.gql(
        UPDATE, {"input": {"pendingDays": 0}}, token=api.token_for(customer)
    )
    anonymous = await api.gql(UPDATE, {"input": {"pendingDays": 0}})
    partner = await api.gql(
        UPDATE, {"input": {"pendingDays": 0}}, token=api.partner_token(["purchases:write"])
    )
    assert error_codes(as_customer) == ["FORBIDDEN"]
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    assert error_codes(partner) == ["FORBIDDEN"]
    assert (await api.gql(READ))["data"]["program"]["pendingDays"] == 30
