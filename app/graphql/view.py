"""The HTTP and WebSocket endpoint: strawberry's ASGI view with our context, error
format and status codes."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from app.core.logging import request_id_var
from app.graphql.context import Context
from app.graphql.errors import PRE_EXECUTION_CODES, classify
from app.graphql.persisted_queries import NOT_FOUND, PersistedQueries, PersistedQueryError
from app.graphql.websocket import SubscriptionSocket
from app.settings import Settings

# Open subscriptions one socket may hold at once.
MAX_SUBSCRIPTIONS_PER_CONNECTION = 20


class GraphQLView(GraphQL):
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
        self.persisted_queries = PersistedQueries()

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET with only a persisted query hash is an operation, not a visit to the IDE.
        return super().should_render_graphql_ide(request) and (
            request.query_params.get("extensions") is None
        )

    async def execute_single(  # type: ignore[override]
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        persisted = (request_data.extensions or {}).get("persistedQuery")
        if isinstance(persisted, dict):
            try:
                query = self.persisted_queries.resolve(request_data.query, persisted)
            except PersistedQueryError as error:
                return ExecutionResult(data=None, errors=[error.error])
            if query is None:
                return ExecutionResult(data=None, errors=[NOT_FOUND])
            request_data = replace(request_data, query=query)
        return await super().execute_single(
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            root_value=root_value,
            request_data=request_data,
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            settings=self.settings,
            request_id=request_id_var.get() or "-",
        )

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
            data["errors"] = [classify(e, request_id) for e in result.errors]  # type: ignore[typeddict-item]
        if result.extensions:
            data["extensions"] = result.extensions
        return data

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if isinstance(response_data, dict) and _rejected_before_execution(response_data):
            response.status_code = 400
        return response


def _rejected_before_execution(data: GraphQLHTTPResponse) -> bool:
    errors: list[dict[str, Any]] = data.get("errors") or []  # type: ignore[assignment]
    return (
        data.get("data") is None
        and bool(errors)
        and all(e.get("extensions", {}).get("code") in PRE_EXECUTION_CODES for e in errors)
    )


__all__ = ["GraphQLError", "GraphQLView"]
