"""In-store codes: 8 random digits from `secrets`, never stored in clear.

A code is kept twice, both under keys derived from a server secret that the database does
not hold: an HMAC-SHA256 digest to find the redemption by the code a cashier types, and an
AES-GCM sealed copy so the owner can be shown the code again while it is open (cleared
once the redemption closes). A copy of the database alone gives neither back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.settings import Settings

CODE_DIGITS = 8


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def normalize_code(raw: str) -> str | None:
    """The code as typed (spaces and dashes ignored), or None when it cannot be one."""
    code = "".join(raw.split()).replace("-", "")
    if len(code) != CODE_DIGITS or not code.isascii() or not code.isdigit():
        return None
    return code


@dataclass(frozen=True, slots=True)
class CodeKeys:
    """The two keys derived from the server secret: one to look codes up, one to seal
    them."""

    lookup: bytes
    sealing: AESGCM

    def digest(self, code: str) -> str:
        return hmac.new(self.lookup, code.encode(), hashlib.sha256).hexdigest()

    def seal(self, code: str, *, bound_to: str) -> str:
        """The code encrypted and bound to `bound_to` (what identifies its redemption), so
        a sealed code copied onto another row does not open."""
        nonce = secrets.token_bytes(12)
        sealed = self.sealing.encrypt(nonce, code.encode(), bound_to.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def unseal(self, sealed: str, *, bound_to: str) -> str | None:
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            return self.sealing.decrypt(raw[:12], raw[12:], bound_to.encode()).decode()
        except (InvalidTag, ValueError):
            return None


def keys_for(settings: Settings) -> CodeKeys:
    """The keys of the server secret: `REDEMPTION_CODE_SECRET` when the settings have one,
    else the JWT secret (both stay out of the database)."""
    secret = settings.redemption_code_secret or settings.jwt_secret
    return _keys(secret.encode())


@lru_cache(maxsize=4)
def _keys(secret: bytes) -> CodeKeys:
    lookup = hmac.new(secret, b"redemption-code-lookup-v1", hashlib.sha256).digest()
    sealing = hmac.new(secret, b"redemption-code-sealing-v1", hashlib.sha256).digest()
    return CodeKeys(lookup=lookup, sealing=AESGCM(sealing))
