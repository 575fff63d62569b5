"""docker/entrypoint.sh: migrate, then serve; stop if the migration fails."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ENTRYPOINT = Path(__file__).resolve().parents[1] / "docker" / "entrypoint.sh"


@pytest.fixture
def fake_python(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in for python that records its arguments, and fails `migrate` on demand."""
    log = tmp_path / "calls.log"
    script = tmp_path / "python"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        'if [ "$3" = "migrate" ] && [ -n "${FAIL_MIGRATE:-}" ]; then exit 7; fi\n'
    )
    script.chmod(0o755)
    return script, log


def run(fake: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        env={"PATH": os.environ["PATH"], "PYTHON": str(fake), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_serve_migrates_first_then_serves(fake_python) -> None:
    fake, log = fake_python
    result = run(fake, PORT="9000", WEB_CONCURRENCY="3")
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "-m app migrate",
        "-m app serve --host 0.0.0.0 --port 9000 --workers 3",
    ]


def test_a_failed_migration_stops_before_serving(fake_python) -> None:
    fake, log = fake_python
    result = run(fake, "serve", FAIL_MIGRATE="1")
    assert result.returncode == 7
    assert log.read_text().splitlines() == ["-m app migrate"]


def test_migration_can_be_left_to_another_container(fake_python) -> None:
    fake, log = fake_python
    run(fake, "serve", MIGRATE_ON_START="false")
    assert log.read_text().splitlines()[0].startswith("-m app serve")


def test_other_commands_pass_through(fake_python) -> None:
    fake, log = fake_python
    run(fake, "create-admin", "--email", "a@b.c", "--password", "x" * 12)
    assert log.read_text().splitlines() == [
        f"-m app create-admin --email a@b.c --password {'x' * 12}"
    ]
