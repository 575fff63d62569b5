"""Access tokens are refused unless exactly right (RFC 8725): the algorithm is pinned,
the signature and every registered claim are checked, and one kind of token never
stands in for another."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.core import clock
from app.main import create_app
from tests.accounts.factories import PASSWORD, make_partner_client, oauth_token, sign_up
from tests.conftest import TEST_SECRET, make_settings
from tests.factories import make_customer
from tests.support import Api, error_codes

ME = "query Me { viewer { email } }"


def claims_for(api: Api, user_id: int, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": api.settings.jwt_issuer,
        "aud": api.settings.jwt_audience,
        "sub": str(user_id),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "a" * 32,
        "typ": "access",
        "role": "CUSTOMER",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def signed(claims: dict[str, Any], key: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def hs256_by_hand(claims: dict[str, Any], key: bytes) -> str:
    """An HS256 token keyed with any bytes (PyJWT refuses a PEM key as an HMAC secret)."""
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


async def test_a_well_formed_token_is_accepted(api: Api) -> None:
    # The baseline the refusals below differ from by one thing each.
    customer = await make_customer()
    answer = await api.gql(ME, token=signed(claims_for(api, customer.id)))
    assert answer["data"]["viewer"]["email"] == customer.email


async def test_alg_none_is_refused(api: Api) -> None:
    customer = await make_customer()
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims_for(api, customer.id))}."
    assert error_codes(await api.gql(ME, token=token)) == ["UNAUTHENTICATED"]


async def test_a_tampered_signature_is_refused(api: Api) -> None:
    customer = await make_customer()
    other = await make_customer()
    token = signed(claims_for(api, customer.id))
    header, _, signature = token.split(".")
    # Someone else's id under the original signature.
    forged = f"{header}.{_b64(claims_for(api, other.id))}.{signature}"
    assert error_codes(await api.gql(ME, token=forged)) == ["UNAUTHENTICATED"]
    flipped = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert error_codes(await api.gql(ME, token=flipped)) == ["UNAUTHENTICATED"]


async def test_a_token_signed_with_another_key_is_refused(api: Api) -> None:
    customer = await make_customer()
    token = signed(claims_for(api, customer.id), key="another-secret-of-enough-length-0123456789")
    assert error_codes(await api.gql(ME, token=token)) == ["UNAUTHENTICATED"]


async def test_another_algorithm_is_refused_even_with_the_right_secret(api: Api) -> None:
    customer = await make_customer()
    token = signed(claims_for(api, customer.id), algorithm="HS512")
    assert error_codes(await api.gql(ME, token=token)) == ["UNAUTHENTICATED"]


async def test_an_expired_token_is_refused(api: Api) -> None:
    customer = await make_customer()
    now = int(time.time())
    token = signed(claims_for(api, customer.id, iat=now - 1000, nbf=now - 1000, exp=now - 1))
    assert error_codes(await api.gql(ME, token=token)) == ["UNAUTHENTICATED"]


async def test_a_token_not_yet_valid_is_refused(api: Api) -> None:
    customer = await make_customer()
    now = int(time.time())
    token = signed(claims_for(api, customer.id, nbf=now + 120, exp=now + 900))
    assert error_codes(await api.gql(ME, token=token)) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(("claim", "value"), [("iss", "someone-else"), ("aud", "another-api")])
async def test_a_token_for_another_issuer_or_audience_is_refused(
    api: Api, claim: str, value: str
) -> None:
    customer = await make_customer()
    token = signed(claims_for(api, customer.id, **{claim: value}))
    assert error_codes(await api.gql(ME, token=token)) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("claim", ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "typ"])
async def test_a_token_missing_a_required_claim_is_refused(api: Api, claim: str) -> None:
    customer = await make_customer()
    token = signed(claims_for(api, customer.id, **{claim: None}))
    assert error_codes(await api.gql(ME, token=token)) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    "changes",
    [{"typ": "refresh"}, {"typ": "partner", "role": None}, {"role": None}, {"role": "ROOT"}],
)
async def test_a_token_of_another_kind_or_role_is_refused(
    api: Api, changes: dict[str, Any]
) -> None:
    customer = await make_customer()
    answer = await api.gql(ME, token=signed(claims_for(api, customer.id, **changes)))
    assert error_codes(answer) in (["UNAUTHENTICATED"], ["FORBIDDEN"])
    assert answer["data"] is None


async def test_a_refresh_token_is_not_an_access_token(api: Api) -> None:
    session = await sign_up(api)
    answer = await api.gql(ME, token=session["refreshToken"])
    assert error_codes(answer) == ["UNAUTHENTICATED"]


async def test_a_partner_token_is_not_a_customer_token(api: Api) -> None:
    await make_customer()
    issued = await make_partner_client(["purchases:read", "purchases:write", "offers:read"])
    response = await oauth_token(
        api,
        grant_type="client_credentials",
        client_id=issued.client_id,
        client_secret=issued.client_secret,
    )
    partner_token = response.json()["access_token"]
    answer = await api.gql(ME, token=partner_token)
    assert error_codes(answer) == ["FORBIDDEN"]
    assert answer["data"] is None


async def test_a_customer_token_is_not_a_partner_token(api: Api) -> None:
    session = await sign_up(api)
    answer = await api.gql(
        'query P { purchase(storeId: "U3RvcmU6MQ", externalId: "A-1") { id } }',
        token=session["accessToken"],
    )
    assert error_codes(answer) == ["FORBIDDEN"]


# --- Key pairs: EdDSA tokens, the JWKS, and no algorithm confusion -----------------------


@pytest.fixture
def ed25519_files(tmp_path: Path) -> tuple[str, str, bytes]:
    private = Ed25519PrivateKey.generate()
    private_file = tmp_path / "jwt.key"
    public_file = tmp_path / "jwt.pub"
    private_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_file.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return str(private_file), str(public_file), public_file.read_bytes()


async def test_with_a_key_pair_tokens_are_eddsa_and_verifiable_from_the_jwks(
    db, ed25519_files: tuple[str, str, bytes]
) -> None:
    private_file, public_file, public_pem = ed25519_files
    settings = make_settings(
        db.database_url, jwt_private_key_file=private_file, jwt_public_key_file=public_file
    )
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        api = Api(client, settings)
        session = await sign_up(api, password=PASSWORD)
        token = session["accessToken"]
        assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
        assert (await api.gql(ME, token=token))["data"]["viewer"] is not None

        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert len(jwks["keys"]) == 1
        key = jwks["keys"][0]
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == (
            "OKP",
            "Ed25519",
            "EdDSA",
            "sig",
        )
        assert key["kid"] == jwt.get_unverified_header(token)["kid"]
        assert "d" not in key  # never the private part
        public = jwt.PyJWK(key).key
        claims = jwt.decode(token, public, algorithms=["EdDSA"], audience=settings.jwt_audience)
        assert claims["typ"] == "access"

        # HS256 keyed with the public key (algorithm confusion), or with the old shared
        # secret: both refused, the algorithm is pinned to EdDSA.
        user_claims = claims_for(api, int(claims["sub"]))
        confused = hs256_by_hand(user_claims, public_pem)
        assert error_codes(await api.gql(ME, token=confused)) == ["UNAUTHENTICATED"]
        shared = signed(user_claims, key=TEST_SECRET)
        assert error_codes(await api.gql(ME, token=shared)) == ["UNAUTHENTICATED"]


async def test_with_a_shared_secret_the_jwks_publishes_nothing(api: Api) -> None:
    response = await api.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json() == {"keys": []}


# --- a token that passed is remembered (app/accounts/tokens.py `_verified`) ----------------


def _counting_decode(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature is checked from now on."""
    checked: list[str] = []
    decode = jwt.decode

    def counted(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    return checked


async def test_a_token_is_checked_once_and_answered_from_memory_after(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await make_customer()
    checked = _counting_decode(monkeypatch)
    token = signed(claims_for(api, customer.id, jti="b" * 32))
    for _ in range(3):
        answer = await api.gql(ME, token=token)
        assert answer["data"]["viewer"]["email"] == customer.email
    assert checked == [token]


async def test_a_remembered_token_is_refused_once_it_expires(api: Api) -> None:
    customer = await make_customer()
    now = int(time.time())
    token = signed(claims_for(api, customer.id, jti="c" * 32, exp=now + 60))
    assert (await api.gql(ME, token=token))["data"]["viewer"]["email"] == customer.email
    clock.advance(timedelta(seconds=61))
    assert error_codes(await api.gql(ME, token=token)) == ["UNAUTHENTICATED"]


async def test_a_remembered_token_is_refused_where_another_secret_signs(api: Api, db: Any) -> None:
    customer = await make_customer()
    token = signed(claims_for(api, customer.id, jti="d" * 32))
    assert (await api.gql(ME, token=token))["data"]["viewer"]["email"] == customer.email
    # The same token, at a service keyed with another secret (a rotated one).
    settings = make_settings(db.database_url).model_copy(
        update={"jwt_secret": "a-rotated-secret-that-is-long-enough-0123456789"}
    )
    transport = httpx.ASGITransport(app=create_app(settings, manage_db=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert error_codes(await Api(client, settings).gql(ME, token=token)) == ["UNAUTHENTICATED"]


async def test_a_forged_token_is_refused_after_the_genuine_one_was_remembered(
    api: Api,
) -> None:
    customer = await make_customer()
    other = await make_customer()
    token = signed(claims_for(api, customer.id, jti="e" * 32))
    assert (await api.gql(ME, token=token))["data"]["viewer"]["email"] == customer.email
    header, _, signature = token.split(".")
    forged = f"{header}.{_b64(claims_for(api, other.id, jti='e' * 32))}.{signature}"
    assert error_codes(await api.gql(ME, token=forged)) == ["UNAUTHENTICATED"]
    # The genuine one still works.
    assert (await api.gql(ME, token=token))["data"]["viewer"]["email"] == customer.email
