"""The typed per-request context: settings, the caller (established once, before any
field runs, with its session confirmed alive) and per-request DataLoaders (never shared
between requests, so never between customers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension
from strawberry.types import Info as StrawberryInfo
from strawberry.types.graphql import OperationType

from app.accounts.loaders import confirm_caller
from app.accounts.tokens import Principal, principal_from_token
from app.core.errors import AccessError, Unauthenticated
from app.core.reads import shared_reads
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
    _caller_error: AccessError | None = field(default=None, repr=False)
    # The signed-in user's account row, read with the session check.
    _account: Any = field(default=None, repr=False)
    # The reads about the customer that ride with the session check (`app.core.reads`):
    # all when None; an operation that knows what it reads names them.
    caller_reads: frozenset[str] | None = None
    _loaders: dict[Callable[..., Any], DataLoader[Any, Any]] = field(default_factory=dict)

    @property
    def client_address(self) -> str:
        client = self.request.client
        return client.host if client else "unknown"

    async def establish_caller(self) -> AccessError | None:
        """Decode the caller's token and confirm that its session (or partner client)
        still stands: sign-out, a password change, a disabled client or a rotated secret
        take effect at once. Runs once, before any field (see `EstablishCaller`), so no
        field can skip it. Returns the reason a sent token is refused, if it is."""
        if self._principal is not _UNSET:
            return self._caller_error
        principal: Principal | None = None
        try:
            header = self._authorization()
            if header is not None:
                if not isinstance(header, str):  # a connection_init payload is any JSON
                    raise Unauthenticated("Send the access token as 'Bearer <token>'.")
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise Unauthenticated("Send the access token as 'Bearer <token>'.")
                principal = principal_from_token(self.settings, token.strip())
                alive, self._account = await confirm_caller(principal, self.caller_reads)
                if not alive:
                    raise Unauthenticated("This session has ended; sign in again.")
        except AccessError as error:
            principal, self._caller_error = None, error
        self._principal = principal
        return self._caller_error

    @property
    def established_principal(self) -> Principal | None:
        """The caller once established and accepted; None otherwise (never raises)."""
        if self._principal is _UNSET or self._caller_error is not None:
            return None
        return self._principal

    def for_operation(self) -> Context:
        """A fresh context for one operation on a WebSocket: the connection's request
        and token, but its own caller (checked anew) and its own loaders."""
        return replace(
            self,
            _principal=_UNSET,
            _caller_error=None,
            _account=None,
            _loaders={},
            caller_reads=None,
        )

    @property
    def principal(self) -> Principal | None:
        """The caller, or None when no token was sent. A token that is sent but not
        valid, or whose session has ended, is an error, never silently anonymous."""
        if self._principal is _UNSET:
            # Fields run only after `EstablishCaller`; reaching here is a wiring fault.
            raise RuntimeError("the caller is read before it was established")
        if self._caller_error is not None:
            raise self._caller_error
        return self._principal

    @property
    def caller_account(self) -> Any:
        """The signed-in user's account row as read when the caller was established
        (before any field ran), or None for a partner or an anonymous caller."""
        return self._account if self.established_principal is not None else None

    @property
    def caller(self) -> Principal:
        """The signed-in caller, for fields whose permission already requires one: the
        typed way for a resolver to read who is calling. Anonymous is Unauthenticated."""
        principal = self.principal
        if principal is None:
            raise Unauthenticated()
        return principal

    @property
    def sends_credentials(self) -> bool:
        """Whether the request carries a token (valid or not)."""
        return self._authorization() is not None

    def _authorization(self) -> Any:
        params = self.connection_params if isinstance(self.connection_params, dict) else {}
        header = params.get("Authorization") or self.request.headers.get("authorization")
        return header or None

    def loader(
        self, batch: Callable[[list[K]], Awaitable[Sequence[V | BaseException]]]
    ) -> DataLoader[K, V]:
        """The request's DataLoader for `batch`, made on first use. An exception `batch`
        returns for a key is raised by that key's `load`."""
        existing = self._loaders.get(batch)
        if existing is None:
            existing = DataLoader(load_fn=batch)
            self._loaders[batch] = existing
        return existing


Info = StrawberryInfo[Context, None]


class EstablishCaller(SchemaExtension):
    """Establishes the caller after the document is validated and before any resolver
    runs, for every operation over HTTP and WebSocket alike."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        query = self.execution_context.operation_type is OperationType.QUERY
        # The fields of a query read each shared row once (`app.core.reads`), the caller's
        # own row included.
        with shared_reads() if query else nullcontext():
            if isinstance(context, Context):
                await context.establish_caller()
            yield
