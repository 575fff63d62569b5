"""Device tokens: a client's proof that it signed in on this device before.

Signing in (and signing up, and changing the password) answers a device token; the client
keeps it and sends it with later sign-ins. A device that proves itself this way is judged
by its own failures only, so someone guessing the account's password from elsewhere
cannot lock its owner out (OWASP, "Slow Down Online Guessing Attacks with Device
Cookies").

A token is `dt1.<user id>.<issued at>.<nonce>.<mac>`: nothing is stored, the server's
secret signs it. It stops being trusted after a year, and when the account's password
changes after it was issued (whoever held the old password may hold a token too).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from app.core import clock
from app.settings import Settings

PREFIX = "dt1"
LIFETIME = timedelta(days=365)
MAX_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Device:
    """What a valid device token says: whose device, since when, and which one."""

    user_id: int
    issued_at: int
    nonce: str

    def trusted_for(self, user_id: int, password_changed_at: datetime | None) -> bool:
        """Whether this device may sign in to `user_id` as a known device."""
        if user_id != self.user_id:
            return False
        return password_changed_at is None or self.issued_at >= int(password_changed_at.timestamp())


@lru_cache(maxsize=4)
def _key(secret: bytes) -> bytes:
    return hmac.new(secret, b"device-token-v1", hashlib.sha256).digest()


def _mac(settings: Settings, body: str) -> str:
    # With a key pair JWT_SECRET may stay at its public default; REDEMPTION_CODE_SECRET is
    # then required, so it signs.
    secret = (settings.redemption_code_secret or settings.jwt_secret).encode()
    digest = hmac.new(_key(secret), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_device_token(settings: Settings, *, user_id: int) -> str:
    """A new device token for a device that has just proved the user's password."""
    body = f"{PREFIX}.{user_id}.{int(clock.now().timestamp())}.{secrets.token_urlsafe(12)}"
    return f"{body}.{_mac(settings, body)}"


def read_device_token(settings: Settings, token: str | None) -> Device | None:
    """The device a token names, or None when it is missing, forged or too old."""
    if not token or len(token) > MAX_LENGTH:
        return None
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != PREFIX:
        return None
    body, mac = token.rsplit(".", 1)
    if not hmac.compare_digest(mac.encode(), _mac(settings, body).encode()):
        return None
    _, user_id, issued_at, nonce, _ = parts
    if not (user_id.isdigit() and issued_at.isdigit()):
        return None
    issued = int(issued_at)
    if issued + LIFETIME.total_seconds() < clock.now().timestamp():
        return None
    return Device(user_id=int(user_id), issued_at=issued, nonce=nonce)
