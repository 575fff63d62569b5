"""Hostile input from outside: every value a client sends enters through bounded scalars,
and a refused value is a clean answer (400 before anything runs, or a userError), never a
server error, and never a half-written purchase or balance."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app import ledger
from app.accounts.models import User
from app.cashback.models import Purchase
from app.core import clock
from app.core.ids import encode_id
from app.main import create_app
from app.redemptions.models import Redemption
from tests.cashback.factories import RECORD, REFUND, purchase_input, record, writer
from tests.catalog.factories import make_store
from tests.factories import make_admin, make_customer
from tests.ledger.invariants import assert_ledger_consistent
from tests.ledger.rows import entry_count, stored_wallet
from tests.redemptions.factories import give_credits
from tests.redemptions.operations import START, start_input
from tests.support import Api, error_codes

NODE = "query Node($id: ID!) { node(id: $id) { id } }"
MERCHANTS = """query Merchants($first: Int!, $after: String) {
  merchants(first: $first, after: $after) { edges { cursor node { id } } }
}"""
PREVIEW = """query Preview($storeId: ID!, $total: MoneyInput!) {
  cashbackPreview(storeId: $storeId, total: $total) { cashback { amount } }
}"""
PURCHASE = """query Purchase($storeId: ID!, $externalId: String!) {
  purchase(storeId: $storeId, externalId: $externalId) { id }
}"""
SIGN_IN = """mutation SignIn($input: SignInInput!) {
  signIn(input: $input) { session { accessToken } userErrors { code field } }
}"""


def cursor_of(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def refused(response: httpx.Response) -> list[tuple[str, list[str] | None]]:
    """(code, field) of each top-level error of a request refused before it ran."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body.get("data") is None
    return [(e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]]


async def post_json(
    api: Api, query: str, variables: dict[str, Any], *, token: str | None = None
) -> httpx.Response:
    """A request whose JSON escapes every non-ASCII character, as a client may send an
    unpaired surrogate (httpx would refuse to encode one as UTF-8)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"query": query, "variables": variables})
    return await api.client.post("/graphql", content=body, headers=headers)


async def purchases_recorded() -> int:
    return await Purchase.all().count()


# --- strings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "external_id",
    ["order\x00-1", "order-\ud800", "order-\x1b[2J", "x" * 10_001],
    ids=["nul", "lone-surrogate", "escape", "too-long"],
)
async def test_a_string_with_control_characters_or_beyond_the_limit_is_refused_before_it_runs(
    api: Api, external_id: str
) -> None:
    store = await make_store()
    customer = await make_customer()
    data = purchase_input(store, customer, "10.00", external_id=external_id)
    response = await post_json(api, RECORD, {"input": data}, token=writer(api, store))
    assert refused(response) == [("INVALID_INPUT", ["input", "externalId"])]
    assert await purchases_recorded() == 0


async def test_tabs_and_new_lines_are_ordinary_text(api: Api) -> None:
    store = await make_store()
    customer = await make_customer()
    data = purchase_input(store, customer, "10.00", external_id="order\t7\r\n")
    payload = await record(api, store, data)
    assert payload["userErrors"] == []
    assert payload["purchase"]["externalId"] == "order\t7"


async def test_a_nul_in_a_string_written_in_the_document_is_a_validation_error(
    api: Api,
) -> None:
    query = '{ merchants(first: 1, after: "abc\\u0000") { edges { cursor } } }'
    response = await api.post(query)
    assert refused(response) == [("GRAPHQL_VALIDATION_FAILED", None)]
    assert response.json()["errors"][0]["locations"] == [{"line": 1, "column": 30}]


async def test_a_nul_in_a_sign_in_email_is_refused_not_a_server_error(api: Api) -> None:
    response = await api.post(
        SIGN_IN, {"input": {"email": "a\x00@example.com", "password": "whatever-it-is"}}
    )
    assert refused(response) == [("INVALID_INPUT", ["input", "email"])]


@pytest.mark.parametrize(
    "when",
    ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "1899-12-31T23:59:59Z", "1" * 50],
    ids=["beyond-year-9999-in-utc", "before-year-1-in-utc", "before-1900", "not-a-time"],
)
async def test_a_time_no_record_can_hold_is_refused_before_it_runs(api: Api, when: str) -> None:
    store = await make_store()
    customer = await make_customer()
    data = purchase_input(store, customer, "10.00")
    data["occurredAt"] = when
    response = await api.post(RECORD, {"input": data}, token=writer(api, store))
    assert refused(response) == [("INVALID_INPUT", ["input", "occurredAt"])]
    assert await purchases_recorded() == 0


async def test_a_time_written_in_the_document_is_refused_the_same_way(api: Api) -> None:
    query = """mutation { recordPurchase(input: {storeId: "x", externalId: "o",
      customer: {memberCode: "M"}, total: {amount: "1.00", currencyCode: "USD"},
      occurredAt: "9999-12-31T23:59:59-23:59"}) { purchase { id } } }"""
    response = await api.post(query, token=api.partner_token(["purchases:write"]))
    assert refused(response) == [("GRAPHQL_VALIDATION_FAILED", None)]


# --- ids -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pk",
    [str(2**63), "9" * 40, "\u00b2", "\u0661\u0662", "-1", "0"],
    ids=["int64-plus-one", "forty-nines", "superscript-two", "arabic-digits", "negative", "zero"],
)
async def test_node_with_a_key_outside_int64_or_not_a_number_is_simply_not_found(
    api: Api, pk: str
) -> None:
    answer = await api.gql(NODE, {"id": encode_id("Merchant", pk)})
    assert answer == {"data": {"node": None}}


@pytest.mark.parametrize("global_id", ["M" * 101, "TWVyY2hhbnQ6MQ€"], ids=["too-long", "not-ascii"])
async def test_an_id_longer_than_any_of_ours_or_not_ascii_is_refused(
    api: Api, global_id: str
) -> None:
    response = await api.post(NODE, {"id": global_id})
    assert refused(response) == [("INVALID_INPUT", ["id"])]


async def test_a_store_id_outside_int64_is_an_unknown_store(api: Api) -> None:
    store = await make_store()
    customer = await make_customer()
    data = purchase_input(store, customer, "10.00")
    data["storeId"] = encode_id("Store", "\u00b2")
    answer = await api.gql(RECORD, {"input": data}, token=writer(api, store))
    errors = answer["data"]["recordPurchase"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("UNKNOWN_STORE", ["input", "storeId"])]
    assert await purchases_recorded() == 0


# --- cursors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [["x", "abc"], [None, None], ["x", 2**63], ["x", 1.5], ["x" * 1000, 1], [{"t": "x"}, 1], 7],
    ids=["text-id", "nulls", "id-beyond-int64", "float-id", "long-name", "bad-date", "not-list"],
)
async def test_a_forged_cursor_is_invalid_input_at_after(api: Api, values: Any) -> None:
    response = await api.post(MERCHANTS, {"first": 5, "after": cursor_of(values)})
    body = response.json()
    assert [(e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]] == [
        ("INVALID_INPUT", ["after"])
    ]


async def test_a_real_cursor_still_pages(api: Api) -> None:
    for _ in range(3):
        await make_store()
    first = (await api.gql(MERCHANTS, {"first": 2}))["data"]["merchants"]["edges"]
    rest = await api.gql(MERCHANTS, {"first": 2, "after": first[-1]["cursor"]})
    assert len(rest["data"]["merchants"]["edges"]) == 1


# --- strings longer than their column ------------------------------------------------


@pytest.mark.parametrize(
    "customer_ref",
    [
        {"memberCode": "A" * 5_000},
        {"email": "a" * 400 + "@example.com"},
        {"customerId": encode_id("Customer", "1" * 60)},
    ],
    ids=["member-code", "email", "customer-id"],
)
async def test_a_customer_reference_longer_than_its_column_is_an_unknown_customer(
    api: Api, customer_ref: dict[str, str]
) -> None:
    store = await make_store()
    customer = await make_customer()
    data = purchase_input(store, customer, "10.00")
    data["customer"] = customer_ref
    answer = await api.gql(RECORD, {"input": data}, token=writer(api, store))
    errors = answer["data"]["recordPurchase"]["userErrors"]
    field = ["input", "customer", next(iter(customer_ref))]
    assert [(e["code"], e["field"]) for e in errors] == [("UNKNOWN_CUSTOMER", field)]
    assert await purchases_recorded() == 0


async def test_an_external_id_longer_than_its_column_finds_no_purchase(api: Api) -> None:
    store = await make_store()
    token = writer(api, store)
    found = await api.gql(
        PURCHASE, {"storeId": encode_id("Store", store.id), "externalId": "x" * 5_000}, token=token
    )
    assert found == {"data": {"purchase": None}}
    refund = {
        "storeId": encode_id("Store", store.id),
        "externalId": "x" * 5_000,
        "amount": {"amount": "1.00", "currencyCode": "USD"},
        "idempotencyKey": "k" * 5_000,
    }
    answer = await api.gql(REFUND, {"input": refund}, token=token)
    errors = answer["data"]["refundPurchase"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [
        ("INVALID_INPUT", ["input", "idempotencyKey"])
    ]


async def test_a_long_referral_code_at_sign_up_is_an_unknown_code(api: Api) -> None:
    query = """mutation SignUp($input: SignUpInput!) {
      signUp(input: $input) { session { accessToken } userErrors { code field } } }"""
    answer = await api.gql(
        query,
        {
            "input": {
                "email": "new.customer@example.com",
                "password": "a long enough passphrase",
                "displayName": "New Customer",
                "acceptTerms": True,
                "referralCode": "R" * 5_000,
            }
        },
    )
    errors = answer["data"]["signUp"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [
        ("UNKNOWN_REFERRAL_CODE", ["input", "referralCode"])
    ]
    assert await User.filter(email="new.customer@example.com").count() == 0


async def test_a_long_client_id_at_the_token_endpoint_is_an_unknown_client(api: Api) -> None:
    response = await api.client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "c" * 5_000,
            "client_secret": "s",
        },
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_a_long_email_at_sign_in_is_a_wrong_email(api: Api) -> None:
    answer = await api.gql(
        SIGN_IN, {"input": {"email": "a" * 5_000 + "@example.com", "password": "whatever-it-is"}}
    )
    errors = answer["data"]["signIn"]["userErrors"]
    assert [e["code"] for e in errors] == ["INVALID_CREDENTIALS"]


# --- amounts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [
        "1e25",
        "1e100000000",
        "1e-100000000",
        "0x10",
        "\u0661\u0662",
        "1_000",
        "NaN",
        "Infinity",
        "-Infinity",
        " 12",
        "+12",
        "12.",
        ".5",
        "",
        "1" * 40,
        12.5,
        1e25,
        True,
    ],
)
async def test_an_amount_that_is_not_plain_decimal_text_is_refused_before_it_runs(
    api: Api, amount: Any
) -> None:
    store = await make_store()
    customer = await make_customer()
    data = purchase_input(store, customer, "10.00")
    data["total"]["amount"] = amount
    response = await api.post(RECORD, {"input": data}, token=writer(api, store))
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    if isinstance(amount, str | float):
        assert error["extensions"] == {
            "code": "INVALID_INPUT",
            "field": ["input", "total", "amount"],
        }
    else:
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert await purchases_recorded() == 0


async def test_a_whole_number_amount_sent_as_a_json_number_is_accepted(api: Api) -> None:
    store = await make_store()
    customer = await make_customer()
    data = purchase_input(store, customer, "10.00")
    data["total"]["amount"] = 10
    payload = await record(api, store, data)
    assert payload["userErrors"] == []
    assert payload["purchase"]["total"]["amount"] == "10.00"


async def test_a_partner_cannot_record_a_total_beyond_the_program_maximum(api: Api) -> None:
    store = await make_store(percent="10")
    customer = await make_customer()
    data = purchase_input(store, customer, "92233720368547758.07")
    payload = await record(api, store, data)
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID_AMOUNT", ["input", "total"])
    ]
    just_above = await record(api, store, purchase_input(store, customer, "100000.01"))
    assert [e["code"] for e in just_above["userErrors"]] == ["INVALID_AMOUNT"]
    assert await purchases_recorded() == 0
    balance = await ledger.get_balance(customer_id=customer.id, currency="USD")
    assert (balance.pending, balance.available, balance.lifetime_earned) == (0, 0, 0)

    at_the_maximum = await record(api, store, purchase_input(store, customer, "100000.00"))
    assert at_the_maximum["userErrors"] == []
    assert at_the_maximum["purchase"]["cashback"]["amount"] == "10000.00"
    await assert_ledger_consistent()


async def test_the_preview_and_refunds_refuse_totals_beyond_the_program_maximum(
    api: Api,
) -> None:
    store = await make_store()
    token = writer(api, store)
    answer = await api.gql(
        PREVIEW,
        {
            "storeId": encode_id("Store", store.id),
            "total": {"amount": "100000.01", "currencyCode": "USD"},
        },
        token=token,
    )
    assert [(e["extensions"]["code"], e["extensions"].get("field")) for e in answer["errors"]] == [
        ("INVALID_AMOUNT", ["total"])
    ]
    refund = {
        "storeId": encode_id("Store", store.id),
        "externalId": "order-1",
        "amount": {"amount": "100000.01", "currencyCode": "USD"},
        "idempotencyKey": "refund-1",
    }
    payload = (await api.gql(REFUND, {"input": refund}, token=token))["data"]["refundPurchase"]
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID_AMOUNT", ["input", "amount"])
    ]


async def test_a_redemption_above_the_program_maximum_is_refused_and_reserves_nothing(
    api: Api,
) -> None:
    store = await make_store()
    customer = await make_customer()
    await give_credits(customer, 5_000_000)
    merchant = encode_id("Merchant", store.merchant_id)
    answer = await api.gql(START, start_input(merchant, "10000.01"), token=api.token_for(customer))
    payload = answer["data"]["startRedemption"]
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID_AMOUNT", ["input", "amount"])
    ]
    assert await Redemption.all().count() == 0
    balance = await ledger.get_balance(customer_id=customer.id, currency="USD")
    assert (balance.available, balance.reserved) == (5_000_000, 0)
    await assert_ledger_consistent()


async def test_a_credit_that_would_take_a_wallet_beyond_the_ceiling_is_refused_whole(
    db: Any,
) -> None:
    customer = await make_customer()
    await give_credits(customer, ledger.MAX_WALLET_TOTAL - 5)
    before = await stored_wallet(customer.id)
    now = clock.now()
    with pytest.raises(ledger.WalletTotalTooLarge):
        await ledger.credit(
            customer_id=customer.id,
            currency="USD",
            amount=10,
            kind="CASHBACK",
            occurred_at=now,
            available_at=now + timedelta(days=30),
            expires_at=now + timedelta(days=400),
            source_type="purchase",
            source_id=1,
            merchant_id=None,
            description="One credit too many",
            idempotency_key="one-too-many",
        )
    after = await stored_wallet(customer.id)
    assert (after.available, after.pending, after.lifetime_earned) == (
        before.available,
        before.pending,
        before.lifetime_earned,
    )
    assert await entry_count(customer.id) == 1
    await assert_ledger_consistent()


# --- validation ----------------------------------------------------------------------


async def test_a_variable_of_the_wrong_type_or_a_missing_field_is_a_validation_error(
    api: Api,
) -> None:
    wrong_type = await api.post(MERCHANTS, {"first": "100"})
    assert refused(wrong_type) == [("GRAPHQL_VALIDATION_FAILED", None)]
    store = await make_store()
    customer = await make_customer()
    data = purchase_input(store, customer, "10.00")
    del data["externalId"]
    missing = await api.post(RECORD, {"input": data}, token=writer(api, store))
    assert refused(missing) == [("GRAPHQL_VALIDATION_FAILED", None)]
    assert await purchases_recorded() == 0


@pytest.mark.parametrize(
    "document",
    [
        "query { merchants(first: 1) { edges { node { ...Missing } } } }",
        "query { ...Outer } fragment Outer on Query { merchants(first: 1) { ...Missing } }",
    ],
)
async def test_a_spread_of_a_fragment_the_document_does_not_define_is_a_validation_error(
    api: Api, document: str
) -> None:
    response = await api.post(document)
    assert response.status_code == 400
    assert refused(response) == [("GRAPHQL_VALIDATION_FAILED", None)]
    assert "Unknown fragment 'Missing'" in response.json()["errors"][0]["message"]


@pytest.fixture
async def production(api: Api) -> Api:
    """The same database behind an app configured for production."""
    settings = api.settings.model_copy(update={"app_env": "production"})
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    return Api(client, settings)


async def test_production_validation_messages_name_nothing_the_client_did_not_send(
    production: Api,
) -> None:
    store = await make_store()
    customer = await make_customer()
    data = purchase_input(store, customer, "10.00")
    del data["externalId"]
    cases = [
        (MERCHANTS, {"first": "100"}),
        (RECORD, {"input": data}),
        ("{ merchants { edges { cursor } } }", {}),
        ('{ merchants(first: "1") { edges { cursor } } }', {}),
        ("{ program { currencyCode nope } }", {}),
    ]
    token = writer(production, store)
    for query, variables in cases:
        response = await production.post(query, variables, token=token)
        assert response.status_code == 400, response.text
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
        assert error["locations"]
        for leak in ("Int", "RecordPurchaseInput", "MerchantConnection", "Program", "type"):
            assert leak not in error["message"], error["message"]
    await production.client.aclose()


async def test_an_admin_bounds_purchases_and_redemptions(api: Api) -> None:
    token = api.token_for(await make_admin())
    query = """mutation U($input: UpdateProgramInput!) { updateProgram(input: $input) {
        program { maxPurchaseTotal { amount } maxRedemptionAmount { amount } }
        userErrors { code field } } }"""
    answer = await api.gql(
        query,
        {"input": {"maxPurchaseTotal": {"amount": "50.00", "currencyCode": "USD"}}},
        token=token,
    )
    assert answer["data"]["updateProgram"]["program"] == {
        "maxPurchaseTotal": {"amount": "50.00"},
        "maxRedemptionAmount": {"amount": "10000.00"},
    }
    store = await make_store()
    customer = await make_customer()
    payload = await record(api, store, purchase_input(store, customer, "50.01"))
    assert [e["code"] for e in payload["userErrors"]] == ["INVALID_AMOUNT"]
    assert error_codes(answer) == []


@pytest.mark.parametrize(
    "document",
    [
        "query Q($a: Int = %s) { __typename }" % ("9" * 5_000),
        "query M { merchants(first: %s) { edges { cursor } } }" % ("9" * 5_000),
        "query M { merchants(first: 99999999999) { edges { cursor } } }",
    ],
)
async def test_an_integer_literal_beyond_any_int_is_a_validation_error(
    api: Api, document: str
) -> None:
    response = await api.post(document)
    assert response.status_code == 400, response.text
    assert set(error_codes(response.json())) == {"GRAPHQL_VALIDATION_FAILED"}


async def test_a_forged_cursor_refused_by_a_running_field_answers_200(api: Api) -> None:
    # Execution began (the field ran and refused its input): the GraphQL answer is a 200.
    response = await api.post(
        "query M($after: String) { merchants(first: 5, after: $after) { edges { cursor } } }",
        {"after": cursor_of(["x", "abc"])},
    )
    assert response.status_code == 200, response.text
    assert error_codes(response.json()) == ["INVALID_INPUT"]
    assert response.json()["errors"][0]["path"] == ["merchants"]
