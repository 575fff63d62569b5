"""Partner systems: admins manage their clients; clients get tokens with the OAuth 2.0
client-credentials grant; a token carries the client's scopes and merchant, and a
partner may do only what its scopes allow."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote

import httpx
import jwt

from app.accounts.loaders import principals_alive
from app.accounts.models import PartnerClient
from app.accounts.tokens import principal_from_token
from app.catalog.service import create_merchant
from app.core import clock
from app.core.ids import encode_id
from tests.accounts.factories import CREATE_PARTNER_CLIENT, make_partner_client, oauth_token
from tests.factories import make_admin, make_customer
from tests.support import Api, error_codes

PURCHASE = 'query P { purchase(storeId: "U3RvcmU6MQ", externalId: "A-1") { id } }'
CLIENTS = """
query Clients($first: Int!, $after: String) {
  partnerClients(first: $first, after: $after) {
    edges { node { id name clientId scopes enabled merchantId } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
DISABLE = """
mutation D($id: ID!) { disablePartnerClient(id: $id) {
  client { enabled disabledAt } userErrors { code field } } }
"""
ENABLE = "mutation E($id: ID!) { enablePartnerClient(id: $id) { client { enabled } } }"
ROTATE = """
mutation R($id: ID!) { rotatePartnerClientSecret(id: $id) {
  client { id } clientId clientSecret userErrors { code field } } }
"""


async def create_client(api: Api, token: str, **input_: object) -> dict:
    answer = await api.gql(CREATE_PARTNER_CLIENT, {"input": input_}, token=token)
    return answer["data"]["createPartnerClient"]


async def grant(api: Api, client_id: str, secret: str, **extra: str):
    return await oauth_token(
        api, grant_type="client_credentials", client_id=client_id, client_secret=secret, **extra
    )


# --- Admins manage clients ---------------------------------------------------------------


async def test_an_admin_creates_a_client_and_sees_its_secret_once(api: Api) -> None:
    admin = api.token_for(await make_admin())
    payload = await create_client(
        api, admin, name="Store tills", scopes=["purchases:write", "redemptions:write"]
    )
    assert payload["userErrors"] == []
    assert payload["client"]["name"] == "Store tills"
    assert payload["client"]["scopes"] == ["purchases:write", "redemptions:write"]
    secret = payload["clientSecret"]
    assert payload["clientId"].startswith("pc_") and len(secret) >= 43

    stored = await PartnerClient.get(client_id=payload["clientId"])
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (stored.secret_hash, stored.client_id)
    listed = await api.gql(CLIENTS, {"first": 10}, token=admin)
    nodes = [e["node"] for e in listed["data"]["partnerClients"]["edges"]]
    assert [(n["clientId"], n["enabled"]) for n in nodes] == [(payload["clientId"], True)]
    assert "clientSecret" not in str(listed)


async def test_invalid_client_input_is_refused_and_nothing_is_created(api: Api) -> None:
    admin = api.token_for(await make_admin())
    payload = await create_client(
        api,
        admin,
        name="  ",
        scopes=["purchases:write", "admin:everything"],
        merchantId=encode_id("Merchant", 999),
    )
    assert payload["clientSecret"] is None
    assert {tuple(e["field"]): e["code"] for e in payload["userErrors"]} == {
        ("input", "name"): "INVALID_INPUT",
        ("input", "scopes"): "INVALID_SCOPE",
        ("input", "merchantId"): "UNKNOWN_MERCHANT",
    }
    empty = await create_client(api, admin, name="Shop", scopes=[])
    assert [e["code"] for e in empty["userErrors"]] == ["INVALID_SCOPE"]
    assert await PartnerClient.all().count() == 0


async def test_only_admins_manage_clients(api: Api) -> None:
    customer = api.token_for(await make_customer())
    answer = await api.gql(
        CREATE_PARTNER_CLIENT,
        {"input": {"name": "Mine", "scopes": ["offers:read"]}},
        token=customer,
    )
    assert error_codes(answer) == ["FORBIDDEN"]
    partner = api.partner_token(["purchases:write"])
    assert error_codes(await api.gql(CLIENTS, {"first": 5}, token=partner)) == ["FORBIDDEN"]
    assert error_codes(await api.gql(CLIENTS, {"first": 5})) == ["UNAUTHENTICATED"]
    assert await PartnerClient.all().count() == 0


async def test_a_client_bound_to_a_merchant_gets_tokens_for_that_merchant(api: Api) -> None:
    admin = api.token_for(await make_admin())
    merchant = await create_merchant(name="Bakery", logo_url=None, cashback_percent=Decimal("2"))
    payload = await create_client(
        api,
        admin,
        name="Bakery till",
        scopes=["purchases:write"],
        merchantId=encode_id("Merchant", merchant.id),
    )
    assert payload["userErrors"] == []
    response = await grant(api, payload["clientId"], payload["clientSecret"])
    principal = principal_from_token(api.settings, response.json()["access_token"])
    assert (principal.kind, principal.merchant_id) == ("PARTNER", merchant.id)


async def test_disabling_a_client_stops_its_tokens_and_enabling_restores_them(api: Api) -> None:
    admin = api.token_for(await make_admin())
    payload = await create_client(api, admin, name="Shop", scopes=["purchases:read"])
    client_node = payload["client"]["id"]
    before = await grant(api, payload["clientId"], payload["clientSecret"])
    assert before.status_code == 200
    principal = principal_from_token(api.settings, before.json()["access_token"])

    disabled = await api.gql(DISABLE, {"id": client_node}, token=admin)
    assert disabled["data"]["disablePartnerClient"]["client"]["enabled"] is False
    refused = await grant(api, payload["clientId"], payload["clientSecret"])
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    # The token it already holds no longer counts as live.
    assert await principals_alive([principal]) == [False]

    await api.gql(ENABLE, {"id": client_node}, token=admin)
    assert (await grant(api, payload["clientId"], payload["clientSecret"])).status_code == 200
    assert await principals_alive([principal]) == [True]


async def test_rotating_a_secret_retires_the_old_one_and_its_tokens(api: Api) -> None:
    admin = api.token_for(await make_admin())
    payload = await create_client(api, admin, name="Shop", scopes=["offers:read"])
    old_token = (await grant(api, payload["clientId"], payload["clientSecret"])).json()
    old_principal = principal_from_token(api.settings, old_token["access_token"])

    # Token times are whole seconds: rotate in a later second than the old token's.
    clock.advance(timedelta(seconds=2))
    rotated = (await api.gql(ROTATE, {"id": payload["client"]["id"]}, token=admin))["data"][
        "rotatePartnerClientSecret"
    ]
    assert rotated["clientId"] == payload["clientId"]
    assert rotated["clientSecret"] != payload["clientSecret"]

    old = await grant(api, payload["clientId"], payload["clientSecret"])
    assert (old.status_code, old.json()["error"]) == (401, "invalid_client")
    new = await grant(api, payload["clientId"], rotated["clientSecret"])
    assert new.status_code == 200
    assert await principals_alive([old_principal]) == [False]
    new_principal = principal_from_token(api.settings, new.json()["access_token"])
    assert await principals_alive([new_principal]) == [True]


async def test_an_unknown_client_id_is_not_found(api: Api) -> None:
    admin = api.token_for(await make_admin())
    answer = await api.gql(DISABLE, {"id": encode_id("PartnerClient", 12345)}, token=admin)
    errors = answer["data"]["disablePartnerClient"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("NOT_FOUND", ["id"])]


# --- The token endpoint (RFC 6749 §4.4, errors as §5.2) ----------------------------------


async def test_a_client_gets_a_token_with_form_credentials(api: Api) -> None:
    issued = await make_partner_client(["purchases:read", "purchases:write"])
    response = await grant(api, issued.client_id, issued.client_secret)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == api.settings.partner_token_ttl_seconds
    assert body["scope"] == "purchases:read purchases:write"
    claims = jwt.decode(
        body["access_token"],
        api.settings.jwt_secret,
        algorithms=["HS256"],
        audience=api.settings.jwt_audience,
    )
    assert claims["typ"] == "partner"
    assert claims["sub"] == str(issued.client.id)
    assert (await PartnerClient.get(id=issued.client.id)).last_token_at is not None


async def test_a_client_gets_a_token_with_http_basic(api: Api) -> None:
    issued = await make_partner_client(["offers:read"])
    pair = f"{quote(issued.client_id)}:{quote(issued.client_secret)}"
    response = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()},
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "offers:read"


async def test_wrong_credentials_are_invalid_client(api: Api) -> None:
    issued = await make_partner_client(["offers:read"])
    for client_id, secret in [
        (issued.client_id, "pcs_wrong"),
        ("pc_unknown", issued.client_secret),
        (issued.client_id, ""),
    ]:
        response = await grant(api, client_id, secret)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic")
        assert "access_token" not in response.json()
    basic = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(b"pc_x:wrong").decode()},
    )
    assert (basic.status_code, basic.json()["error"]) == (401, "invalid_client")


async def test_malformed_requests_get_the_rfc_error_codes(api: Api) -> None:
    issued = await make_partner_client(["offers:read"])
    missing_grant = await oauth_token(
        api, client_id=issued.client_id, client_secret=issued.client_secret
    )
    assert (missing_grant.status_code, missing_grant.json()["error"]) == (400, "invalid_request")
    other_grant = await oauth_token(
        api,
        grant_type="password",
        client_id=issued.client_id,
        client_secret=issued.client_secret,
    )
    assert (other_grant.status_code, other_grant.json()["error"]) == (
        400,
        "unsupported_grant_type",
    )
    as_json = await api.client.post(
        "/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
        },
    )
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
    pair = base64.b64encode(f"{issued.client_id}:{issued.client_secret}".encode()).decode()
    two_ways = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": issued.client_id},
        headers={"Authorization": f"Basic {pair}"},
    )
    assert (two_ways.status_code, two_ways.json()["error"]) == (400, "invalid_request")
    assert (await api.client.get("/oauth/token")).status_code == 405


async def test_a_scope_the_client_does_not_have_is_invalid_scope(api: Api) -> None:
    issued = await make_partner_client(["offers:read"])
    response = await grant(
        api, issued.client_id, issued.client_secret, scope="offers:read purchases:write"
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_scope")


async def grant_from(api: Api, address: str, client_id: str, secret: str):
    """A token request from `address`."""
    app = api.client._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, client=(address, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )


async def test_guessing_one_clients_secret_is_stopped_at_that_address_only(api: Api) -> None:
    issued = await make_partner_client(["offers:read"])
    attacker, till_server = "203.0.113.66", "198.51.100.20"
    for _ in range(10):
        assert (await grant_from(api, attacker, issued.client_id, "pcs_guess")).status_code == 401

    # That address may not try this client for a while, right secret or not...
    throttled = await grant_from(api, attacker, issued.client_id, issued.client_secret)
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "invalid_client"
    assert 0 < int(throttled.headers["retry-after"]) <= 15 * 60
    # ...but the client's real servers, elsewhere, get their tokens.
    for _ in range(3):
        served = await grant_from(api, till_server, issued.client_id, issued.client_secret)
        assert served.status_code == 200
        assert served.json()["access_token"]
    # And the address is free again once the window has passed.
    clock.advance(timedelta(minutes=15, seconds=1))
    later = await grant_from(api, attacker, issued.client_id, issued.client_secret)
    assert later.status_code == 200


async def test_an_address_guessing_many_client_ids_gets_429_but_a_right_secret_still_works(
    api: Api,
) -> None:
    issued = await make_partner_client(["offers:read"])
    shared = "198.51.100.99"  # an office or a cloud NAT: the attacker and a real partner
    for n in range(20):
        guess = await grant_from(api, shared, f"pc_guess{n:04}", "pcs_guess")
        assert guess.status_code == 401

    refused = await grant_from(api, shared, "pc_guess9999", "pcs_guess")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    # A wrong secret for the real client is refused too...
    assert (await grant_from(api, shared, issued.client_id, "pcs_guess")).status_code == 429
    # ...but its right secret, from the same address, gets a token.
    served = await grant_from(api, shared, issued.client_id, issued.client_secret)
    assert served.status_code == 200
    assert principal_from_token(api.settings, served.json()["access_token"]).subject_id == (
        issued.client.id
    )
    assert (await PartnerClient.get(id=issued.client.id)).last_token_at is not None


async def test_a_right_secret_takes_back_its_attempt(api: Api) -> None:
    issued = await make_partner_client(["offers:read"])
    for _ in range(9):
        assert (await grant(api, issued.client_id, "pcs_guess")).status_code == 401
    for _ in range(5):
        assert (await grant(api, issued.client_id, issued.client_secret)).status_code == 200
    assert (await grant(api, issued.client_id, "pcs_guess")).status_code == 401
    assert (await grant(api, issued.client_id, issued.client_secret)).status_code == 429


# --- Scopes are enforced -----------------------------------------------------------------


async def test_a_partner_may_do_only_what_its_token_scopes_allow(api: Api) -> None:
    issued = await make_partner_client(["offers:read", "purchases:read"])

    narrowed = await grant(api, issued.client_id, issued.client_secret, scope="offers:read")
    assert narrowed.json()["scope"] == "offers:read"
    refused = await api.gql(PURCHASE, token=narrowed.json()["access_token"])
    assert error_codes(refused) == ["FORBIDDEN"]
    assert (refused["data"] or {}).get("purchase") is None

    full = await grant(api, issued.client_id, issued.client_secret)
    allowed = await api.gql(PURCHASE, token=full.json()["access_token"])
    assert "FORBIDDEN" not in error_codes(allowed)
    assert "UNAUTHENTICATED" not in error_codes(allowed)


async def test_a_partner_token_cannot_use_customer_or_admin_operations(api: Api) -> None:
    issued = await make_partner_client(["purchases:write", "purchases:read", "offers:read"])
    token = (await grant(api, issued.client_id, issued.client_secret)).json()["access_token"]
    for operation in (
        "query Me { viewer { id } }",
        "mutation U { updateConsents(input: {personalization: true, marketing: true}) "
        "{ userErrors { code } } }",
        "query C { partnerClients(first: 1) { edges { node { id } } } }",
    ):
        answer = await api.gql(operation, token=token)
        assert error_codes(answer) == ["FORBIDDEN"], operation
