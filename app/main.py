"""`create_app(settings)`: the Starlette application."""

from __future__ import annotations

import gc
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from app import db
from app.core.logging import configure_logging
from app.features import feature_modules
from app.graphql.metrics import REGISTRY
from app.graphql.schema import build_schema
from app.graphql.view import GraphQLView
from app.middleware import CrossOriginMiddleware, RequestContextMiddleware
from app.notifications import live
from app.settings import Settings, get_settings
from app.throttling import service as throttling

log = logging.getLogger(__name__)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await db.ping()
    except Exception:  # any failure means "not ready", never a 500
        log.warning("readiness check failed", exc_info=True)
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ready"})


def metrics_endpoint(token: str | None) -> Callable[[Request], Awaitable[Response]]:
    """GET /metrics: open when `token` is unset, else only with `Bearer <token>`."""
    expected = f"Bearer {token}".encode() if token else None

    async def metrics(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode("latin-1")
            if not hmac.compare_digest(given, expected):
                return JSONResponse(
                    {"error": "unauthorized"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return metrics


def _freeze_startup_objects() -> None:
    """Keep what the process built to serve (modules, the schema, the ORM's models: about
    120,000 objects) out of the collector's full passes. Each full pass otherwise walks them
    all, stopping every request in flight for tens of milliseconds: the tail latency."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *, manage_db: bool = True) -> Starlette:
    """The ASGI app. With `manage_db`, its lifespan opens and closes the database
    (tests open it themselves)."""
    settings = settings or get_settings()
    configure_logging(json_logs=settings.is_production, level=settings.log_level)
    throttling.configure(settings)
    graphql = GraphQLView(build_schema(settings), settings=settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_db:
            await db.init_db(settings)
            # Balance changes heard from the start (else from the first subscriber on).
            await live.start(settings)
            _freeze_startup_objects()
        try:
            yield
        finally:
            await live.stop()
            if manage_db:
                gc.unfreeze()
                await db.close_db()

    feature_routes: list[BaseRoute] = [
        route for module in feature_modules("routes") for route in module.routes(settings)
    ]
    routes: list[BaseRoute] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint(settings.metrics_token), methods=["GET"]),
        *feature_routes,
    ]
    middleware = [
        Middleware(
            RequestContextMiddleware,
            production=settings.is_production,
            max_body_bytes=settings.max_body_bytes,
        ),
        Middleware(
            CrossOriginMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            expose_headers=["X-Request-Id"],
            max_age=600,
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.settings = settings
    return app
