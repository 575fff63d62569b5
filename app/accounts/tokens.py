"""Access tokens: JWTs with pinned algorithms, every registered claim required, and a
`typ` per kind so a refresh or partner token never stands in for a customer's.

A customer's or admin's access token names its session (`sid`): ending the session
(sign-out, a reused refresh token, a password change) ends the token with it, checked
once per request (and per WebSocket operation) by `app.accounts.loaders.principals_alive`.
Refresh tokens are not JWTs: they are opaque random strings, stored hashed (see
`new_refresh_token`)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import jwt

from app.core import clock
from app.core.errors import Unauthenticated
from app.settings import Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

    # A shared secret (HS256) or a key pair's half.
    SigningKey: TypeAlias = bytes | Ed25519PrivateKey | RSAPrivateKey
    VerifyingKey: TypeAlias = bytes | Ed25519PublicKey | RSAPublicKey

ACCESS = "access"
PARTNER = "partner"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "typ"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a customer, an admin, or a partner system."""

    kind: str  # "CUSTOMER", "ADMIN" or "PARTNER"
    subject_id: int
    token_id: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    merchant_id: int | None = None
    session_id: int | None = None
    issued_at: int | None = None
    # When the token stops being valid (seconds since the epoch): an open WebSocket
    # closes then.
    expires_at: float | None = None

    @property
    def is_customer(self) -> bool:
        return self.kind == "CUSTOMER"

    @property
    def is_admin(self) -> bool:
        return self.kind == "ADMIN"

    @property
    def is_partner(self) -> bool:
        return self.kind == "PARTNER"


@dataclass(frozen=True, slots=True)
class SigningKeys:
    algorithm: str
    signing_key: SigningKey
    verifying_key: VerifyingKey
    key_id: str | None = None


def signing_keys(settings: Settings) -> SigningKeys:
    return _signing_keys(
        settings.jwt_secret, settings.jwt_private_key_file, settings.jwt_public_key_file
    )


@lru_cache(maxsize=8)
def _signing_keys(secret: str, private_file: str | None, public_file: str | None) -> SigningKeys:
    if private_file and public_file:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (
            Ed25519PrivateKey,
            Ed25519PublicKey,
        )
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
        from cryptography.hazmat.primitives.serialization import (
            load_pem_private_key,
            load_pem_public_key,
        )

        private = load_pem_private_key(Path(private_file).read_bytes(), None)
        public = load_pem_public_key(Path(public_file).read_bytes())
        kid = uuid.uuid5(uuid.NAMESPACE_URL, Path(public_file).read_text()).hex
        if isinstance(private, Ed25519PrivateKey):
            if not isinstance(public, Ed25519PublicKey):
                raise ValueError("JWT_PUBLIC_KEY_FILE must hold the Ed25519 public key")
            return SigningKeys("EdDSA", private, public, kid)
        if isinstance(private, RSAPrivateKey):
            if private.key_size < 2048:
                raise ValueError("RSA signing keys must have at least 2048 bits")
            if not isinstance(public, RSAPublicKey):
                raise ValueError("JWT_PUBLIC_KEY_FILE must hold the RSA public key")
            return SigningKeys("RS256", private, public, kid)
        raise ValueError("JWT_PRIVATE_KEY_FILE must hold an Ed25519 or RSA private key")
    return SigningKeys("HS256", secret.encode(), secret.encode())


def issue_token(
    settings: Settings,
    *,
    subject: str,
    typ: str,
    ttl: timedelta,
    extra: dict[str, object] | None = None,
) -> tuple[str, datetime, str]:
    """A signed token, its expiry and its id."""
    keys = signing_keys(settings)
    issued = clock.now()
    expires = issued + ttl
    token_id = uuid.uuid4().hex
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": subject,
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": token_id,
        "typ": typ,
        **(extra or {}),
    }
    headers = {"kid": keys.key_id} if keys.key_id else None
    token = jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm, headers=headers)
    return token, expires, token_id


def issue_access_token(
    settings: Settings, *, user_id: int, role: str, session_id: int | None = None
) -> tuple[str, datetime]:
    """A customer's or admin's access token; with `session_id`, it ends with that session."""
    extra: dict[str, object] = {"role": role}
    if session_id is not None:
        extra["sid"] = session_id
    token, expires, _ = issue_token(
        settings,
        subject=str(user_id),
        typ=ACCESS,
        ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        extra=extra,
    )
    return token, expires


REFRESH_TOKEN_PREFIX = "rt_"


def new_refresh_token() -> tuple[str, str]:
    """A refresh token (256 random bits) and the hash that is stored in its place."""
    token = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def public_jwks(settings: Settings) -> dict[str, list[dict[str, object]]]:
    """The JSON Web Key Set partners use to verify tokens: the public key when tokens are
    signed with a key pair; empty with HS256 (a shared secret is never published)."""
    keys = signing_keys(settings)
    key = keys.verifying_key
    if isinstance(key, bytes):  # HS256
        return {"keys": []}
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

    if isinstance(key, RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
    jwk.update({"kid": keys.key_id, "alg": keys.algorithm, "use": "sig"})
    return {"keys": [jwk]}


def issue_partner_token(
    settings: Settings, *, client_id: int, scopes: list[str], merchant_id: int | None
) -> tuple[str, datetime]:
    """A partner system's token (client-credentials grant): its scopes and merchant binding."""
    token, expires, _ = issue_token(
        settings,
        subject=str(client_id),
        typ=PARTNER,
        ttl=timedelta(seconds=settings.partner_token_ttl_seconds),
        extra={"scope": " ".join(sorted(scopes)), "merchant_id": merchant_id},
    )
    return token, expires


def _decode(keys: SigningKeys, audience: str, issuer: str, token: str) -> dict[str, object]:
    """The verified claims of `token`; Unauthenticated for anything not exactly right."""
    try:
        return jwt.decode(
            token,
            keys.verifying_key,
            algorithms=[keys.algorithm],
            audience=audience,
            issuer=issuer,
            # Times are checked below against the program's clock, which tests move.
            options={
                "require": REQUIRED_CLAIMS,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError:
        raise Unauthenticated("The access token is not valid.") from None


def _seconds(claim: object) -> float:
    """A time claim as seconds since the epoch; TypeError or ValueError if it is none."""
    if isinstance(claim, int | float | str):
        return float(claim)
    raise TypeError(f"not a time: {claim!r}")


def principal_from_token(settings: Settings, token: str) -> Principal:
    """Who `token` names, if it is signed with our keys for this service and valid now;
    Unauthenticated otherwise. Whether its session still stands is for the caller to ask."""
    principal, valid_from = _verified(
        token,
        settings.jwt_secret,
        settings.jwt_private_key_file,
        settings.jwt_public_key_file,
        settings.jwt_audience,
        settings.jwt_issuer,
    )
    if not (valid_from <= clock.now().timestamp() < (principal.expires_at or 0)):
        raise Unauthenticated("The access token has expired or is not valid yet.")
    return principal


# A client sends the same token with every request for as long as it lives, and checking
# its signature and claims costs more than answering a small query: a token that passed is
# remembered (by the keys and claims it passed with; at most this many, the least recently
# used forgotten first). One that fails raises, so it is never remembered, and the times
# are checked on every use.
VERIFIED_TOKENS = 16384


@lru_cache(maxsize=VERIFIED_TOKENS)
def _verified(
    token: str,
    secret: str,
    private_file: str | None,
    public_file: str | None,
    audience: str,
    issuer: str,
) -> tuple[Principal, float]:
    """The principal `token` names and when it starts being valid (seconds since the
    epoch), its signature and claims checked; Unauthenticated for anything not exactly
    right."""
    keys = _signing_keys(secret, private_file, public_file)
    claims = _decode(keys, audience, issuer, token)
    try:
        valid_from, expires = _seconds(claims["nbf"]), _seconds(claims["exp"])
    except (TypeError, ValueError):
        raise Unauthenticated("The access token is not valid.") from None
    sub = str(claims["sub"])
    if not sub.isdigit():
        raise Unauthenticated("The access token is not valid.")
    typ = claims["typ"]
    issued = claims["iat"]
    issued_at = int(issued) if isinstance(issued, int | float) else None
    if typ == ACCESS and claims.get("role") in ("CUSTOMER", "ADMIN"):
        session = claims.get("sid")
        if session is not None and (type(session) is not int or session <= 0):
            raise Unauthenticated("The access token is not valid.")
        principal = Principal(
            kind=str(claims["role"]),
            subject_id=int(sub),
            token_id=str(claims["jti"]),
            session_id=session,
            issued_at=issued_at,
            expires_at=expires,
        )
        return principal, valid_from
    if typ == PARTNER:
        scopes = frozenset(str(claims.get("scope", "")).split())
        merchant = claims.get("merchant_id")
        principal = Principal(
            kind="PARTNER",
            subject_id=int(sub),
            token_id=str(claims["jti"]),
            scopes=scopes,
            merchant_id=merchant if type(merchant) is int else None,
            issued_at=issued_at,
            expires_at=expires,
        )
        return principal, valid_from
    raise Unauthenticated("The access token is not valid.")
