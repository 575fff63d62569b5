"""ASGI middleware: request ids, security headers, a body size limit and CORS."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable

from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import request_id_var

log = logging.getLogger(__name__)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
# GraphiQL (development only) loads its page script; every API answer needs nothing.
API_CSP = "default-src 'none'; frame-ancestors 'none'"


class PayloadTooLarge(Exception):
    """Raised from `receive` once the body has passed the limit: whoever reads it stops."""


def _too_large() -> JSONResponse:
    return JSONResponse(
        {
            "errors": [
                {
                    "message": "The request body is too large.",
                    "extensions": {"code": "PAYLOAD_TOO_LARGE"},
                }
            ]
        },
        status_code=413,
        # The rest of the body is never read: the connection cannot be reused.
        headers={"Connection": "close"},
    )


class RequestContextMiddleware:
    """Gives every request an id (the client's X-Request-Id when sane), echoes it, adds
    security headers to every response, and bounds every request body as it streams in:
    a declared Content-Length over the limit is refused before reading, and a body that
    grows past it (chunked, or longer than declared) is refused as soon as it does."""

    def __init__(self, app: ASGIApp, *, production: bool, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Added where the app did not set them, in this order (the CSP to non-HTML only).
        added = [*SECURITY_HEADERS.items(), ("Content-Security-Policy", API_CSP)]
        added.append(("Cache-Control", "no-store"))
        if production:
            added.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))
        self._added = [(name.lower().encode(), value.encode()) for name, value in added]

    def _with_headers(
        self, headers: Iterable[tuple[bytes, bytes]], request_id: str
    ) -> list[tuple[bytes, bytes]]:
        """A response's headers with its request id (replacing the app's) and the
        security headers it lacks."""
        found = [
            (name.lower(), value) for name, value in headers if name.lower() != b"x-request-id"
        ]
        present = {name for name, _ in found}
        html = any(
            name == b"content-type" and value.startswith(b"text/html") for name, value in found
        )
        found.append((b"x-request-id", request_id.encode("latin-1")))
        for name, value in self._added:
            if name not in present and not (html and name == b"content-security-policy"):
                found.append((name, value))
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_REQUEST_ID.match(given) else secrets.token_hex(16)
        token = request_id_var.set(request_id)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._with_headers(message.get("headers") or (), request_id)
            await send(message)

        try:
            if scope["type"] == "http":
                await self._bounded_http(scope, receive, send_with_headers, headers)
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            request_id_var.reset(token)

    async def _bounded_http(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]
    ) -> None:
        length = headers.get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.max_body_bytes:
            await _too_large()(scope, receive, send)
            return

        body = _BoundedBody(receive, send, self.max_body_bytes)
        try:
            await self.app(scope, body.receive, body.send)
        except PayloadTooLarge:
            if body.started:
                raise
        except ClientDisconnect:
            if body.started:
                raise
            # The client left before its answer: there is no one to answer.
            log.info("the client disconnected before the response")
            return
        if body.too_large and not body.started:
            await _too_large()(scope, receive, send)


class _BoundedBody:
    """One request's `receive` and `send`: the body refused (PayloadTooLarge) once it
    passes `max_bytes`, and the app's own answer held back after that."""

    def __init__(self, receive: Receive, send: Send, max_bytes: int) -> None:
        self._receive = receive
        self._send = send
        self.max_bytes = max_bytes
        self.received = 0
        self.too_large = False
        self.started = False

    async def receive(self) -> Message:
        if self.too_large:
            raise PayloadTooLarge
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                self.too_large = True
                raise PayloadTooLarge
        return message

    async def send(self, message: Message) -> None:
        if self.too_large and not self.started:
            # The app answered in spite of the refused body (it caught the error):
            # the client gets the 413 instead.
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


_VARY_ORIGIN = (b"vary", b"Origin")


class CrossOriginMiddleware(CORSMiddleware):
    """Starlette's CORS for requests that carry an Origin (from a browser). Those that do
    not (the mobile apps, partner systems: most requests) pass straight through: for them
    CORS only says that answers vary by origin, which this adds without parsing headers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(name == b"origin" for name, _ in scope["headers"]):
            await super().__call__(scope, receive, send)
            return

        async def send_varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _VARY_ORIGIN]
            await send(message)

        await self.app(scope, receive, send_varying)
