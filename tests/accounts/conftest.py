from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.throttling import service as throttling
from app.throttling.backends import DatabaseBackend


@pytest.fixture(autouse=True)
def database_throttling() -> Iterator[None]:
    """Throttling state in the test database (truncated before each test)."""
    throttling.use_backend(DatabaseBackend())
    yield
    throttling.use_backend(None)
