"""The HTTP and WebSocket endpoint: strawberry's ASGI view with our context, error
format and status codes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any, overload

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.unset import UNSET, UnsetType

from app.core.logging import request_id_var
from app.graphql import compiled
from app.graphql.context import Context
from app.graphql.errors import (
    DOCUMENT_NOT_TRUSTED,
    PRE_EXECUTION_CODES,
    QUERY_TOO_COMPLEX,
    SERVICE_UNAVAILABLE,
    TIMEOUT,
    classify,
)
from app.graphql.persisted_queries import (
    NOT_FOUND,
    PersistedQueries,
    PersistedQueryError,
    Resolved,
    utf8,
)
from app.graphql.trusted import NOT_TRUSTED_MESSAGE, digest, is_trusted, trusted_document
from app.graphql.websocket import SubscriptionSocket
from app.settings import Settings

log = logging.getLogger(__name__)

# Open subscriptions one socket may hold at once.
MAX_SUBSCRIPTIONS_PER_CONNECTION = 20

# An operation stopped at its deadline or by a database fault of the moment: the service
# could not answer, and the same request may be sent again.
TIMEOUT_STATUS = 503
# Refused as sent, before anything ran: the client must change the request.
_CLIENT_FAULT_CODES = PRE_EXECUTION_CODES | {"BAD_REQUEST", "PERSISTED_QUERY_NOT_SUPPORTED"}
_HTTP_ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
}


class GraphQLView(GraphQL[Context, None]):
    # The WebSocket carries subscriptions only, each with its caller checked.
    graphql_transport_ws_handler_class = SubscriptionSocket

    def __init__(self, schema: BaseSchema, *, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.app_env == "development" else None,
            allow_queries_via_get=True,
            # graphql-transport-ws only: the contract's protocol, and the one whose
            # handler checks the caller per operation (see app/graphql/websocket.py).
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
            # Pages of the web frontends may open the socket, as they may call over HTTP.
            allowed_origins=settings.cors_origins,
        )
        self.settings = settings
        self.persisted_queries = PersistedQueries(settings.persisted_query_cache_bytes)
        # Trusted documents answered by an executor of their own, by text and by hash.
        self.compiled = compiled.executors(schema, settings)
        self.compiled_by_hash = {digest(text): e for text, e in self.compiled.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self.compiled:
            await self._post(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A POST of a compiled document is answered by its executor before strawberry
        reads the request: what strawberry and `execute_single` would check first is
        checked in `_compiled_request`, and the document, a built-in trusted one within
        the limits, passes the rest. Anything else, or an executor that falls back, runs
        the standard way (the body is read once and kept by the request)."""
        request = Request(scope, receive)
        found = await self._compiled_request(request)
        if found is None:
            response = await self.run(request)
        else:
            executor, request_data = found
            sub_response = await self.get_sub_response(request)
            context = await self.get_context(request, sub_response)
            result, context = await self._run_compiled(executor, context, request_data)
            if result is None:
                request.state.compiled_fell_back = True  # not tried again
                response = await self.run(request, context)
            else:
                processed = await self.process_result(request, result)
                response = self.create_response(processed, sub_response)
        await response(scope, receive, send)

    async def _compiled_request(
        self, request: Request
    ) -> tuple[compiled.Executor, GraphQLRequestData] | None:
        """The executor and request of a plain JSON POST of a compiled document, sent as
        its text or as its hash alone; None for anything else (streamed answers, batches,
        persisted-query forms other than a known hash alone, JSON only `json` reads)."""
        headers = request.headers
        content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        accept = headers.get("accept", "")
        if content_type != "application/json" or "text/event-stream" in accept:
            return None
        if "multipart/mixed" in accept:
            return None
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        query, variables = data.get("query"), data.get("variables")
        extensions = data.get("extensions")
        if not isinstance(variables, dict | None) or not isinstance(extensions, dict | None):
            return None
        if extensions:
            persisted = extensions.get("persistedQuery")
            if query is not None or len(extensions) > 1 or not isinstance(persisted, dict):
                return None
            sha256 = persisted.get("sha256Hash")
            if persisted.get("version") != 1 or not isinstance(sha256, str):
                return None
            executor = self.compiled_by_hash.get(sha256.lower())
        else:
            executor = self.compiled.get(query) if isinstance(query, str) else None
        if executor is None:
            return None
        request_data = GraphQLRequestData(
            query=executor.document,
            variables=variables,
            operation_name=data.get("operationName"),
            extensions=extensions,
            protocol="http",
        )
        return executor, request_data

    async def _run_compiled(
        self, executor: compiled.Executor, context: Context, request_data: GraphQLRequestData
    ) -> tuple[ExecutionResult | None, Context]:
        """The executor's run, stopped at the deadline. (It only reads: a client that
        leaves meanwhile costs that read, so its disconnection is not watched.)"""
        try:
            async with asyncio.timeout(self.settings.request_timeout_seconds):
                return await executor.run(context, request_data)
        except TimeoutError:
            return self._timed_out(), context

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET with only a persisted query hash is an operation, not a visit to the IDE.
        return super().should_render_graphql_ide(request) and (
            request.query_params.get("extensions") is None
        )

    @overload
    async def run(
        self, request: Request, context: Context = UNSET, root_value: None = UNSET
    ) -> Response: ...

    @overload
    async def run(
        self, request: WebSocket, context: Context = UNSET, root_value: None = UNSET
    ) -> WebSocket: ...

    async def run(
        self,
        request: Request | WebSocket,
        context: Context = UNSET,
        root_value: None = UNSET,
    ) -> Response | WebSocket:
        try:
            return await super().run(request, context, root_value)
        except HTTPException as error:
            if self.is_websocket_request(request):
                raise
            # The same error shape as every other answer, not a bare text line.
            return _error_response(error.status_code, error.reason)

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        query = request_data.query
        if query is not None and _document_too_large(query, self.settings.max_document_bytes):
            # Refused before parsing: the parser and its caches never see it.
            return _error_result(
                f"The document is larger than {self.settings.max_document_bytes} bytes.",
                QUERY_TOO_COMPLEX,
            )
        resolved: Resolved | None = None
        persisted = (request_data.extensions or {}).get("persistedQuery")
        if isinstance(persisted, dict):
            try:
                resolved = await self._resolve_persisted(query, persisted)
            except PersistedQueryError as error:
                return ExecutionResult(data=None, errors=[error.error])
            if resolved is None and self.settings.trusted_documents_only:
                # Sending the document would not help: only trusted ones run.
                return _error_result(NOT_TRUSTED_MESSAGE, DOCUMENT_NOT_TRUSTED)
            if resolved is None:
                return ExecutionResult(data=None, errors=[NOT_FOUND])
            request_data = replace(request_data, query=resolved.document)
        if self.settings.trusted_documents_only and not await self._trusted(request_data, resolved):
            # Refused before parsing, whether sent as text, by hash or to be remembered.
            return _error_result(NOT_TRUSTED_MESSAGE, DOCUMENT_NOT_TRUSTED)
        result = await self._run_bounded(
            request,
            self._execute(
                request, request_adapter, sub_response, context, root_value, request_data
            ),
        )
        if resolved is not None and resolved.sent and _passed_validation(result):
            self.persisted_queries.remember(resolved)
        return result

    async def _execute(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """The operation: by its compiled executor when it has one that answers (see
        app/graphql/compiled), else by standard execution."""
        compiled = self.compiled.get(request_data.query) if request_data.query else None
        if compiled is not None and not getattr(request.state, "compiled_fell_back", False):
            answer, context = await compiled.run(context, request_data)
            if answer is not None:
                return answer
        return await super().execute_single(
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            root_value=root_value,
            request_data=request_data,
        )

    async def _resolve_persisted(
        self, query: str | None, persisted: dict[str, Any]
    ) -> Resolved | None:
        """The document a persisted-query request runs: sent with its hash, remembered in
        this process, or a trusted document (known to every process from the start, so a
        hash alone works on the first try). None when the hash is unknown everywhere."""
        resolved = self.persisted_queries.resolve(query, persisted)
        if resolved is not None:
            return resolved
        # `resolve` has checked the version and the hash's form.
        sha256 = str(persisted["sha256Hash"]).lower()
        document = await trusted_document(sha256)
        if document is None:
            return None
        return Resolved(document=document, digest=sha256, sent=False)

    @staticmethod
    async def _trusted(request_data: GraphQLRequestData, resolved: Resolved | None) -> bool:
        if resolved is not None:
            return await is_trusted(resolved.digest)
        if request_data.query is None:
            return True  # no document: strawberry refuses the request as it is
        return await is_trusted(digest(request_data.query))

    async def _run_bounded(
        self, request: Request, operation: Awaitable[ExecutionResult]
    ) -> ExecutionResult:
        """`operation`, cancelled at the deadline or as soon as the client disconnects.
        A cancelled service rolls its transaction back, so nothing is half-written."""
        work = asyncio.ensure_future(operation)
        client_gone = asyncio.ensure_future(_disconnected(request.receive))
        try:
            done, _ = await asyncio.wait(
                {work, client_gone},
                timeout=self.settings.request_timeout_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            client_gone.cancel()
            if not work.done():
                work.cancel()
                # Wait for the rollback, without raising the work's cancellation here.
                await asyncio.wait({work})
        if work in done:
            return work.result()
        if client_gone in done:
            # A GET's pending body may also have been refused while it was read.
            if (error := client_gone.exception()) is not None:
                raise error
            log.info("the client disconnected: the operation was stopped")
            raise ClientDisconnect
        return self._timed_out()

    def _timed_out(self) -> ExecutionResult:
        log.warning(
            "the operation passed its deadline of %ss and was stopped",
            self.settings.request_timeout_seconds,
        )
        return _error_result("The operation took too long and was stopped.", TIMEOUT)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            settings=self.settings,
            request_id=request_id_var.get() or "-",
        )

    def encode_json(self, data: object) -> str:
        # orjson: compact UTF-8 at several times json's speed (text, as the WebSocket
        # protocol sends text frames). A value it cannot encode (an integer beyond 64
        # bits) takes the standard encoder.
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    def parse_json(self, data: str | bytes) -> Any:
        # A request is an object (or a batch, a list, which strawberry refuses as such);
        # a string, number or null would reach strawberry's `.get` and fail there.
        found = super().parse_json(data)
        if not isinstance(found, dict | list):
            raise HTTPException(400, "The request body must be a JSON object.")
        return found

    def decode_json(self, data: str | bytes) -> object:
        # Hostile JSON fails beyond JSONDecodeError (nesting past the recursion limit,
        # integers past Python's digit limit): all of it is "not JSON", over HTTP and
        # over the WebSocket alike.
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError) as error:
            raise json.JSONDecodeError("The message is not valid JSON.", "", 0) from error

    async def on_ws_connect(self, context: Context) -> UnsetType | None:
        """A WebSocket whose connection_init carries a token that is not valid, expired
        or of an ended session is closed (4403); without a token it stays anonymous."""
        if await context.establish_caller() is not None:
            raise ConnectionRejectionError()
        return UNSET

    async def process_result(
        self, request: Request | WebSocket, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            request_id = request_id_var.get()
            data["errors"] = [classify(e, request_id) for e in result.errors]
        if result.extensions:
            data["extensions"] = result.extensions
        return data

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if isinstance(response_data, dict) and response_data.get("errors"):
            if _has_code(response_data, TIMEOUT) or _has_code(response_data, SERVICE_UNAVAILABLE):
                response.status_code = TIMEOUT_STATUS
            elif _rejected_before_execution(response_data):
                response.status_code = 400
        return response


def _errors(data: GraphQLHTTPResponse) -> list[dict[str, Any]]:
    """The answer's errors (each made by `classify`, a dict)."""
    return [e for e in data.get("errors") or [] if isinstance(e, dict)]


def _rejected_before_execution(data: GraphQLHTTPResponse) -> bool:
    errors = _errors(data)
    # An error with a `path` came from a field that ran: execution began, so 200.
    return (
        data.get("data") is None
        and bool(errors)
        and all(
            "path" not in e and e.get("extensions", {}).get("code") in _CLIENT_FAULT_CODES
            for e in errors
        )
    )


def _has_code(data: GraphQLHTTPResponse, code: str) -> bool:
    return any(e.get("extensions", {}).get("code") == code for e in _errors(data))


def _document_too_large(query: str, max_bytes: int) -> bool:
    # A character is at least one UTF-8 byte: only a short enough text needs encoding.
    return len(query) > max_bytes or len(utf8(query)) > max_bytes


def _passed_validation(result: ExecutionResult) -> bool:
    """Whether the document parsed and validated (whatever its resolvers then did)."""
    if isinstance(result, PreExecutionError):
        return False
    return not (
        result.data is None
        and any(
            (e.extensions or {}).get("code") in PRE_EXECUTION_CODES for e in result.errors or []
        )
    )


def _error_result(message: str, code: str) -> ExecutionResult:
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions={"code": code})])


def _error_response(status: int, message: str) -> JSONResponse:
    code = _HTTP_ERROR_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_SERVER_ERROR")
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
    )


async def _disconnected(receive: Receive) -> None:
    """Returns when the client disconnects. The body has been read by now (a GET's empty
    one may still be pending and is skipped)."""
    while (await receive())["type"] != "http.disconnect":
        pass


__all__ = ["GraphQLError", "GraphQLView"]
