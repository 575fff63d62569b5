"""Bulk ingestion throughput: purchases per second through `recordPurchases` on PostgreSQL.

Runs the real app in one or more processes (as `WORKERS` app processes would run; each sends
HTTP requests through its own ASGI app, with a real partner JWT), on a PostgreSQL database
it creates if needed and empties first:

    .venv/bin/python scripts/bench/ingest.py \
        --database-url postgres://postgres@127.0.0.1:5432/bench_ingest \
        --processes 2 --batches 10 --batch-size 500 --concurrency 2

Each purchase has two items and one of `--customers` customers; every one earns cashback,
so each is a purchase row, its items and a ledger credit, committed on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx
from bench_db import bench_customers, fresh_database
from tortoise import Tortoise

from app import db
from app.accounts.tokens import issue_partner_token
from app.catalog import service as catalog
from app.catalog.values import Channel
from app.core import clock
from app.core.ids import encode_id
from app.main import create_app
from app.settings import Settings

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_ingest"
SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"

RECORD_MANY = """
mutation RecordPurchases($inputs: [RecordPurchaseInput!]!) {
  recordPurchases(inputs: $inputs) {
    results {
      purchase { id externalId cashback { amount currencyCode } }
      userErrors { code field message }
    }
  }
}
"""


async def setup(settings: Settings, customers: int) -> tuple[int, int, list[str]]:
    await db.migrate_db(settings)
    await Tortoise.close_connections()
    await db.init_db(settings)
    merchant = await catalog.create_merchant(
        name="Bench Mart", logo_url=None, cashback_percent=Decimal("2.5")
    )
    store = await catalog.create_store(
        merchant_id=merchant.id, name="Bench Mart downtown", channel=Channel.IN_STORE
    )
    await catalog.upsert_products(
        merchant_id=merchant.id,
        products=[
            catalog.ProductData(
                sku=f"SKU-{i}",
                name=f"Product {i}",
                category=["Food", "Home", "Toys"][i % 3],
                price_amount=Decimal("4.99"),
                price_currency="USD",
            )
            for i in range(100)
        ],
    )
    codes = await bench_customers(customers)
    return merchant.id, store.id, codes


def batch(store_id: int, codes: list[str], size: int, counter: itertools.count) -> list[dict]:
    rng = random.Random(next(counter))
    occurred = (clock.now() - timedelta(minutes=5)).isoformat()
    inputs = []
    for _ in range(size):
        quantity = rng.randint(1, 3)
        inputs.append(
            {
                "storeId": encode_id("Store", store_id),
                "externalId": f"bench-{next(counter)}",
                "customer": {"memberCode": rng.choice(codes)},
                "total": {"amount": str(Decimal("4.99") * (quantity + 1)), "currencyCode": "USD"},
                "occurredAt": occurred,
                "items": [
                    {
                        "sku": f"SKU-{rng.randrange(100)}",
                        "quantity": quantity,
                        "unitPrice": {"amount": "4.99", "currencyCode": "USD"},
                    },
                    {
                        "sku": f"SKU-{rng.randrange(100)}",
                        "quantity": 1,
                        "unitPrice": {"amount": "4.99", "currencyCode": "USD"},
                    },
                ],
            }
        )
    return inputs


def settings_for(url: str, concurrency: int) -> Settings:
    return Settings(
        app_env="production",
        database_url=url,
        jwt_secret=SECRET,
        db_pool_max=max(10, concurrency * 4),
        log_level="WARNING",
    )


async def drive(
    args: argparse.Namespace, worker: int, setup_done: tuple[int, int, list[str]], barrier: Any
) -> dict[str, float]:
    """One app process: warm up, wait for the others, then send the timed batches."""
    merchant_id, store_id, codes = setup_done
    settings = settings_for(args.database_url, args.concurrency)
    if not Tortoise._inited:
        await db.init_db(settings)
    token, _ = issue_partner_token(
        settings, client_id=1, scopes=["purchases:write"], merchant_id=merchant_id
    )
    app = create_app(settings, manage_db=False)
    counter = itertools.count(worker * 10_000_000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", timeout=600
    ) as client:
        headers = {"Authorization": f"Bearer {token}"}

        async def send(size: int) -> float:
            inputs = batch(store_id, codes, size, counter)
            started = time.perf_counter()
            response = await client.post(
                "/graphql",
                json={"query": RECORD_MANY, "variables": {"inputs": inputs}},
                headers=headers,
            )
            elapsed = time.perf_counter() - started
            results = response.json()["data"]["recordPurchases"]["results"]
            failed = [r["userErrors"] for r in results if r["userErrors"]]
            if failed:
                raise SystemExit(f"refused purchases in the benchmark: {failed[:3]}")
            return elapsed

        await send(50)  # warm-up: connections, prepared statements, the first tier row
        if barrier is not None:
            await asyncio.to_thread(barrier.wait)
        gate = asyncio.Semaphore(args.concurrency)

        async def timed() -> float:
            async with gate:
                return await send(args.batch_size)

        started, cpu_started = time.time(), time.process_time()
        latencies = await asyncio.gather(*(timed() for _ in range(args.batches)))
        ended, cpu = time.time(), time.process_time() - cpu_started
    await Tortoise.close_connections()
    return {
        "started": started,
        "ended": ended,
        "cpu": cpu,
        "median": statistics.median(latencies),
        "count": args.batches * args.batch_size,
    }


def worker_process(
    args: argparse.Namespace, worker: int, setup_done: Any, barrier: Any, out: Any
) -> None:
    import uvloop

    out.put(uvloop.run(drive(args, worker, setup_done, barrier)))


async def prepare(args: argparse.Namespace) -> tuple[int, int, list[str]]:
    await fresh_database(args.database_url)
    setup_done = await setup(settings_for(args.database_url, args.concurrency), args.customers)
    await Tortoise.close_connections()
    return setup_done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--batches", type=int, default=10, help="timed batches per process")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=2, help="batches in flight at once")
    parser.add_argument(
        "--processes", type=int, default=1, help="app processes, as WORKERS would run them"
    )
    parser.add_argument("--customers", type=int, default=2_000)
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        print("this benchmark measures PostgreSQL: pass a postgres:// URL", file=sys.stderr)
        return 2

    import uvloop

    setup_done = uvloop.run(prepare(args))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(args.processes)
    out = context.Queue()
    workers = [
        context.Process(target=worker_process, args=(args, n, setup_done, barrier, out))
        for n in range(args.processes)
    ]
    for process in workers:
        process.start()
    reports = [out.get() for _ in workers]
    for process in workers:
        process.join()

    total = sum(r["count"] for r in reports)
    elapsed = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    cpu = sum(r["cpu"] for r in reports)
    print(
        f"recordPurchases: {total} purchases in {elapsed:.2f}s = {total / elapsed:,.0f}/s "
        f"({args.processes} process(es) x {args.batches} batches of {args.batch_size}, "
        f"{args.concurrency} in flight each, median batch "
        f"{statistics.median(r['median'] for r in reports):.2f}s; {os.cpu_count()} CPUs, "
        f"the app processes used {cpu / elapsed:.0%} of a CPU)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
