"""The contract's identity operations, as the clients ship them, and helpers to run them."""

from __future__ import annotations

import itertools
from typing import Any

from app.accounts.partners import IssuedCredentials, create_partner_client
from tests.support import Api

SIGN_UP = """
mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) {
    session { accessToken refreshToken accessTokenExpiresAt tokenType }
    userErrors { code field message }
  }
}
"""
SIGN_IN = """
mutation SignIn($input: SignInInput!) {
  signIn(input: $input) {
    session { accessToken refreshToken accessTokenExpiresAt tokenType }
    userErrors { code field message }
  }
}
"""
REFRESH = """
mutation RefreshSession($refreshToken: String!) {
  refreshSession(refreshToken: $refreshToken) {
    session { accessToken refreshToken accessTokenExpiresAt tokenType }
    userErrors { code field message }
  }
}
"""
SIGN_OUT = """
mutation SignOut($refreshToken: String!, $everywhere: Boolean) {
  signOut(refreshToken: $refreshToken, everywhere: $everywhere) {
    userErrors { code field message }
  }
}
"""
PROFILE = """
query Profile {
  viewer {
    id
    email
    displayName
    birthDate
    locale
    memberCode
    consents { personalization marketing updatedAt }
    referral { code invitedCount earned { amount currencyCode } }
  }
}
"""
UPDATE_PROFILE = """
mutation UpdateProfile($input: UpdateProfileInput!) {
  updateProfile(input: $input) {
    viewer { id displayName birthDate locale }
    userErrors { code field message }
  }
}
"""
UPDATE_CONSENTS = """
mutation UpdateConsents($input: ConsentsInput!) {
  updateConsents(input: $input) {
    consents { personalization marketing updatedAt }
    userErrors { code field message }
  }
}
"""
CREATE_PARTNER_CLIENT = """
mutation CreatePartnerClient($input: CreatePartnerClientInput!) {
  createPartnerClient(input: $input) {
    client { id name scopes }
    clientId
    clientSecret
    userErrors { code field message }
  }
}
"""

PASSWORD = "violet-kestrel-harbour"
_numbers = itertools.count(1)


def sign_up_input(**overrides: Any) -> dict[str, Any]:
    n = next(_numbers)
    fields: dict[str, Any] = {
        "email": f"member{n}@example.com",
        "password": PASSWORD,
        "displayName": f"Member {n}",
        "acceptTerms": True,
    }
    fields.update(overrides)
    return fields


async def sign_up(api: Api, **overrides: Any) -> dict[str, Any]:
    """Sign a new customer up through the API; their session's tokens."""
    answer = await api.gql(SIGN_UP, {"input": sign_up_input(**overrides)})
    payload = answer["data"]["signUp"]
    assert payload["userErrors"] == [], payload
    return payload["session"]


async def sign_in(api: Api, email: str, password: str = PASSWORD) -> dict[str, Any]:
    answer = await api.gql(SIGN_IN, {"input": {"email": email, "password": password}})
    return answer


async def refresh(api: Api, refresh_token: str) -> dict[str, Any]:
    answer = await api.gql(REFRESH, {"refreshToken": refresh_token})
    return answer["data"]["refreshSession"]


async def make_partner_client(
    scopes: list[str], *, merchant_id: int | None = None, name: str = "Till system"
) -> IssuedCredentials:
    return await create_partner_client(name=name, scopes=scopes, merchant_id=merchant_id)


async def oauth_token(api: Api, **form: str) -> Any:
    return await api.client.post("/oauth/token", data=form)
