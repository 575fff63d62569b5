"""`python -m app worker`: the periodic work that keeps tables tidy and wallets settled in
bulk. Nothing depends on it for correctness (balances settle themselves on read and write);
several workers may run at once (wallets are claimed with FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import logging

from app.accounts.service import purge_expired_refresh_tokens
from app.ledger import settle_due_wallets
from app.privacy.service import forfeit_leftovers
from app.redemptions.service import expire_lapsed
from app.throttling.service import purge as purge_throttle_counters

log = logging.getLogger(__name__)

BATCH = 500
HOUSEKEEPING_EVERY = 60  # rounds


async def run_once() -> dict[str, int]:
    """One round: a bounded batch of due wallets to settle and lapsed redemptions to mark."""
    return {
        "wallets_settled": await settle_due_wallets(limit=BATCH),
        "redemptions_expired": await expire_lapsed(limit=BATCH),
        "deleted_accounts_forfeited": await forfeit_leftovers(),
    }


async def housekeeping() -> dict[str, int]:
    return {
        "refresh_tokens_purged": await purge_expired_refresh_tokens(),
        "throttle_counters_purged": await purge_throttle_counters(),
    }


async def run_forever(*, interval: float = 10.0) -> None:
    rounds = 0
    while True:
        try:
            done = await run_once()
            if rounds % HOUSEKEEPING_EVERY == 0:
                done |= await housekeeping()
            if any(done.values()):
                log.info("worker round: %s", done)
        except Exception:  # a failed round must not stop the worker; the next one retries
            log.exception("worker round failed")
        rounds += 1
        await asyncio.sleep(interval)
