"""The live balance under load: open `balanceChanged` subscriptions on one server process,
purchases for each subscribed customer recorded through another, on PostgreSQL.

    ./scripts/bench/run live [--subscriptions 1000] [--concurrency 8] \
        [--database-url postgres://postgres@127.0.0.1:5432/bench_live]

Two `python -m app serve` processes share a database it empties first. The benchmark opens
one graphql-transport-ws connection per customer on the first (the `websockets` client, each
with its customer's token) and measures the first process's resident memory before and
after; it then records one purchase per customer through the second (recordPurchase over
HTTP, `--concurrency` at once) and checks that every subscriber hears its own. The latency
of each event runs from its ledger transfer's write (`created_at`, just before the commit)
to its arrival at the client: commit to delivery, with the few milliseconds to the commit
counted in. Its figures go to scripts/bench/results/live.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx
import websockets
from bench_db import bench_customers, fresh_database
from tortoise import Tortoise

from app import db
from app.accounts.tokens import issue_access_token, issue_partner_token
from app.catalog import service as catalog
from app.catalog.values import Channel
from app.core import clock
from app.core.ids import encode_id
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_live"
SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
RESULTS = ROOT / "scripts" / "bench" / "results" / "live.md"

SUBSCRIBE = "subscription { balanceChanged { available { amount } pending { amount } cause } }"
RECORD = """
mutation RecordPurchase($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) { purchase { id } userErrors { code message } }
}
"""


def settings_for(url: str) -> Settings:
    return Settings(app_env="production", database_url=url, jwt_secret=SECRET)


async def setup(settings: Settings, count: int) -> tuple[int, int, list[tuple[int, str]]]:
    """The merchant, its store, and `count` customers (id, member code)."""
    await fresh_database(settings.database_url)
    await db.migrate_db(settings)
    await Tortoise.close_connections()
    await db.init_db(settings)
    merchant = await catalog.create_merchant(
        name="Bench Mart", logo_url=None, cashback_percent=Decimal("5")
    )
    store = await catalog.create_store(
        merchant_id=merchant.id, name="Bench Mart downtown", channel=Channel.IN_STORE
    )
    codes = await bench_customers(count)
    rows = await db.rows("SELECT id, member_code FROM users ORDER BY id")
    by_code = {row["member_code"]: int(row["id"]) for row in rows}
    return merchant.id, store.id, [(by_code[code], code) for code in codes]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def serve(url: str, log: Path) -> tuple[asyncio.subprocess.Process, str]:
    port = _free_port()
    env = dict(
        os.environ,
        APP_ENV="production",
        DATABASE_URL=url,
        JWT_SECRET=SECRET,
        LOG_LEVEL="WARNING",
        WORKERS="1",
        DB_POOL_MAX="20",
    )
    command = [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if process.returncode is not None:
                raise SystemExit(f"the server exited:\n{_tail(log)}")
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return process, base
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"the server did not start:\n{_tail(log)}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Subscriber:
    """One customer's connection; the arrival time of each event it hears."""

    def __init__(self, customer_id: int, token: str) -> None:
        self.customer_id = customer_id
        self.token = token
        self.arrivals: list[float] = []
        self.heard = asyncio.Event()
        self.ws: Any = None
        self.task: asyncio.Task[None] | None = None

    async def open(self, url: str) -> None:
        self.ws = await websockets.connect(
            url, subprotocols=["graphql-transport-ws"], open_timeout=60, ping_interval=None
        )
        payload = {"Authorization": f"Bearer {self.token}"}
        await self.ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await self.ws.recv())
        assert ack["type"] == "connection_ack", ack
        await self.ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        )
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        async for text in self.ws:
            at = time.time()
            message = json.loads(text)
            if message["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
            elif message["type"] == "next":
                self.arrivals.append(at)
                self.heard.set()
            else:
                raise RuntimeError(f"unexpected message: {message}")


async def record_all(
    base: str,
    token: str,
    store_id: int,
    customers: list[tuple[int, str]],
    concurrency: int,
    tag: str,
) -> float:
    """One purchase per customer through the server at `base`; the seconds it took."""
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def one(code: str, n: int) -> None:
            data = {
                "storeId": encode_id("Store", store_id),
                "externalId": f"{tag}-{n}",
                "customer": {"memberCode": code},
                "total": {"amount": "20.00", "currencyCode": "USD"},
                "occurredAt": clock.now().isoformat(),
            }
            async with gate:
                response = await client.post(
                    "/graphql",
                    json={"query": RECORD, "variables": {"input": data}},
                    headers=headers,
                )
            answer = response.json()
            if "errors" in answer or answer["data"]["recordPurchase"]["userErrors"]:
                raise SystemExit(f"a purchase was refused: {answer}")

        started = time.perf_counter()
        await asyncio.gather(*(one(code, n) for n, (_, code) in enumerate(customers)))
        return time.perf_counter() - started


async def wait_heard(subscribers: list[Subscriber], seconds: float) -> list[Subscriber]:
    """Those that have not heard anything within `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            await asyncio.gather(*(s.heard.wait() for s in subscribers))
    except TimeoutError:
        pass
    return [s for s in subscribers if not s.heard.is_set()]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = settings_for(args.database_url)
    merchant_id, store_id, customers = await setup(settings, args.subscriptions)
    partner, _ = issue_partner_token(
        settings, client_id=1, scopes=["purchases:write"], merchant_id=merchant_id
    )
    logs = Path("/tmp") / f"bench-live-{os.getpid()}"
    logs.mkdir(exist_ok=True)
    listening, listening_url = await serve(args.database_url, logs / "subscribers.log")
    recording, recording_url = await serve(args.database_url, logs / "recorder.log")
    try:
        # Warm both: the first requests load code, the program and the pools.
        await record_all(recording_url, partner, store_id, customers[:20], 4, "warm")
        async with httpx.AsyncClient() as client:
            await client.get(f"{listening_url}/readyz")
        await asyncio.sleep(1)
        before = rss_kib(listening.pid)

        subscribers = [
            Subscriber(cid, issue_access_token(settings, user_id=cid, role="CUSTOMER")[0])
            for cid, _ in customers
        ]
        ws_url = listening_url.replace("http://", "ws://") + "/graphql"
        opened = time.perf_counter()
        gate = asyncio.Semaphore(50)

        async def open_one(s: Subscriber) -> None:
            async with gate:
                await s.open(ws_url)

        # The first tenth pays for what the first connections load once (code, caches);
        # the rest shows what one more idle subscription costs.
        first = max(1, len(subscribers) // 10)
        await asyncio.gather(*(open_one(s) for s in subscribers[:first]))
        await asyncio.sleep(2)
        warmed = rss_kib(listening.pid)
        await asyncio.gather(*(open_one(s) for s in subscribers[first:]))
        opening = time.perf_counter() - opened
        # Each subscription reads its wallet once when it starts; then it is idle.
        await asyncio.sleep(3)
        after = rss_kib(listening.pid)

        # Every subscription is proven live (a purchase heard) before the measured round;
        # one that had not started when its purchase committed gets another.
        waiting, rounds = subscribers, 0
        while waiting and rounds < 5:
            rounds += 1
            by_id = {s.customer_id for s in waiting}
            await record_all(
                recording_url,
                partner,
                store_id,
                [c for c in customers if c[0] in by_id],
                args.concurrency,
                f"proof{rounds}",
            )
            waiting = await wait_heard(waiting, 10)
        if waiting:
            raise SystemExit(f"{len(waiting)} subscriptions never heard anything")
        await asyncio.sleep(1)
        for s in subscribers:
            s.arrivals.clear()
            s.heard.clear()

        marker = clock.now()
        took = await record_all(
            recording_url, partner, store_id, customers, args.concurrency, "measured"
        )
        missing = await wait_heard(subscribers, 30)
        await asyncio.sleep(1)  # anything extra would arrive now
        written = await db.rows(
            "SELECT customer_id, created_at FROM ledger_transfers"
            " WHERE kind = 'CREDIT' AND created_at >= ?",
            marker,
        )
        at = {int(r["customer_id"]): db.to_datetime(r["created_at"]) for r in written}
        latencies = []
        for s in subscribers:
            moment: datetime | None = at.get(s.customer_id)
            if s.arrivals and moment is not None:
                latencies.append((s.arrivals[0] - moment.timestamp()) * 1000)
        extra = sum(max(0, len(s.arrivals) - 1) for s in subscribers)
        for s in subscribers:
            await s.ws.close()
            if s.task is not None:
                s.task.cancel()
        return {
            "subscriptions": len(subscribers),
            "opening": opening,
            "rss_before": before,
            "rss_after": after,
            "rss_warmed": warmed,
            "warm_count": first,
            "purchases": len(written),
            "recording": took,
            "delivered": len(subscribers) - len(missing),
            "extra": extra,
            "latencies": latencies,
            "concurrency": args.concurrency,
        }
    finally:
        for process in (listening, recording):
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)
        await Tortoise.close_connections()


def report(r: dict[str, Any]) -> str:
    lat = r["latencies"]
    per = (r["rss_after"] - r["rss_before"]) / r["subscriptions"]
    rest = r["subscriptions"] - r["warm_count"]
    marginal = (r["rss_after"] - r["rss_warmed"]) / rest if rest else 0.0
    rows = [
        ("Open subscriptions (one connection each, one server process)", f"{r['subscriptions']:,}"),
        ("Opened in", f"{r['opening']:.1f} s"),
        (
            "Server RSS before / after opening them",
            f"{r['rss_before'] / 1024:,.1f} MiB / {r['rss_after'] / 1024:,.1f} MiB",
        ),
        ("Memory per idle subscription (connection included), all of them", f"{per:,.1f} KiB"),
        (
            f"Memory per idle subscription, the last {rest:,}"
            f" (after the first {r['warm_count']:,})",
            f"**{marginal:,.1f} KiB**",
        ),
        (
            "Purchases recorded through the other process",
            f"{r['purchases']:,} in {r['recording']:.2f} s"
            f" ({r['purchases'] / r['recording']:,.0f}/s, {r['concurrency']} in flight)",
        ),
        (
            "Events delivered / expected",
            f"**{r['delivered']:,} / {r['subscriptions']:,}** ({r['extra']} extra)",
        ),
        ("Commit to delivery p50", f"{statistics.median(lat):,.1f} ms"),
        ("Commit to delivery p95", f"{percentile(lat, 0.95):,.1f} ms"),
        ("Commit to delivery p99 (goal < 500 ms)", f"**{percentile(lat, 0.99):,.1f} ms**"),
        ("Commit to delivery max", f"{max(lat):,.1f} ms"),
    ]
    lines = [
        "# Live balance benchmark",
        "",
        f"`./scripts/bench/run live`, measured {clock.now():%Y-%m-%d} on {os.cpu_count()} CPUs"
        " shared by PostgreSQL, both server processes and the benchmark's own clients.",
        "",
        "| Measure | Value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--subscriptions", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=8, help="purchases in flight")
    parser.add_argument("--no-save", action="store_true", help="print, do not write results")
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        print("this benchmark measures PostgreSQL: pass a postgres:// URL", file=sys.stderr)
        return 2
    import uvloop

    text = report(uvloop.run(run(args)))
    print(text)
    if not args.no_save:
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
