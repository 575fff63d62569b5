"""The operators' commands: create-partner and create-admin, against a fresh database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, database: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{database}",
        "APP_ENV": "development",
        "REDIS_URL": "",
    }
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("commands") / "app.db"
    migrated = run("migrate", database=path)
    assert migrated.returncode == 0, migrated.stderr
    return path


def test_create_partner_prints_the_credentials_once(database: Path) -> None:
    created = run(
        "create-partner",
        "--name",
        "Till",
        "--scopes",
        "purchases:write,offers:read",
        database=database,
    )
    assert created.returncode == 0, created.stderr
    lines = dict(line.split("=", 1) for line in created.stdout.splitlines() if "=" in line)
    assert lines["client_id"].startswith("pc_")
    assert lines["client_secret"].startswith("pcs_")


def test_create_partner_refuses_unknown_scopes_and_merchants(database: Path) -> None:
    bad_scope = run("create-partner", "--name", "Till", "--scopes", "root", database=database)
    assert bad_scope.returncode == 2
    assert "scopes" in bad_scope.stderr
    no_merchant = run(
        "create-partner",
        "--name",
        "Till",
        "--scopes",
        "offers:read",
        "--merchant",
        "424242",
        database=database,
    )
    assert no_merchant.returncode == 2
    assert "merchant" in no_merchant.stderr.lower()
    assert "client_secret" not in bad_scope.stdout + no_merchant.stdout


def test_create_admin_refuses_a_common_password(database: Path) -> None:
    weak = run(
        "create-admin",
        "--email",
        "ops@example.com",
        "--password",
        "password123",
        database=database,
    )
    assert weak.returncode == 2
    made = run(
        "create-admin",
        "--email",
        "ops@example.com",
        "--password",
        "saffron-glacier-owl",
        database=database,
    )
    assert made.returncode == 0, made.stderr
    assert "created admin ops@example.com" in made.stdout
