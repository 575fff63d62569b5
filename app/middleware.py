"""ASGI middleware: request ids, security headers and a body size limit."""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import request_id_var

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


class RequestContextMiddleware:
    """Gives every request an id (the client's X-Request-Id when sane), echoes it, and
    adds security headers to every response."""

    def __init__(self, app: ASGIApp, *, production: bool, max_body_bytes: int) -> None:
        self.app = app
        self.production = production
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            if scope["type"] == "http":
                length = headers.get(b"content-length", b"0")
                if length.isdigit() and int(length) > self.max_body_bytes:
                    response = JSONResponse(
                        {
                            "errors": [
                                {
                                    "message": "The request body is too large.",
                                    "extensions": {"code": "PAYLOAD_TOO_LARGE"},
                                }
                            ]
                        },
                        status_code=413,
                        headers={"X-Request-Id": request_id},
                    )
                    await response(scope, receive, send)
                    return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    response_headers = MutableHeaders(scope=message)
                    response_headers["X-Request-Id"] = request_id
                    for name, value in SECURITY_HEADERS.items():
                        response_headers.setdefault(name, value)
                    content_type = response_headers.get("content-type", "")
                    if not content_type.startswith("text/html"):
                        response_headers.setdefault("Content-Security-Policy", API_CSP)
                    response_headers.setdefault("Cache-Control", "no-store")
                    if self.production:
                        response_headers.setdefault(
                            "Strict-Transport-Security", "max-age=63072000; includeSubDomains"
                        )
                await send(message)

            await self.app(scope, receive, send_with_headers)
        finally:
            request_id_var.reset(token)
