"""Partner systems: their OAuth clients (created, listed, disabled and rotated by admins)
and the client-credentials grant (RFC 6749 §4.4) that gives them access tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from app.accounts.models import PartnerClient
from app.accounts.tokens import issue_partner_token
from app.catalog import service as catalog
from app.catalog.errors import UnknownMerchant
from app.core import clock
from app.core.columns import fits_column
from app.core.errors import DomainError, ErrorCode, InputErrors, InvalidInput, NotFound
from app.core.pagination import Page, keyset_page
from app.settings import Settings
from app.throttling import service as throttling

SCOPES = ("purchases:write", "purchases:read", "redemptions:write", "offers:read")
CLIENT_ID_PREFIX = "pc_"
SECRET_PREFIX = "pcs_"
MAX_NAME = 100

# Failed client authentications at the token endpoint, per client id and address: past
# the limit that address may not try that client id for a while (its real servers,
# elsewhere, are not affected). Per address whatever the client ids: past the limit,
# failures answer 429, but a right secret still gets its token (see
# grant_client_credentials).
TOKEN_FAILURE_WINDOW = timedelta(minutes=15)
TOKEN_CLIENT_FAILURE_LIMIT = 10
TOKEN_FAILURE_LIMIT = 20

# Compared against when the client id is unknown, so both cases cost the same.
_DUMMY_SECRET_HASH = hashlib.sha256(b"no such client").hexdigest()


class InvalidScope(DomainError):
    code = ErrorCode.INVALID_SCOPE
    default_message = "Scopes are: " + ", ".join(SCOPES) + "."


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """A client and its secret: the secret is shown this once and stored only hashed."""

    client: PartnerClient
    client_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    expires_in: int
    scope: str


class OAuthError(Exception):
    """A token-endpoint error as RFC 6749 §5.2 names it."""

    def __init__(
        self, error: str, description: str, *, status: int = 400, retry_after: int | None = None
    ) -> None:
        self.error = error
        self.description = description
        self.status = status
        self.retry_after = retry_after
        super().__init__(description)


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    return secret, _hash_secret(secret)


def merchant_pk(global_id: str | None, *, field: list[str]) -> int | None:
    """The merchant behind an opaque id (or a plain number, for operators' commands)."""
    if global_id is None or not str(global_id).strip():
        return None
    text = str(global_id).strip()
    if text.isdigit() and len(text) <= 18:
        return int(text)
    return catalog.merchant_pk(text, field=field)


def clean_scopes(scopes: list[str], *, field: list[str]) -> list[str]:
    cleaned = sorted({scope.strip() for scope in scopes if scope.strip()})
    unknown = [scope for scope in cleaned if scope not in SCOPES]
    if unknown:
        raise InvalidScope(
            f"Unknown scope {', '.join(unknown)}; scopes are {', '.join(SCOPES)}.", field=field
        )
    if not cleaned:
        raise InvalidScope("Give the client at least one scope.", field=field)
    return cleaned


async def create_partner_client(
    *,
    name: str,
    scopes: list[str],
    merchant_id: int | None = None,
    field_prefix: tuple[str, ...] = ("input",),
) -> IssuedCredentials:
    """A new partner client with these scopes, optionally acting only for one merchant."""
    problems = InputErrors()
    clean_name = " ".join(name.split())
    if not clean_name or len(clean_name) > MAX_NAME:
        problems.add(
            InvalidInput(f"Between 1 and {MAX_NAME} characters.", field=[*field_prefix, "name"])
        )
    clean: list[str] = []
    with problems.catch():
        clean = clean_scopes(scopes, field=[*field_prefix, "scopes"])
    if merchant_id is not None and await catalog.get_merchant(merchant_id) is None:
        problems.add(UnknownMerchant(field=[*field_prefix, "merchantId"]))
    problems.raise_any()
    secret, secret_hash = _new_secret()
    now = clock.now()
    client = await PartnerClient.create(
        name=clean_name,
        client_id=CLIENT_ID_PREFIX + secrets.token_hex(12),
        secret_hash=secret_hash,
        scopes=" ".join(clean),
        merchant_id=merchant_id,
        created_at=now,
        secret_rotated_at=now,
    )
    return IssuedCredentials(client=client, client_id=client.client_id, client_secret=secret)


async def get_partner_client(client_pk: int) -> PartnerClient | None:
    return await PartnerClient.get_or_none(id=client_pk)


async def list_partner_clients(
    *, first: int, after: str | None, include_disabled: bool = True
) -> Page[PartnerClient]:
    query = PartnerClient.all() if include_disabled else PartnerClient.filter(disabled_at=None)
    return await keyset_page(query, first=first, after=after, order_by=("-id",))


async def _existing(client_pk: int) -> PartnerClient:
    client = await PartnerClient.get_or_none(id=client_pk)
    if client is None:
        raise NotFound("No partner client has this id.", field=["id"])
    return client


async def disable_partner_client(*, client_pk: int) -> PartnerClient:
    """The client can no longer get tokens, and the tokens it holds stop working."""
    await PartnerClient.filter(id=client_pk, disabled_at=None).update(disabled_at=clock.now())
    return await _existing(client_pk)


async def enable_partner_client(*, client_pk: int) -> PartnerClient:
    await PartnerClient.filter(id=client_pk).update(disabled_at=None)
    return await _existing(client_pk)


async def rotate_partner_client_secret(*, client_pk: int) -> IssuedCredentials:
    """A new secret; the old one, and the tokens issued with it, stop working at once."""
    client = await _existing(client_pk)
    secret, secret_hash = _new_secret()
    client.secret_hash = secret_hash
    client.secret_rotated_at = clock.now()
    await client.save(update_fields=["secret_hash", "secret_rotated_at"])
    return IssuedCredentials(client=client, client_id=client.client_id, client_secret=secret)


async def authenticate_client(*, client_id: str, client_secret: str) -> PartnerClient | None:
    """The enabled client with this id and secret, or None (the same work either way)."""
    known = client_id and fits_column(PartnerClient, "client_id", client_id)
    client = await PartnerClient.get_or_none(client_id=client_id) if known else None
    expected = client.secret_hash if client else _DUMMY_SECRET_HASH
    matches = hmac.compare_digest(expected, _hash_secret(client_secret))
    if client is None or not matches or client.disabled_at is not None:
        return None
    return client


def _too_many(decision: throttling.Decision) -> OAuthError:
    return OAuthError(
        "invalid_client",
        "Too many failed attempts; try again later.",
        status=429,
        retry_after=decision.retry_after_seconds,
    )


async def grant_client_credentials(
    *,
    settings: Settings,
    client_id: str,
    client_secret: str,
    scope: str | None,
    address: str | None,
) -> TokenGrant:
    """An access token for a partner client (client-credentials grant). `scope` narrows
    the client's scopes; omitted, the token carries all of them. Failures are throttled
    per client id and address (429 even for the right secret, from that address only)
    and per address (429 for failures; a right secret still gets its token)."""
    where = address or "unknown"
    client_key = f"oauth-token:client-address:{client_id[:128]}:{where}"
    address_key = f"oauth-token:address:{where}"
    # Counted before the secret is checked (taken back when it is right), so parallel
    # guesses cannot race past a limit.
    per_client = await throttling.hit(
        key=client_key, window=TOKEN_FAILURE_WINDOW, limit=TOKEN_CLIENT_FAILURE_LIMIT
    )
    if not per_client.allowed:
        raise _too_many(per_client)
    per_address = await throttling.hit(
        key=address_key, window=TOKEN_FAILURE_WINDOW, limit=TOKEN_FAILURE_LIMIT
    )
    client = await authenticate_client(client_id=client_id, client_secret=client_secret)
    if client is None:
        if not per_address.allowed:
            raise _too_many(per_address)
        raise OAuthError("invalid_client", "Client authentication failed.", status=401)
    # The address's cap does not stop a right secret: a secret is 256 random bits, so
    # checking it gives a guesser nothing, while refusing it would let anyone sharing
    # the address (or guessing other client ids from it) lock a partner out.
    await throttling.undo(key=client_key, decision=per_client)
    await throttling.undo(key=address_key, decision=per_address)

    granted = client.scope_list
    if scope is not None and scope.strip():
        requested = sorted(set(scope.split()))
        if not set(requested) <= set(granted):
            raise OAuthError("invalid_scope", "The client may not have the scope requested.")
        granted = requested
    token, _ = issue_partner_token(
        settings, client_id=client.id, scopes=granted, merchant_id=client.merchant_id
    )
    await PartnerClient.filter(id=client.id).update(last_token_at=clock.now())
    return TokenGrant(
        access_token=token, expires_in=settings.partner_token_ttl_seconds, scope=" ".join(granted)
    )
