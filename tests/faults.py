"""Tools for database fault stories: a connection of the test's own that holds a lock and
ends the app's backend waiting on it, and a private, throwaway PostgreSQL cluster that a
test may stop and start (the shared server is never touched).

`python -m tests.faults seed URL CUSTOMERS` fills a migrated database at URL with what
the restart story needs (through the factories) and prints it as JSON."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import Any

import asyncpg

from tests.servers import ROOT, _free_port

# The test's own connections say so, and only the app's backends are ever ended.
ADMIN_APPLICATION = "cashback-faults-admin"
APP_APPLICATION = "cashback"
WAIT_SECONDS = 10.0


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


class Blocker:
    """One connection that holds row locks in an open transaction, so that the app's
    statement on those rows waits: the app is then reliably in the middle of its
    transaction, and its backend is the one blocked by this connection."""

    def __init__(self, connection: asyncpg.Connection, pid: int) -> None:
        self.connection = connection
        self.pid = pid
        self._transaction: Any = None

    async def lock_wallets(self, customer_id: int) -> None:
        self._transaction = self.connection.transaction()
        await self._transaction.start()
        locked = await self.connection.fetch(
            "SELECT id FROM ledger_wallets WHERE customer_id = $1 FOR UPDATE", customer_id
        )
        assert locked, f"customer {customer_id} has no wallet to lock"

    async def waiting_backend(self, application: str = APP_APPLICATION) -> int:
        """The pid of the app's backend that waits for this connection's lock."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            pid = await self.connection.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = $2 AND $1 = ANY(pg_blocking_pids(pid))",
                self.pid,
                application,
            )
            if pid is not None:
                return int(pid)
            await asyncio.sleep(0.02)
        raise AssertionError("no backend of the app waited for the lock")

    async def terminate(self, pid: int) -> None:
        assert await self.connection.fetchval("SELECT pg_terminate_backend($1)", pid)

    async def release(self) -> None:
        if self._transaction is not None:
            await self._transaction.rollback()
            self._transaction = None


@asynccontextmanager
async def blocker(url: str) -> AsyncIterator[Blocker]:
    connection = await asyncpg.connect(
        asyncpg_dsn(url), server_settings={"application_name": ADMIN_APPLICATION}
    )
    try:
        held = Blocker(connection, await connection.fetchval("SELECT pg_backend_pid()"))
        try:
            yield held
        finally:
            await held.release()
    finally:
        await connection.close()


async def app_backends(url: str, application: str) -> list[dict[str, Any]]:
    """The app's backends on the database at `url`: pid and state."""
    connection = await asyncpg.connect(
        asyncpg_dsn(url), server_settings={"application_name": ADMIN_APPLICATION}
    )
    try:
        found = await connection.fetch(
            "SELECT pid, state FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = $1",
            application,
        )
    finally:
        await connection.close()
    return [dict(row) for row in found]


class ClusterUnavailable(Exception):
    """A private cluster cannot be made here (no binaries, no postgres user)."""


def _binaries() -> Path:
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise ClusterUnavailable("no initdb under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


def _as_postgres() -> list[str]:
    """The prefix that runs a command as the `postgres` user (the server refuses root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ClusterUnavailable("running as root and there is no postgres user") from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ClusterUnavailable("running as root and there is no runuser")
    return [runuser, "-u", "postgres", "--"]


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster of its own in a temporary folder, on a free port, with trust
    authentication and no fsync: made for one test and thrown away after it."""

    folder: Path
    port: int
    binaries: Path
    prefix: list[str]

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    async def _run(self, *command: str) -> None:
        process = await asyncio.create_subprocess_exec(
            *self.prefix,
            *command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = await process.communicate()
        if process.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {out.decode()[-2000:]}\n{tail}")

    async def start(self) -> None:
        # No fsync: only the server process is ever killed, never the machine, so what
        # reached the OS survives. synchronous_commit stays on: an immediate stop would
        # lose commits already answered.
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c full_page_writes=off"
        )
        await self._run(
            str(self.binaries / "pg_ctl"),
            *("-D", str(self.folder / "data"), "-l", str(self.folder / "server.log")),
            *("-o", options, "-w", "-t", "60", "start"),
        )

    async def stop(self, mode: str = "immediate") -> None:
        await self._run(
            str(self.binaries / "pg_ctl"),
            *("-D", str(self.folder / "data"), "-m", mode, "-w", "-t", "60", "stop"),
        )

    async def running(self) -> bool:
        return (self.folder / "data" / "postmaster.pid").exists()


@asynccontextmanager
async def private_cluster() -> AsyncIterator[PrivateCluster]:
    """A started private cluster, stopped and deleted on leaving. ClusterUnavailable when
    this machine cannot make one; any other failure to make it is raised as it is."""
    binaries = _binaries()
    prefix = _as_postgres()
    folder = Path(tempfile.mkdtemp(prefix="cashback-pg-"))
    cluster = PrivateCluster(folder, _free_port(), binaries, prefix)
    try:
        if prefix:
            shutil.chown(folder, user="postgres", group="postgres")
        await cluster._run(
            str(binaries / "initdb"),
            *("-D", str(folder / "data"), "-U", "postgres", "-A", "trust"),
            *("-E", "UTF8", "--locale=C", "--no-sync"),
        )
        await cluster.start()
        yield cluster
    finally:
        if await cluster.running():
            await cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def app_command(url: str, *args: str) -> str:
    """`python -m app ARGS` on the database at `url`: its output; raises on failure."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "app", *args),
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "APP_ENV": "test", "LOG_LEVEL": "WARNING"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode()
    if process.returncode != 0:
        raise AssertionError(f"python -m app {' '.join(args)} failed:\n{text[-4000:]}")
    return text


async def seed(url: str, customers: int) -> dict[str, Any]:
    """A merchant, its in-store store and `customers` customers with 10,000.00 of credits
    each, made in the database at `url` by another process (this one's Tortoise serves
    the test database)."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.faults", "seed", url, str(customers)),
        cwd=ROOT,
        env={**os.environ, "APP_ENV": "test"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    if process.returncode != 0:
        raise AssertionError(f"seeding failed:\n{err.decode()[-4000:]}")
    seeded: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return seeded


# Enough that no redemption of the load is short of credits.
CREDITS_MINOR = 1_000_000


async def _seed_main(url: str, customers: int) -> None:
    from app import db
    from app.settings import Settings
    from tests.catalog.factories import make_merchant, make_store
    from tests.factories import make_customer
    from tests.redemptions.factories import give_credits

    await db.init_db(Settings(app_env="test", database_url=url))
    try:
        merchant = await make_merchant(percent="5")
        store = await make_store(merchant)
        made = []
        for _ in range(customers):
            customer = await make_customer()
            await give_credits(customer, CREDITS_MINOR)
            made.append({"id": customer.id, "member_code": customer.member_code})
    finally:
        await db.close_db()
    print(
        json.dumps(
            {
                "merchant_id": merchant.id,
                "store_id": store.id,
                "customers": made,
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["seed"]:
        asyncio.run(_seed_main(sys.argv[2], int(sys.argv[3])))
