"""A credential that was revoked reads nothing, whatever the path: the caller is established
once per request, before any field runs, so no field (not `node`, not a public query that
looks at the caller) can skip the check that its session or partner client still stands."""

from __future__ import annotations

from app.accounts.partners import disable_partner_client
from app.core.ids import encode_id
from tests.accounts.factories import make_partner_client, sign_up
from tests.cashback.factories import purchase_input
from tests.catalog.factories import make_store
from tests.factories import make_customer
from tests.redemptions.factories import give_credits, make_merchant
from tests.redemptions.operations import NODE, started
from tests.support import Api, error_codes

SIGN_OUT = """
mutation SignOut($refreshToken: String!) { signOut(refreshToken: $refreshToken) {
  userErrors { code } } }
"""
RECORD = """
mutation Record($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { purchase { id } userErrors { code field } } }
"""
PURCHASE_NODE = "query P($id: ID!) { node(id: $id) { id ... on Purchase { externalId } } }"
PREVIEW = """
query Preview($storeId: ID!, $customer: CustomerRefInput, $total: MoneyInput!) {
  cashbackPreview(storeId: $storeId, customer: $customer, total: $total) {
    cashback { amount } noCashbackReason } }
"""


async def test_a_signed_out_token_no_longer_reads_its_redemption_code_by_id(api: Api) -> None:
    # Given a customer with an open in-store redemption, read through node(id:)
    session = await sign_up(api, email="nora@example.com")
    customer_id = int(_subject(api, session["accessToken"]))
    await give_credits(_Row(customer_id), 5_000)
    merchant = await make_merchant()
    redemption = await started(
        api, session["accessToken"], encode_id("Merchant", merchant.id), "10.00"
    )
    before = await api.gql(NODE, {"id": redemption["id"]}, token=session["accessToken"])
    assert before["data"]["node"]["code"] == redemption["code"]

    # When the customer signs out
    await api.gql(SIGN_OUT, {"refreshToken": session["refreshToken"]})

    # Then the old access token, not yet expired, reads neither the redemption nor its code
    after = await api.post(NODE, {"id": redemption["id"]}, token=session["accessToken"])
    assert error_codes(after.json()) == ["UNAUTHENTICATED"]
    assert after.json()["data"] == {"node": None}
    assert redemption["code"] not in after.text


async def test_a_disabled_partner_client_reads_no_purchase_and_previews_nothing(
    api: Api,
) -> None:
    # Given a partner client that recorded a purchase with its token
    store = await make_store(percent="5")
    customer = await make_customer()
    credentials = await make_partner_client(
        ["purchases:write", "purchases:read"], merchant_id=store.merchant_id
    )
    token = api.partner_token(
        ["purchases:write", "purchases:read"],
        merchant_id=store.merchant_id,
        client_id=credentials.client.id,
    )
    recorded = await api.gql(
        RECORD, {"input": purchase_input(store, customer, "20.00")}, token=token
    )
    purchase_id = recorded["data"]["recordPurchase"]["purchase"]["id"]
    preview_input = {
        "storeId": encode_id("Store", store.id),
        "customer": {"email": customer.email},
        "total": {"amount": "20.00", "currencyCode": "USD"},
    }
    assert (await api.gql(PURCHASE_NODE, {"id": purchase_id}, token=token))["data"]["node"]
    assert (await api.gql(PREVIEW, preview_input, token=token))["data"]["cashbackPreview"]

    # When an admin disables the client
    await disable_partner_client(client_pk=credentials.client.id)

    # Then its unexpired token reads no purchase by id and cannot preview (nor learn
    # whether an email has an account)
    by_id = await api.gql(PURCHASE_NODE, {"id": purchase_id}, token=token)
    preview = await api.gql(PREVIEW, preview_input, token=token)
    assert error_codes(by_id) == ["UNAUTHENTICATED"]
    assert by_id["data"] == {"node": None}
    assert error_codes(preview) == ["UNAUTHENTICATED"]
    assert preview["data"] is None


def _subject(api: Api, token: str) -> str:
    from app.accounts.tokens import principal_from_token

    return str(principal_from_token(api.settings, token).subject_id)


class _Row:
    """What `give_credits` needs of a customer: its id."""

    def __init__(self, pk: int) -> None:
        self.id = pk
