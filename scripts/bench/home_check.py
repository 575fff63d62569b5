"""Do the service and the baseline answer Home and Balance with the same bytes?

    .venv/bin/python scripts/bench/home_check.py [--service http://127.0.0.1:8765] \
        [--baseline http://127.0.0.1:8766] [--customers 200] [--tokens FILE]

Both servers must be running on the same database (`./scripts/bench/run home` starts them
and runs this check first). For `--customers` random customers of the tokens file (chosen so
that customers with and without personalization consent, with and without purchases and
with and without a wallet are all in), it sends Home with the document's defaults and with
offers = suggestions = 1, 10 and 50, and Balance, to both servers, and compares the bodies
byte for byte. A pair that differs is asked again once (an answer that depends on the
moment, such as a purchase leaving the tier's 365 days between the two requests, is not a
difference); if it still differs, the first difference is printed and the exit code is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from home_data import DEFAULT_TOKENS, DEFAULT_URL, dsn
from home_docs import balance_body, home_body

CONCURRENCY = 5
# (label, body): every customer is asked each of these.
REQUESTS: tuple[tuple[str, bytes], ...] = (
    ("Home (defaults)", home_body()),
    ("Home first=1", home_body(1, 1)),
    ("Home first=10", home_body(10, 10)),
    ("Home first=50", home_body(50, 50)),
    ("Balance", balance_body()),
)


def load_tokens(path: Path) -> dict[int, str]:
    found = {}
    for line in path.read_text().splitlines():
        customer, _, token = line.partition(" ")
        found[int(customer)] = token
    return found


async def kinds_of(url: str, customers: Sequence[int]) -> dict[int, tuple[bool, bool, bool]]:
    """(consents, has purchases, has a wallet) of each customer."""
    conn = await asyncpg.connect(dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT u.id, u.consent_personalization AS consent,"
            " EXISTS (SELECT 1 FROM customer_profiles p WHERE p.customer_id = u.id"
            "   AND p.purchase_count > 0) AS bought,"
            " EXISTS (SELECT 1 FROM ledger_wallets w WHERE w.customer_id = u.id) AS wallet"
            " FROM users u WHERE u.id = ANY($1::bigint[])",
            list(customers),
        )
    finally:
        await conn.close()
    return {r["id"]: (r["consent"], r["bought"], r["wallet"]) for r in rows}


def sample(kinds: dict[int, tuple[bool, bool, bool]], count: int, seed: int) -> list[int]:
    """`count` customers at random, with at least a few of every kind there is."""
    rng = random.Random(seed)
    by_kind: dict[tuple[bool, bool, bool], list[int]] = {}
    for customer, kind in sorted(kinds.items()):
        by_kind.setdefault(kind, []).append(customer)
    chosen: list[int] = []
    for members in by_kind.values():
        chosen += rng.sample(members, min(len(members), max(1, count // 20)))
    rest = [c for c in kinds if c not in set(chosen)]
    chosen += rng.sample(rest, max(0, min(len(rest), count - len(chosen))))
    return chosen[:count] if len(chosen) > count else chosen


def first_difference(a: bytes, b: bytes) -> str:  # noqa: C901 (one walk over two trees)
    """Where two JSON bodies first differ: the path and both values, else the bytes."""
    try:
        left, right = orjson.loads(a), orjson.loads(b)
    except orjson.JSONDecodeError:
        left = right = None

    def walk(x: Any, y: Any, path: str) -> str | None:
        if isinstance(x, dict) and isinstance(y, dict):
            if list(x) != list(y):
                return f"{path}: keys {list(x)} vs {list(y)}"
            for key in x:
                found = walk(x[key], y[key], f"{path}.{key}")
                if found:
                    return found
            return None
        if isinstance(x, list) and isinstance(y, list):
            for i, (p, q) in enumerate(zip(x, y, strict=False)):
                found = walk(p, q, f"{path}[{i}]")
                if found:
                    return found
            if len(x) != len(y):
                return f"{path}: {len(x)} items vs {len(y)}"
            return None
        if x != y or type(x) is not type(y):
            return f"{path}: service {x!r} vs baseline {y!r}"
        return None

    if left is not None:
        found = walk(left, right, "$")
        if found:
            return found
    at = next(
        (i for i, (p, q) in enumerate(zip(a, b, strict=False)) if p != q), min(len(a), len(b))
    )
    start = max(0, at - 60)
    return (
        f"bytes differ at {at}: service ...{a[start : at + 60]!r}"
        f" vs baseline ...{b[start : at + 60]!r}"
    )


async def check(
    service: str, baseline: str, tokens: dict[int, str], customers: Sequence[int]
) -> tuple[int, str | None]:
    """(pairs compared, the first lasting difference or None)."""
    compared = 0
    async with httpx.AsyncClient(timeout=30) as client:

        async def both(token: str, body: bytes) -> tuple[httpx.Response, httpx.Response]:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            a = await client.post(f"{service}/graphql", content=body, headers=headers)
            b = await client.post(f"{baseline}/graphql", content=body, headers=headers)
            return a, b

        async def one(customer: int) -> str | None:
            nonlocal compared
            for label, body in REQUESTS:
                a, b = await both(tokens[customer], body)
                if a.content != b.content or a.status_code != b.status_code:
                    a, b = await both(tokens[customer], body)
                compared += 1
                if a.status_code != 200 or b"errors" in a.content[:12]:
                    return (
                        f"customer {customer}, {label}: the service answered {a.status_code}"
                        f" {a.content[:300]!r}"
                    )
                if a.content != b.content or a.status_code != b.status_code:
                    return (
                        f"customer {customer}, {label} (HTTP {a.status_code} vs"
                        f" {b.status_code}): {first_difference(a.content, b.content)}"
                    )
            return None

        # A few customers at a time: the check takes a minute rather than three.
        for start in range(0, len(customers), CONCURRENCY):
            found = await asyncio.gather(*map(one, customers[start : start + CONCURRENCY]))
            problem = next((p for p in found if p), None)
            if problem:
                return compared, problem
            done = min(start + CONCURRENCY, len(customers))
            if done % 50 == 0:
                print(f"  {done} customers identical", flush=True)
    return compared, None


async def run_check(
    service: str, baseline: str, url: str, tokens_path: Path, count: int, seed: int = 7
) -> bool:
    tokens = load_tokens(tokens_path)
    kinds = await kinds_of(url, list(tokens))
    customers = sample(kinds, count, seed)
    mix = {k: sum(1 for c in customers if kinds[c] == k) for k in set(kinds.values())}
    described = ", ".join(
        f"{n} {'consenting' if k[0] else 'not consenting'}/"
        f"{'with' if k[1] else 'without'} purchases/{'with' if k[2] else 'no'} wallet"
        for k, n in sorted(mix.items(), reverse=True)
    )
    print(f"checking {len(customers)} customers ({described})")
    compared, problem = await check(service, baseline, tokens, customers)
    if problem:
        print(f"DIFFERENT after {compared} pairs: {problem}")
        return False
    print(f"identical: {compared} pairs of answers ({len(REQUESTS)} per customer)")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", default="http://127.0.0.1:8765")
    parser.add_argument("--baseline", default="http://127.0.0.1:8766")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--tokens", type=Path, default=DEFAULT_TOKENS)
    parser.add_argument("--customers", type=int, default=200)
    args = parser.parse_args()
    same = asyncio.run(
        run_check(args.service, args.baseline, args.database_url, args.tokens, args.customers)
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
