"""The command line where production differs: `serve` believes X-Forwarded-For only from
the proxies it is told to trust, and `seed-demo` never writes its public-password
accounts into a production database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import app.__main__ as cli_module
from app.settings import Settings
from tests.test_cli import ROOT, cli

PRODUCTION_SECRET = "a-production-secret-that-is-long-enough-0123456789"


# --- serve: who the client is ----------------------------------------------------------------


def serve_options(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """What `python -m app serve` passes to uvicorn, under `env`."""
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(cli_module, "get_settings", lambda: Settings(app_env="test"))
    captured: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: captured.update(options))
    assert cli_module.main(["serve"]) == 0
    return captured


async def client_seen_behind(options: dict[str, Any], *, peer: str, forwarded_for: str) -> str:
    """The client address an app gets from uvicorn configured with `options`."""
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["client"][0])

    keep = ("proxy_headers", "forwarded_allow_ips")
    config = uvicorn.Config(app, **{name: options[name] for name in keep})
    config.load()
    scope = {
        "type": "http",
        "client": (peer, 40000),
        "scheme": "http",
        "headers": [(b"x-forwarded-for", forwarded_for.encode())],
    }
    await config.loaded_app(scope, None, None)
    return seen[0]


async def test_given_no_trusted_proxies_then_x_forwarded_for_is_ignored_even_from_localhost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = serve_options(monkeypatch)
    assert options["proxy_headers"] is False
    assert options["ws_max_size"] == Settings(app_env="test").max_body_bytes
    # uvicorn alone trusts 127.0.0.1: a local process could pose as any address.
    client = await client_seen_behind(options, peer="127.0.0.1", forwarded_for="203.0.113.9")
    assert client == "127.0.0.1"


async def test_given_trusted_proxies_then_their_x_forwarded_for_names_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = serve_options(monkeypatch, FORWARDED_ALLOW_IPS="10.0.0.5")
    assert (options["proxy_headers"], options["forwarded_allow_ips"]) == (True, "10.0.0.5")
    behind_proxy = await client_seen_behind(options, peer="10.0.0.5", forwarded_for="203.0.113.9")
    elsewhere = await client_seen_behind(options, peer="127.0.0.1", forwarded_for="203.0.113.9")
    assert (behind_proxy, elsewhere) == ("203.0.113.9", "127.0.0.1")


# --- seed-demo in production -----------------------------------------------------------------


def cli_in_production(*args: str, database: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{database}",
        "APP_ENV": "production",
        "JWT_SECRET": PRODUCTION_SECRET,
    }
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def users_in(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM users").fetchone()[0]


@pytest.fixture
def empty_database(tmp_path: Path) -> Path:
    database = tmp_path / "production.db"
    migrated = cli("migrate", database=database)
    assert migrated.returncode == 0, migrated.stderr
    return database


@pytest.mark.parametrize("flags", [["--force"], []], ids=["force", "plain"])
def test_given_production_then_seed_demo_refuses_and_writes_nothing(
    empty_database: Path, flags: list[str]
) -> None:
    result = cli_in_production("seed-demo", *flags, database=empty_database)
    assert result.returncode != 0
    assert "APP_ENV=production" in result.stderr
    assert users_in(empty_database) == 0


def test_given_production_then_seed_demo_if_empty_passes_quietly_and_writes_nothing(
    empty_database: Path,
) -> None:
    result = cli_in_production("seed-demo", "--if-empty", database=empty_database)
    assert result.returncode == 0, result.stderr
    assert "not seeding" in result.stdout
    assert users_in(empty_database) == 0


def test_given_development_then_seed_demo_force_still_seeds(empty_database: Path) -> None:
    result = cli("seed-demo", "--force", database=empty_database)
    assert result.returncode == 0, result.stderr
    assert users_in(empty_database) > 0
