"""Real server processes on the PostgreSQL test database, for the stories that need
several processes (concurrency across processes): started once per session, each its own
`python -m app serve`, always stopped."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.db import is_postgres
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SERVERS = 2
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        APP_ENV="test",
        DATABASE_URL=settings.database_url,
        JWT_SECRET=settings.jwt_secret,
        DB_POOL_MIN="2",
        DB_POOL_MAX="8",
        LOG_LEVEL="WARNING",
        WORKERS="1",
    )
    env.update(extra)
    return env


async def _spawn(
    settings: Settings, log: Path, **extra_env: str
) -> tuple[asyncio.subprocess.Process, str]:
    port = _free_port()
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "app", "serve", "--host", "127.0.0.1"),
            *("--port", str(port), "--workers", "1"),
            cwd=ROOT,
            env=_server_env(settings, **extra_env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


@asynccontextmanager
async def one_server(settings: Settings, **extra_env: str) -> AsyncIterator[str]:
    """The base URL of one server process on `settings`' database (already migrated), its
    environment as the session's servers' plus `extra_env`; stopped on leaving."""
    folder = Path(tempfile.mkdtemp(prefix="cashback-server-"))
    log = folder / "server.log"
    process, url = await _spawn(settings, log, **extra_env)
    try:
        await _wait_ready([(process, url, log)])
        yield url
    finally:
        await _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


async def _wait_ready(processes: list[tuple[asyncio.subprocess.Process, str, Path]]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(timeout=2.0) as client:
        for process, url, log in processes:
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"server {url} exited:\n{log.read_text()[-4000:]}")
                try:
                    if (await client.get(f"{url}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server {url} not ready:\n{log.read_text()[-4000:]}")
                await asyncio.sleep(0.2)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)


@dataclass(frozen=True)
class Server:
    url: str
    log: Path  # the process's stdout and stderr


@asynccontextmanager
async def running_servers(
    settings: Settings, count: int, *, env: dict[str, str] | None = None
) -> AsyncIterator[list[Server]]:
    """`count` server processes on `settings`' database (`env` overrides their environment),
    ready when entered and stopped on exit."""
    folder = Path(tempfile.mkdtemp(prefix="cashback-servers-"))
    processes: list[tuple[asyncio.subprocess.Process, str, Path]] = []
    try:
        for n in range(count):
            log = folder / f"server-{n}.log"
            process, url = await _spawn(settings, log, **(env or {}))
            processes.append((process, url, log))
        await _wait_ready(processes)
        yield [Server(url, log) for _, url, log in processes]
    finally:
        for process, _, _ in processes:
            await _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
async def servers(database: Settings) -> AsyncIterator[list[str]]:
    """Base URLs of two server processes sharing the PostgreSQL test database."""
    if not is_postgres(database.database_url):
        pytest.skip("the multi-process stories run on PostgreSQL")
    async with running_servers(database, SERVERS) as running:
        yield [server.url for server in running]
