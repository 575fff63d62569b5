"""`python -m app …` as an operator runs it, on a fresh SQLite database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from app.accounts.models import Role, User
from app.accounts.passwords import verify_password
from app.accounts.service import create_admin
from app.core.errors import InvalidInput
from app.graphql.schema import schema_sdl
from tests.factories import make_customer

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, database: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite://{database}", "APP_ENV": "development"}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    database = tmp_path_factory.mktemp("cli") / "app.db"
    result = cli("migrate", database=database)
    assert result.returncode == 0, result.stderr
    assert "migrations applied" in result.stdout
    return database


def test_migrate_twice_is_harmless(migrated: Path) -> None:
    assert cli("migrate", database=migrated).returncode == 0


def test_create_admin_is_idempotent(migrated: Path) -> None:
    first = cli(
        "create-admin",
        "--email",
        "Ops@Example.com",
        "--password",
        "a-long-password",
        database=migrated,
    )
    again = cli(
        "create-admin",
        "--email",
        "ops@example.com",
        "--password",
        "another-password",
        database=migrated,
    )
    assert (first.returncode, first.stdout.strip()) == (0, "created admin ops@example.com")
    assert (again.returncode, again.stdout.strip()) == (0, "updated admin ops@example.com")


def test_create_admin_refuses_a_short_password(migrated: Path) -> None:
    result = cli(
        "create-admin", "--email", "x@example.com", "--password", "short", database=migrated
    )
    assert result.returncode == 2
    assert "at least 10 characters" in result.stderr


def test_seed_demo_fills_an_empty_database_once(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    assert cli("migrate", database=database).returncode == 0
    seeded = cli("seed-demo", database=database)
    assert seeded.returncode == 0, seeded.stderr
    assert "customers" in seeded.stdout
    refused = cli("seed-demo", database=database)
    assert refused.returncode == 3
    assert "--force" in refused.stderr
    quiet = cli("seed-demo", "--if-empty", database=database)
    assert quiet.returncode == 0
    assert "not seeding" in quiet.stdout
    # The demo's purchases and refunds kept the customers' profiles; a rebuild agrees.
    profiles = _profiles(database)
    assert profiles
    rebuilt = cli("rebuild-profiles", database=database)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.strip() == f"rebuilt {len(profiles)} customer profiles"
    assert _profiles(database) == profiles
    # And its co-purchase statistics: a rebuild finds the same counts.
    pairs = _pairs(database)
    assert pairs
    again = cli("rebuild-suggestions", database=database)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("rebuilt the co-purchase statistics from ")
    assert _pairs(database) == pairs


def _pairs(database: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute(
            "SELECT product_id, related_id, together, follow_ups FROM suggestion_pairs"
            " WHERE together + follow_ups > 0 ORDER BY product_id, related_id"
        ).fetchall()


def test_rebuild_profiles_on_an_empty_database(migrated: Path) -> None:
    result = cli("rebuild-profiles", database=migrated)
    assert (result.returncode, result.stdout.strip()) == (0, "rebuilt 0 customer profiles")


def _profiles(database: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute(
            "SELECT customer_id, purchase_count, first_purchase_at, last_purchase_at,"
            " spend_minor, online_count, in_store_count, favorite_category,"
            " favorite_merchant_ids FROM customer_profiles ORDER BY customer_id"
        ).fetchall()


def test_export_schema_prints_the_committed_sdl(tmp_path: Path) -> None:
    result = cli("export-schema", database=tmp_path / "unused.db")
    assert result.returncode == 0
    assert result.stdout == schema_sdl()


async def test_an_existing_customer_becomes_admin_with_the_new_password(db) -> None:
    customer = await make_customer(email="promote@example.com")
    user, created = await create_admin(email="PROMOTE@example.com", password="brand-new-password")
    assert (user.id, created) == (customer.id, False)
    stored = await User.get(id=customer.id)
    assert stored.role == Role.ADMIN
    assert await verify_password(stored.password_hash, "brand-new-password")
    with pytest.raises(InvalidInput):
        await create_admin(email="promote@example.com", password="short")
    assert (await User.get(id=customer.id)).role == Role.ADMIN
