"""`GET /dashboard` (the page) and `GET /dashboard/static/...` (its scripts, styles and
the vendored chart library), with a Content-Security-Policy that allows only itself.

Files are read once at start-up. The page names each asset with `?v=<its hash>`: a
request with the current hash may be cached for a year, any other revalidates by ETag.

The page sends its GraphQL operations (documents.graphql beside this file) by their hash
alone: `documents.js`, made here at start-up, maps each operation's name to the SHA-256 of
its text, computed as the built-in trusted documents are (app/graphql/trusted.py). The
page works whether or not only trusted documents may run."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.graphql.trusted import digest, documents_of
from app.settings import Settings

STATIC = Path(__file__).parent / "static"
DOCUMENTS = Path(__file__).parent / "documents.graphql"
PREFIX = "/dashboard/static/"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"  # may be stored, but asked again (a 304 when unchanged)


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str  # the first hex digits of the content's SHA-256

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def _asset(body: bytes, media_type: str) -> Asset:
    return Asset(body, media_type, hashlib.sha256(body).hexdigest()[:16])


def load_assets(folder: Path = STATIC) -> dict[str, Asset]:
    """Every servable file under `folder` by its path relative to it: only known web
    types (the page itself, LICENSE and VERSION are not assets)."""
    return {
        path.relative_to(folder).as_posix(): _asset(path.read_bytes(), MEDIA_TYPES[path.suffix])
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix in MEDIA_TYPES
    }


def document_hashes(path: Path = DOCUMENTS) -> dict[str, str]:
    """The SHA-256 of each operation the page sends, by the operation's name."""
    return {
        entry["name"]: digest(entry["document"])
        for entry in documents_of(path.read_text(encoding="utf-8"), where=str(path))
    }


def documents_script(hashes: dict[str, str]) -> Asset:
    body = (
        "// Made by the server from app/dashboard/documents.graphql: each operation's hash.\n"
        '"use strict";\n'
        "window.Dashboard = window.Dashboard || {};\n"
        f"window.Dashboard.documents = Object.freeze({json.dumps(hashes, indent=2)});\n"
    )
    return _asset(body.encode(), MEDIA_TYPES[".js"])


def served_assets() -> dict[str, Asset]:
    """The files under static/ and the operations' hashes (`documents.js`)."""
    return {**load_assets(), "documents.js": documents_script(document_hashes())}


def render_page(template: str, assets: dict[str, Asset]) -> Asset:
    """The page with each asset's URL versioned by its content."""
    for name, asset in assets.items():
        template = template.replace(f'"{PREFIX}{name}"', f'"{PREFIX}{name}?v={asset.version}"')
    return _asset(template.encode(), "text/html; charset=utf-8")


def _headers(asset: Asset, cache_control: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": cache_control,
        "ETag": asset.etag,
    }


def _answer(request: Request, asset: Asset, cache_control: str) -> Response:
    headers = _headers(asset, cache_control)
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def _not_found() -> Response:
    return Response(
        "Not found.\n",
        status_code=404,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"},
    )


def routes(settings: Settings) -> list[BaseRoute]:
    assets = served_assets()
    page = render_page((STATIC / "index.html").read_text(), assets)

    async def dashboard(request: Request) -> Response:
        return _answer(request, page, REVALIDATE)

    async def static(request: Request) -> Response:
        asset = assets.get(request.path_params["path"])
        if asset is None:
            return _not_found()
        current = request.query_params.get("v") == asset.version
        return _answer(request, asset, IMMUTABLE if current else REVALIDATE)

    return [
        Route("/dashboard", dashboard, methods=["GET"]),
        Route(PREFIX + "{path:path}", static, methods=["GET"]),
    ]
