"""`POST /oauth/token` (OAuth 2.0 client-credentials grant, RFC 6749 §4.4) and
`GET /.well-known/jwks.json` (the public key partners verify tokens with)."""

from __future__ import annotations

import base64
import binascii
from contextlib import aclosing
from urllib.parse import parse_qs, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.accounts.partners import OAuthError, grant_client_credentials
from app.accounts.tokens import public_jwks
from app.settings import Settings

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_FORM_BYTES = 8_192
MAX_CLIENT_ID_LENGTH = 40  # the column's width


def _error(error: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if error.status == 401:
        # RFC 6749 §5.2: a failed client authentication names the scheme to use.
        headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse(
        {"error": error.error, "error_description": error.description},
        status_code=error.status,
        headers=headers,
    )


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """(client_id, client_secret) from `Authorization: Basic ...` (each form-urlencoded
    before base64, RFC 6749 §2.3.1); None when there is no Basic header."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "Malformed Basic credentials.", status=401) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "Malformed Basic credentials.", status=401)
    return unquote_plus(client_id), unquote_plus(secret)


def _plausible_client_id(client_id: str) -> bool:
    return len(client_id) <= MAX_CLIENT_ID_LENGTH and client_id.isprintable()


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError(
            "invalid_request", "Send the parameters as application/x-www-form-urlencoded."
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise OAuthError("invalid_request", "The request is too large.")
    # Read as it streams and stop at the cap: a longer body is never read whole.
    chunks: list[bytes] = []
    size = 0
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                raise OAuthError("invalid_request", "The request is too large.")
            chunks.append(chunk)
    body = b"".join(chunks)
    try:
        parsed = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "The form could not be read.") from None
    repeated = [name for name, values in parsed.items() if len(values) > 1]
    if repeated:
        # RFC 6749 §3.2: parameters must not be included more than once.
        raise OAuthError("invalid_request", f"Repeated parameter: {', '.join(repeated)}.")
    return {name: values[0] for name, values in parsed.items()}


def routes(settings: Settings) -> list[BaseRoute]:
    async def token(request: Request) -> Response:
        try:
            form = await _form(request)
            credentials = _basic_credentials(request.headers.get("authorization", ""))
            in_form = "client_id" in form or "client_secret" in form
            if credentials and in_form:
                raise OAuthError(
                    "invalid_request", "Authenticate the client one way: Basic or form fields."
                )
            grant_type = form.get("grant_type")
            if not grant_type:
                raise OAuthError("invalid_request", "grant_type is missing.")
            if grant_type != "client_credentials":
                raise OAuthError(
                    "unsupported_grant_type", "Only grant_type=client_credentials is supported."
                )
            if credentials is None:
                if not form.get("client_id") or "client_secret" not in form:
                    raise OAuthError("invalid_client", "Client authentication failed.", status=401)
                credentials = (form["client_id"], form["client_secret"])
            if not _plausible_client_id(credentials[0]):
                # Never looked up: no client id has control characters or is this long.
                raise OAuthError("invalid_client", "Client authentication failed.", status=401)
            grant = await grant_client_credentials(
                settings=settings,
                client_id=credentials[0],
                client_secret=credentials[1],
                scope=form.get("scope"),
                address=request.client.host if request.client else None,
            )
        except OAuthError as error:
            return _error(error)
        return JSONResponse(
            {
                "access_token": grant.access_token,
                "token_type": "Bearer",
                "expires_in": grant.expires_in,
                "scope": grant.scope,
            },
            headers=NO_STORE,
        )

    async def jwks(request: Request) -> Response:
        return JSONResponse(public_jwks(settings), headers={"Cache-Control": "public, max-age=300"})

    return [
        Route("/oauth/token", token, methods=["POST"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    ]
