"""The typed per-request context: settings, the caller (decoded once, lazily) and
per-request DataLoaders (never shared between requests, so never between customers)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from app.accounts.tokens import Principal, principal_from_token
from app.core.errors import Unauthenticated
from app.settings import Settings

K = TypeVar("K")
V = TypeVar("V")

_UNSET: Any = object()


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | None
    settings: Settings
    request_id: str
    # The WebSocket's connection_init payload ({"Authorization": "Bearer …"}): browsers
    # cannot send headers on a WebSocket.
    connection_params: dict[str, Any] | None = None
    _principal: Any = field(default=_UNSET, repr=False)
    _loaders: dict[Callable[..., Any], DataLoader[Any, Any]] = field(default_factory=dict)

    @property
    def client_address(self) -> str:
        client = self.request.client
        return client.host if client else "unknown"

    @property
    def principal(self) -> Principal | None:
        """The caller, or None when no token was sent. A token that is sent but not
        valid is an error, never silently anonymous."""
        if self._principal is _UNSET:
            params = self.connection_params if isinstance(self.connection_params, dict) else {}
            header = params.get("Authorization") or self.request.headers.get("authorization")
            if not header:
                self._principal = None
            else:
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise Unauthenticated("Send the access token as 'Bearer <token>'.")
                self._principal = principal_from_token(self.settings, token.strip())
        return self._principal

    def loader(self, batch: Callable[[list[K]], Awaitable[list[V]]]) -> DataLoader[K, V]:
        """The request's DataLoader for `batch`, made on first use."""
        existing = self._loaders.get(batch)
        if existing is None:
            existing = DataLoader(load_fn=batch)
            self._loaders[batch] = existing
        return existing


Info = StrawberryInfo[Context, None]
