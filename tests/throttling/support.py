"""A Redis throttling backend for tests: skipped when Redis does not answer, a failure
under CI=true."""

from __future__ import annotations

import os

import pytest

from app.throttling.backends import RedisBackend
from tests.conftest import IN_CI

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def redis_backend_or_skip(prefix: str) -> RedisBackend:
    backend = RedisBackend(REDIS_URL, prefix=prefix)
    try:
        await backend.ping()
    except Exception as error:  # any failure to reach Redis
        await backend.close()
        message = f"Redis at {REDIS_URL} is not reachable ({type(error).__name__}: {error})"
        if IN_CI:
            pytest.fail(f"{message}; under CI=true this is a failure, not a skip")
        pytest.skip(f"{message}; set TEST_REDIS_URL to run the Redis backend tests")
    return backend


async def forget(backend: RedisBackend) -> None:
    """Delete the test's keys and close the client."""
    keys = [key async for key in backend.client.scan_iter(match=backend.prefix + "*")]
    if keys:
        await backend.client.delete(*keys)
    await backend.close()
