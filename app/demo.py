"""`seed-demo`: a small but realistic program. Each feature adds its part in its own
`demo.py` (`STEP` orders them; `seed(rng, state, progress)` fills `state`)."""

from __future__ import annotations

import random
from typing import Any

from tqdm import tqdm

from app.features import feature_modules


class DatabaseNotEmpty(Exception):
    pass


async def is_empty() -> bool:
    from app.accounts.service import has_users

    return not await has_users()


async def seed_demo(*, force: bool = False, seed: int = 7) -> dict[str, int]:
    if not force and not await is_empty():
        raise DatabaseNotEmpty("the database already has data; pass --force to seed anyway")
    steps = sorted(feature_modules("demo"), key=lambda m: m.STEP)
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    state: dict[str, Any] = {}
    summary: dict[str, int] = {}
    with tqdm(total=sum(m.WORK for m in steps), desc="seeding demo", unit="row") as progress:
        for step in steps:
            summary.update(await step.seed(rng, state, progress))
    return summary
