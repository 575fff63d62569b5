"""The WebSocket at /graphql (graphql-transport-ws): subscriptions only.

Queries and mutations go over HTTP, where the request deadline, the body limits and the
status codes apply; over the socket they are refused. Every subscription establishes its
caller afresh (token expiry and session liveness, as an HTTP request does), its errors
go through the one error map, and a connection whose token expires or whose session ends
is closed with 4403. A subscribe message may carry a trusted document's hash alone
(`extensions.persistedQuery.sha256Hash`, as over HTTP); under `TRUSTED_DOCUMENTS_ONLY` any
other document gets an error `DOCUMENT_NOT_TRUSTED`. The server pings
(graphql-transport-ws `ping`) every `WS_PING_INTERVAL_SECONDS`; a client that has not
answered `pong` within `WS_PING_TIMEOUT_SECONDS` is dropped (4504), and with it its
subscriptions."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any, cast

from graphql import GraphQLError, GraphQLFormattedError, GraphQLSyntaxError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    Message,
    NextMessagePayload,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.aio import aclosing

from app.accounts.loaders import principals_alive
from app.accounts.tokens import Principal
from app.core import clock
from app.core.logging import request_id_var
from app.graphql.context import Context
from app.graphql.errors import DOCUMENT_NOT_TRUSTED, QUERY_TOO_COMPLEX, classify
from app.graphql.persisted_queries import NOT_FOUND
from app.graphql.trusted import NOT_TRUSTED_MESSAGE, digest, is_trusted, trusted_document

log = logging.getLogger(__name__)

# Close codes (graphql-transport-ws uses 44xx for the application's own reasons).
CLOSE_FORBIDDEN = 4403
CLOSE_BAD_REQUEST = 4400
CLOSE_PING_TIMEOUT = 4504
OPERATION_NOT_ALLOWED = "OPERATION_NOT_ALLOWED"
TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
MAX_OPERATION_ID_LENGTH = 128


class SubscriptionSocket(BaseGraphQLTransportWSHandler[Context, None]):
    """strawberry's graphql-transport-ws handler, with the caller checked per operation
    and for as long as the connection stays open."""

    context: Context
    _watchdog: asyncio.Task[None] | None = None
    _pinger: asyncio.Task[None] | None = None
    _ponged: asyncio.Event | None = None

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        if not self.connection_acknowledged or self._pinger is not None:
            return
        self._ponged = asyncio.Event()
        self._pinger = asyncio.create_task(self._ping())
        principal = self.context.established_principal
        if principal is not None:
            self._watchdog = asyncio.create_task(self._watch(principal))

    async def shutdown(self) -> None:
        for task in (self._watchdog, self._pinger):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        await super().shutdown()

    async def handle_pong(self, message: Any) -> None:
        if self._ponged is not None:
            self._ponged.set()

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.handle_invalid_message("Failed to parse message")
            return
        # The handler answers a type it does not know; what it reads is checked above.
        await super().handle_message(cast(Message, message))

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload: Any = message.get("payload")
        operation_id: Any = message.get("id")
        if (
            not isinstance(operation_id, str)
            or not 0 < len(operation_id) <= MAX_OPERATION_ID_LENGTH
            or not isinstance(payload, dict)
            or not isinstance(payload.get("query") or _sha256_of(payload), str)
            or not isinstance(payload.get("variables") or {}, dict)
            or not isinstance(payload.get("operationName") or "", str)
        ):
            await self.websocket.close(code=CLOSE_BAD_REQUEST, reason="Malformed subscribe")
            return
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and limit is not None
            and len(self.operations) >= limit
            and operation_id not in self.operations
        ):
            too_many = GraphQLError(
                f"At most {limit} subscriptions may be open on one connection.",
                extensions={"code": TOO_MANY_SUBSCRIPTIONS},
            )
            await self.send_message(
                {"id": operation_id, "type": "error", "payload": [self._format(too_many)]}
            )
            return
        if self.connection_acknowledged and not isinstance(payload.get("query"), str):
            # A trusted document's hash alone stands for its text.
            document = await trusted_document(str(_sha256_of(payload)).lower())
            if document is None:
                await self._send_unknown_hash(operation_id)
                return
            message = cast(SubscribeMessage, {**message, "payload": {**payload, "query": document}})
        await super().handle_subscribe(message)

    async def _send_unknown_hash(self, operation_id: str) -> None:
        if self.context.settings.trusted_documents_only:
            error = GraphQLError(NOT_TRUSTED_MESSAGE, extensions={"code": DOCUMENT_NOT_TRUSTED})
        else:
            error = NOT_FOUND
        await self.send_message(
            {"id": operation_id, "type": "error", "payload": [self._format(error)]}
        )

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        try:
            await self._run(operation)
        except asyncio.CancelledError:
            raise
        except Exception:  # the error map below covers execution; this is a last guard
            log.exception("subscription %s failed", operation.id)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)

    async def _run(self, operation: Operation[Context, None]) -> None:
        settings = self.context.settings
        if len(operation.query.encode()) > settings.max_document_bytes:
            too_large = GraphQLError(
                "The document is too large.", extensions={"code": QUERY_TOO_COMPLEX}
            )
            await self._send_errors(operation, [too_large])
            return
        if settings.trusted_documents_only and not await is_trusted(digest(operation.query)):
            untrusted = GraphQLError(NOT_TRUSTED_MESSAGE, extensions={"code": DOCUMENT_NOT_TRUSTED})
            await self._send_errors(operation, [untrusted])
            return
        context = self.context.for_operation()
        refused = await context.establish_caller()
        if refused is not None:
            # A token that expired or whose session ended ends the connection.
            await self.websocket.close(code=CLOSE_FORBIDDEN, reason=refused.message)
            return
        stream = await self.schema.stream(
            operation.query,
            variable_values=operation.variables,
            context_value=context,
            root_value=self.root_value,
            operation_name=operation.operation_name,
            allowed_operation_types=(OperationType.SUBSCRIPTION,),
        )
        async with aclosing(stream):
            first = True
            async for result in stream:
                if first and isinstance(result, PreExecutionError):
                    await self._refuse(operation, result.errors or [])
                    return
                if not isinstance(result, ExecutionResult):
                    return  # incremental delivery has no frame here; nothing is sent
                first = False
                body: NextMessagePayload = {"data": result.data}
                if result.errors:
                    body["errors"] = [self._format(error) for error in result.errors]
                await operation.send_operation_message(
                    {"id": operation.id, "type": "next", "payload": body}
                )
        await operation.send_operation_message({"id": operation.id, "type": "complete"})

    async def _refuse(
        self, operation: Operation[Context, None], errors: list[GraphQLError]
    ) -> None:
        first = errors[0] if errors else None
        if isinstance(first, GraphQLSyntaxError) or (
            first is not None and isinstance(first.original_error, CannotGetOperationTypeError)
        ):
            await self.websocket.close(code=CLOSE_BAD_REQUEST, reason="Malformed operation")
            self.operations.pop(operation.id, None)
            return
        await self._send_errors(operation, errors)

    async def _send_errors(
        self, operation: Operation[Context, None], errors: list[GraphQLError]
    ) -> None:
        await operation.send_operation_message(
            {"id": operation.id, "type": "error", "payload": [self._format(e) for e in errors]}
        )

    @staticmethod
    def _format(error: GraphQLError) -> GraphQLFormattedError:
        if isinstance(error.original_error, InvalidOperationTypeError):
            error = GraphQLError(
                "This WebSocket carries subscriptions only; send queries and mutations "
                "with POST /graphql.",
                nodes=error.nodes,
                extensions={"code": OPERATION_NOT_ALLOWED},
            )
        return classify(error, request_id_var.get())

    async def _watch(self, principal: Principal) -> None:
        """Close the connection when the token expires or the session ends; the session is
        re-checked every `ws_liveness_check_seconds`."""
        interval = self.context.settings.ws_liveness_check_seconds
        expires = principal.expires_at or float("inf")
        try:
            while True:
                left = expires - clock.now().timestamp()
                if left <= 0:
                    await self._close_forbidden("The access token has expired.")
                    return
                await asyncio.sleep(min(interval, left))
                still_valid = clock.now().timestamp() < expires
                if still_valid and not (await principals_alive([principal]))[0]:
                    await self._close_forbidden("The session has ended.")
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed check closes rather than leaves a socket unchecked
            log.exception("WebSocket liveness check failed")
            await self._close_forbidden("The session could not be confirmed.")

    async def _ping(self) -> None:
        """Ping every interval; drop a client that does not answer in time (its socket
        and subscriptions are then let go)."""
        settings = self.context.settings
        assert self._ponged is not None
        try:
            while True:
                await asyncio.sleep(settings.ws_ping_interval_seconds)
                self._ponged.clear()
                # Sending counts too: a client that reads nothing stalls the send.
                async with asyncio.timeout(settings.ws_ping_timeout_seconds):
                    await self.send_message({"type": "ping"})
                    await self._ponged.wait()
        except TimeoutError:
            log.info("a WebSocket client did not answer the ping in time; dropped")
            with suppress(Exception):
                await self.websocket.close(code=CLOSE_PING_TIMEOUT, reason="Ping timeout")
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket is gone: the handler's own loop ends it
            log.debug("WebSocket ping failed", exc_info=True)

    async def _close_forbidden(self, reason: str) -> None:
        with suppress(Exception):
            await self.websocket.close(code=CLOSE_FORBIDDEN, reason=reason)


def _sha256_of(payload: dict[str, Any]) -> object:
    """The hash of a subscribe payload's persisted query (`extensions.persistedQuery.
    sha256Hash`), when it has the form of one; else None."""
    extensions = payload.get("extensions")
    persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
    sha256 = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
    if isinstance(sha256, str) and len(sha256) == 64:
        return sha256
    return None
