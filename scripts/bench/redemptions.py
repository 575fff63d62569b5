"""Redemptions per second and latency: 32 clients contending on one wallet, and 32 clients
on 32 wallets, each sending `startRedemption` over HTTP to a server this script starts.

    .venv/bin/python scripts/bench/redemptions.py [--clients 32] [--seconds 10]
        [--rate 150] [--workers 1]

Runs against PostgreSQL: DATABASE_URL, by default postgres://postgres@127.0.0.1:5432/
bench_redemptions (created and migrated if missing). Each run signs up fresh customers with
a large balance and starts `python -m app serve` (production settings, a random JWT
secret) on a free port. Each scenario runs twice: paced (the clients send `--rate`
requests per second in all, on a schedule, so latency is the service's and not a queue's)
and saturated (each client sends its next request as soon as the last is answered: the
most the server does per second). It prints a table (requests, errors, redemptions per
second, latency percentiles) and checks that the ledger reconciles and that each wallet
holds reserved exactly what its redemptions reserved. Goal: p99 <= 30 ms on the contended
wallet (paced).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from bench_db import ensure_database  # noqa: E402

from app import db, ledger  # noqa: E402
from app.accounts.service import create_user  # noqa: E402
from app.accounts.tokens import issue_access_token  # noqa: E402
from app.catalog import service as catalog  # noqa: E402
from app.core import clock  # noqa: E402
from app.core.ids import encode_id  # noqa: E402
from app.program.service import update_program  # noqa: E402
from app.redemptions.models import Redemption  # noqa: E402
from app.settings import Settings  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_redemptions"
CURRENCY = "USD"
BALANCE_MINOR = 100_000_000  # 1,000,000.00 each: never the limit during a run
AMOUNT = "0.01"
GOAL_P99_MS = 30.0
RUN = secrets.token_hex(4)
START_TIMEOUT = 60.0

START = """mutation StartRedemption($input: StartRedemptionInput!) {
  startRedemption(input: $input) {
    redemption { id status amount { amount currencyCode } expiresAt }
    userErrors { code field message }
  }
}"""


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


async def seed(settings: Settings, wallets: int) -> tuple[str, list[int], list[str]]:
    """A merchant and `wallets` customers with a large balance: (merchant id, customer ids,
    tokens)."""
    await update_program(minimum_redemption=(Decimal(AMOUNT), CURRENCY), max_redemption_share=None)
    merchant = await catalog.create_merchant(
        name="Benchmark Market", logo_url=None, cashback_percent=Decimal("2")
    )
    run = secrets.token_hex(4)
    now = clock.now()
    customers, tokens = [], []
    for n in range(wallets):
        user = await create_user(
            email=f"bench-{run}-{n}@bench.example",
            password="benchmark-password",
            display_name=f"Bench {n}",
        )
        await ledger.credit(
            customer_id=user.id,
            currency=CURRENCY,
            amount=BALANCE_MINOR,
            kind="ADJUSTMENT",
            occurred_at=now - timedelta(days=1),
            available_at=now - timedelta(seconds=1),
            expires_at=now + timedelta(days=365),
            source_type="bench",
            source_id=user.id,
            merchant_id=None,
            description="Benchmark credit",
            idempotency_key=f"bench-redemptions:{run}:{n}",
        )
        token, _ = issue_access_token(settings, user_id=user.id, role="CUSTOMER")
        customers.append(user.id)
        tokens.append(token)
    return encode_id("Merchant", merchant.id), customers, tokens


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(url: str, secret: str, port: int, workers: int, pool: int) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        APP_ENV="production",
        DATABASE_URL=url,
        JWT_SECRET=secret,
        DB_POOL_MIN=str(min(4, pool)),
        DB_POOL_MAX=str(pool),
        LOG_LEVEL="WARNING",
    )
    command = [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


async def wait_ready(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError("the server exited while starting")
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not become ready")


class Connection:
    """One keep-alive HTTP/1.1 connection, as light as a client can be (the client shares
    the machine's cores with the server, so its own cost matters)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def run_scenario(
    name: str,
    port: int,
    merchant_id: str,
    tokens: list[str],
    clients: int,
    seconds: float,
    rate: float | None,
) -> Result:
    """`clients` loops, client n as tokens[n % len(tokens)], for `seconds`: each sends its
    next request when the last is answered (`rate` None), or on a schedule that makes
    `rate` requests per second in all (latency then counts from the scheduled moment, so
    a late server is not hidden by a client that waited)."""
    result = Result(name)
    interval = clients / rate if rate else 0.0
    started = time.perf_counter()
    stop_at = started + seconds

    async def client(n: int) -> None:
        connection = Connection("127.0.0.1", port)
        token = tokens[n % len(tokens)]
        due = started + interval * n / clients
        sequence = 0
        try:
            while True:
                if interval:
                    if due >= stop_at:
                        return
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    sent = due
                    due += interval
                else:
                    sent = time.perf_counter()
                    if sent >= stop_at:
                        return
                sequence += 1
                body = json.dumps(
                    {
                        "query": START,
                        "operationName": "StartRedemption",
                        "variables": {
                            "input": {
                                "merchantId": merchant_id,
                                "amount": {"amount": AMOUNT, "currencyCode": CURRENCY},
                                "channel": "ONLINE",
                                "idempotencyKey": f"{name}-{n}-{sequence}-{RUN}",
                            }
                        },
                    }
                ).encode()
                try:
                    status, payload = await connection.post("/graphql", body, token)
                    data = json.loads(payload).get("data") or {}
                    ok = status == 200 and (data.get("startRedemption") or {}).get("redemption")
                except (OSError, ValueError, asyncio.IncompleteReadError):
                    ok = False
                    await connection.close()
                    connection = Connection("127.0.0.1", port)
                if ok:
                    result.latencies.append(time.perf_counter() - sent)
                else:
                    result.errors += 1
        finally:
            await connection.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    result.elapsed = time.perf_counter() - started
    return result


def table(results: list[Result], clients: int, workers: int) -> str:
    lines = [
        f"startRedemption over HTTP, {clients} clients, 1 server ({workers} worker(s)), PostgreSQL",
        f"{'scenario':<40} {'requests':>9} {'errors':>7} {'per s':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}",
    ]
    for r in results:
        lines.append(
            f"{r.name:<40} {len(r.latencies):>9} {r.errors:>7} {r.rate:>8.0f} "
            f"{r.percentile(0.50):>8.1f} {r.percentile(0.95):>8.1f} "
            f"{r.percentile(0.99):>8.1f} {r.percentile(1.0):>8.1f}"
        )
    return "\n".join(lines)


async def check_money(customers: list[int]) -> list[str]:
    """The ledger reconciles, and each wallet holds reserved exactly what its redemptions
    reserved, and available the rest."""
    problems = await ledger.reconcile()
    for customer in customers:
        amounts = await Redemption.filter(customer_id=customer, status="RESERVED").values_list(
            "amount_minor", flat=True
        )
        balance = await ledger.get_balance(customer_id=customer, currency=CURRENCY)
        if balance.reserved != sum(amounts) or balance.available != BALANCE_MINOR - sum(amounts):
            problems.append(f"customer {customer}: {balance} after {len(amounts)} redemptions")
    return problems


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pool", type=int, default=16, help="database pool per worker")
    parser.add_argument(
        "--rate",
        type=float,
        default=150.0,
        help="requests per second in all for the paced runs (below the saturation rate)",
    )
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if not db.is_postgres(url):
        print("error: this benchmark runs on PostgreSQL (set DATABASE_URL)", file=sys.stderr)
        return 2
    await ensure_database(url)
    secret = secrets.token_urlsafe(48)
    settings = Settings(database_url=url, app_env="development", jwt_secret=secret)
    await db.migrate_db(settings)
    await db.close_db()
    await db.init_db(settings)
    server = None
    try:
        merchant_id, customers, tokens = await seed(settings, args.clients)
        port = free_port()
        server = start_server(url, secret, port, args.workers, args.pool)
        await wait_ready(f"http://127.0.0.1:{port}", server)
        n = args.clients
        await run_scenario("warm-up", port, merchant_id, tokens, n, args.warmup, None)
        results = []
        for rate in (args.rate, None):
            mode = f"paced {rate:.0f}/s" if rate else "saturated"
            for label, wallets in (("one wallet", tokens[:1]), (f"{n} wallets", tokens)):
                results.append(
                    await run_scenario(
                        f"{label}, {mode}", port, merchant_id, wallets, n, args.seconds, rate
                    )
                )
        problems = await check_money(customers)
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        await db.close_db()
    print(table(results, args.clients, args.workers))
    contended = results[0].percentile(0.99)  # one wallet, paced
    met = contended <= GOAL_P99_MS
    print(
        f"contended p99 {contended:.1f} ms (goal <= {GOAL_P99_MS:.0f} ms: "
        f"{'met' if met else 'NOT met'})"
    )
    if problems:
        print("error: the money does not add up:", *problems[:10], sep="\n  ")
        return 1
    print("ledger reconciled")
    return 0 if met and not any(r.errors for r in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
