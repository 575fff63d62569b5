"""Helpers of the trusted-documents stories: the built-in documents by name, and request
bodies as clients send them (the text, or the hash alone)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from app.graphql.trusted import BUILT_IN, digest
from app.main import create_app
from tests.conftest import make_settings
from tests.support import Api


def built_in(name: str) -> tuple[str, str]:
    """The hash and text of the built-in document named `name`."""
    (found,) = [(sha, e["document"]) for sha, e in BUILT_IN.items() if e["name"] == name]
    return found


def by_hash(sha256: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "variables": variables or {},
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256}},
    }


def by_text(document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"query": document, "variables": variables or {}}


def registering(document: str) -> dict[str, Any]:
    """An automatic persisted query's registration: the text with its hash."""
    return {"query": document, **by_hash(digest(document))}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def client_of(api: Api, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of another app on the same database, with `settings` changed."""
    app = create_app(make_settings(api.settings.database_url, **settings), manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
