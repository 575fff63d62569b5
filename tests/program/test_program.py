"""The operator sets the program up; everyone can read its settings and terms."""

from __future__ import annotations

from tests.cashback.factories import purchase_input, record
from tests.catalog.factories import make_store
from tests.factories import make_admin, make_customer
from tests.ledger.factories import balance, give_credit
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


MAXIMA = """
mutation UpdateProgram($input: UpdateProgramInput!) {
  updateProgram(input: $input) {
    program { maxPurchaseTotal { amount currencyCode } maxRedemptionAmount { amount } }
    userErrors { code field }
  }
}
"""


async def test_purchase_and_redemption_maxima_default_to_the_documented_amounts(
    api: Api,
) -> None:
    answer = await api.gql(
        "{ program { maxPurchaseTotal { amount currencyCode } "
        "maxRedemptionAmount { amount currencyCode } } }"
    )
    assert answer["data"]["program"] == {
        "maxPurchaseTotal": {"amount": "100000.00", "currencyCode": "USD"},
        "maxRedemptionAmount": {"amount": "10000.00", "currencyCode": "USD"},
    }


async def test_an_admin_sets_the_maxima(api: Api) -> None:
    token = api.token_for(await make_admin())
    answer = await api.gql(
        MAXIMA,
        {
            "input": {
                "maxPurchaseTotal": {"amount": "2500.00", "currencyCode": "USD"},
                "maxRedemptionAmount": {"amount": "250", "currencyCode": "USD"},
            }
        },
        token=token,
    )
    payload = answer["data"]["updateProgram"]
    assert payload["userErrors"] == []
    assert payload["program"] == {
        "maxPurchaseTotal": {"amount": "2500.00", "currencyCode": "USD"},
        "maxRedemptionAmount": {"amount": "250.00"},
    }


async def test_maxima_must_be_positive_amounts_of_the_program_currency(api: Api) -> None:
    token = api.token_for(await make_admin())
    answer = await api.gql(
        MAXIMA,
        {
            "input": {
                "maxPurchaseTotal": {"amount": "0", "currencyCode": "USD"},
                "maxRedemptionAmount": {"amount": "10.00", "currencyCode": "EUR"},
            }
        },
        token=token,
    )
    payload = answer["data"]["updateProgram"]
    assert payload["program"] is None
    assert {tuple(e["field"]): e["code"] for e in payload["userErrors"]} == {
        ("input", "maxPurchaseTotal"): "INVALID_AMOUNT",
        ("input", "maxRedemptionAmount"): "CURRENCY_MISMATCH",
    }
    beyond = await api.gql(
        MAXIMA,
        {"input": {"maxPurchaseTotal": {"amount": "10000000000000.01", "currencyCode": "USD"}}},
        token=token,
    )
    errors = beyond["data"]["updateProgram"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [
        ("INVALID_AMOUNT", ["input", "maxPurchaseTotal"])
    ]
    program = (await api.gql("{ program { maxPurchaseTotal { amount } } }"))["data"]["program"]
    assert program == {"maxPurchaseTotal": {"amount": "100000.00"}}


async def test_the_default_maxima_follow_a_new_currency(api: Api) -> None:
    token = api.token_for(await make_admin())
    await api.gql(MAXIMA, {"input": {"currencyCode": "JPY"}}, token=token)
    program = await api.gql("{ program { maxPurchaseTotal { amount currencyCode } } }")
    assert program["data"]["program"]["maxPurchaseTotal"] == {
        "amount": "100000",
        "currencyCode": "JPY",
    }


async def _change_currency(api: Api, token: str) -> dict:
    answer = await api.gql(
        UPDATE, {"input": {"currencyCode": "EUR", "pendingDays": 3}}, token=token
    )
    return answer["data"]["updateProgram"]


async def test_the_currency_is_locked_once_a_purchase_is_recorded(api: Api) -> None:
    token = api.token_for(await make_admin())
    store = await make_store(percent="0")  # the purchase earns nothing: it still counts
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "20.00"))

    payload = await _change_currency(api, token)

    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("CURRENCY_LOCKED", ["input", "currencyCode"])
    ]
    program = (await api.gql(READ))["data"]["program"]
    assert (program["currencyCode"], program["pendingDays"]) == ("USD", 30)
    # Naming the currency it already has changes nothing and is no error.
    same = await api.gql(UPDATE, {"input": {"currencyCode": "USD"}}, token=token)
    assert same["data"]["updateProgram"]["userErrors"] == []


async def test_the_currency_is_locked_once_credit_exists(api: Api) -> None:
    token = api.token_for(await make_admin())
    customer = await make_customer()
    await give_credit(customer.id, 500, source_type="referral")

    payload = await _change_currency(api, token)

    assert [e["code"] for e in payload["userErrors"]] == ["CURRENCY_LOCKED"]
    assert (await balance(customer.id)).available == 500
    assert (await api.gql(READ))["data"]["program"]["currencyCode"] == "USD"


async def test_the_currency_can_change_while_no_money_has_moved(api: Api) -> None:
    token = api.token_for(await make_admin())
    await make_customer()
    payload = await _change_currency(api, token)
    assert payload["userErrors"] == []
    assert (payload["program"]["currencyCode"], payload["program"]["pendingDays"]) == ("EUR", 3)
