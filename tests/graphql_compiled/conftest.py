"""The app without compiled documents, beside the one under test, on the same database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.main import create_app
from tests.support import Api


@pytest.fixture
async def uncompiled(api: Api, app_cache: dict[str, object]) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the same app with `COMPILED_DOCUMENTS=false`."""
    key = ("uncompiled", api.settings.database_url)
    if key not in app_cache:
        settings = api.settings.model_copy(update={"compiled_documents": False})
        app_cache[key] = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app_cache[key])  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
