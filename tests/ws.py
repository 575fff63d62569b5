"""A WebSocket client for ASGI apps in the test's own event loop (httpx speaks no
WebSocket), so the app shares the test's database connections."""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any

from starlette.types import ASGIApp, Message

GRAPHQL_TRANSPORT_WS = "graphql-transport-ws"


class Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


class WebSocketSession:
    def __init__(
        self,
        app: ASGIApp,
        path: str = "/graphql",
        *,
        subprotocols: tuple[str, ...] = (GRAPHQL_TRANSPORT_WS,),
        headers: dict[str, str] | None = None,
        receive_buffer: int = 0,
    ) -> None:
        """`receive_buffer`: how many messages the client holds unread before the app's
        send waits (0: no bound), to stand for a client that stops reading."""
        self.app = app
        self.scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "http_version": "1.1",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
            "subprotocols": list(subprotocols),
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue(maxsize=receive_buffer)
        self._task: asyncio.Task[None] | None = None
        self.accepted_subprotocol: str | None = None

    async def __aenter__(self) -> WebSocketSession:
        self._task = asyncio.create_task(
            self.app(self.scope, self._to_app.get, self._from_app.put)  # type: ignore[arg-type]
        )
        await self._to_app.put({"type": "websocket.connect"})
        message = await self._next()
        if message["type"] == "websocket.close":
            raise Closed(message.get("code", 1000), message.get("reason", ""))
        assert message["type"] == "websocket.accept", message
        self.accepted_subprotocol = message.get("subprotocol")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._to_app.put({"type": "websocket.disconnect", "code": 1000})
        assert self._task is not None
        try:
            await asyncio.wait_for(self._task, 5)
        except TimeoutError:
            self._task.cancel()
            raise

    async def send_json(self, data: Any) -> None:
        await self.send_text(json.dumps(data))

    async def send_text(self, text: str) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": text})

    async def receive_json(self, wait: float = 5) -> Any:
        """The next message; Closed when the server closed the socket instead."""
        message = await self._next(wait)
        if message["type"] == "websocket.close":
            raise Closed(message.get("code", 1000), message.get("reason", ""))
        return json.loads(message["text"])

    async def closed(self, wait: float = 5) -> Closed:
        """Wait until the server closes the socket, skipping other messages."""
        while True:
            try:
                await self.receive_json(wait)
            except Closed as closed:
                return closed

    async def init(self, payload: dict[str, Any] | None = None) -> Any:
        await self.send_json({"type": "connection_init", "payload": payload or {}})
        return await self.receive_json()

    async def subscribe(self, operation_id: str, query: str, **variables: Any) -> None:
        await self.send_json(
            {
                "id": operation_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables},
            }
        )

    async def _next(self, wait: float = 5) -> Message:
        return await asyncio.wait_for(self._from_app.get(), wait)
