"""`python -m app worker`: the background work, in rounds. Each round settles due wallets
in bulk, marks lapsed redemptions, forfeits credit that reached deleted accounts, runs the
scheduled message rules (expiring credits, birthdays, lapsed customers, after a purchase)
and delivers the outbox; every 60 rounds it also purges what has expired.

Nothing depends on it for correctness (balances settle themselves on read and write), and
several workers may run at once: wallets and outbox messages are claimed with FOR UPDATE
SKIP LOCKED. A round that finds more due work than one batch is followed by another at
once; otherwise the worker sleeps `interval` seconds. SIGTERM or SIGINT stops it cleanly:
the round's work in hand is finished (a mail not yet sent is given back to the outbox),
the rest of the round is skipped, and it exits 0 after logging what it did."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import Counter
from collections.abc import Awaitable, Callable

from app.accounts.service import purge_expired_refresh_tokens
from app.ledger import settle_due_wallets
from app.notifications.rules import run_scheduled_rules
from app.outbox import deliver_due, purge_settled
from app.privacy.service import forfeit_leftovers
from app.redemptions.service import expire_lapsed
from app.settings import get_settings
from app.throttling.service import purge as purge_throttle_counters

log = logging.getLogger(__name__)

BATCH = 500
# Mails per round: each is a conversation with the mail server, so fewer than wallets.
MAIL_BATCH = 100
HOUSEKEEPING_EVERY = 60  # rounds

# One task of a round: given the stop signal, what it did, by name.
RoundTask = Callable[[asyncio.Event], Awaitable[dict[str, int]]]


async def _settle_wallets(stop: asyncio.Event) -> dict[str, int]:
    return {"wallets_settled": await settle_due_wallets(limit=BATCH)}


async def _expire_redemptions(stop: asyncio.Event) -> dict[str, int]:
    return {"redemptions_expired": await expire_lapsed(limit=BATCH)}


async def _forfeit_leftovers(stop: asyncio.Event) -> dict[str, int]:
    return {"deleted_accounts_forfeited": await forfeit_leftovers()}


async def _deliver_outbox(stop: asyncio.Event) -> dict[str, int]:
    return await deliver_due(limit=MAIL_BATCH, stop=stop)


async def _run_message_rules(stop: asyncio.Event) -> dict[str, int]:
    written = await run_scheduled_rules(limit=BATCH)
    return {f"messages_{rule}": count for rule, count in written.items()}


# The round, in order. The scheduled message rules (birthdays, expiring credits, lapsed
# customers) run before the outbox, so that the mail they queue goes in the same round.
ROUND: list[RoundTask] = [
    _settle_wallets,
    _expire_redemptions,
    _forfeit_leftovers,
    _run_message_rules,
    _deliver_outbox,
]

# What a task did with a whole batch (so more may be due): the next round starts at once.
_BATCH_OF = {
    "wallets_settled": BATCH,
    "redemptions_expired": BATCH,
}
_MAIL_HANDLED = ("mail_sent", "mail_retried", "mail_dead", "mail_undeliverable")


async def run_once(stop: asyncio.Event | None = None) -> dict[str, int]:
    """One round: each task once, in order; after a stop, the tasks not yet begun are
    skipped."""
    stop = stop or asyncio.Event()
    done: dict[str, int] = {}
    for task in ROUND:
        if stop.is_set():
            break
        done |= await task(stop)
    return done


def more_due(done: dict[str, int]) -> bool:
    """Whether a task of the round did a whole batch: there may be more due at once."""
    if any(done.get(name, 0) >= size for name, size in _BATCH_OF.items()):
        return True
    if sum(done.get(name, 0) for name in _MAIL_HANDLED) >= MAIL_BATCH:
        return True
    # Other tasks (the message rules) report counts of their own: a count that reached
    # the batch size means the same.
    known = set(_BATCH_OF) | set(_MAIL_HANDLED)
    return any(count >= BATCH for name, count in done.items() if name not in known)


async def housekeeping() -> dict[str, int]:
    return {
        "refresh_tokens_purged": await purge_expired_refresh_tokens(),
        "throttle_counters_purged": await purge_throttle_counters(),
        "outbox_messages_purged": await purge_settled(),
    }


def _stop_on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set `stop` instead of killing the process; the undo."""
    loop = asyncio.get_running_loop()
    installed = []
    for number in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(number, stop.set)
            installed.append(number)

    def undo() -> None:
        for number in installed:
            loop.remove_signal_handler(number)

    return undo


async def run_forever(*, interval: float = 10.0, stop: asyncio.Event | None = None) -> Counter[str]:
    """Rounds until `stop` is set (or SIGTERM/SIGINT arrives): what they did in all."""
    stop = stop or asyncio.Event()
    undo = _stop_on_signals(stop)
    totals: Counter[str] = Counter()
    rounds = 0
    log.info(
        "worker started: a round every %s s while idle; mail %s",
        interval,
        "over SMTP" if get_settings().smtp_url else "only logged (SMTP_URL is unset)",
    )
    try:
        while not stop.is_set():
            done: dict[str, int] = {}
            try:
                done = await run_once(stop)
                if rounds % HOUSEKEEPING_EVERY == 0 and not stop.is_set():
                    done |= await housekeeping()
            except Exception:  # a failed round must not stop the worker; the next one retries
                log.exception("worker round failed")
            rounds += 1
            totals.update({name: count for name, count in done.items() if count})
            if any(done.values()):
                log.info("worker round: %s", {k: v for k, v in done.items() if v})
            if more_due(done):
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    finally:
        undo()
    log.info("worker stopped after %s round(s): %s", rounds, dict(totals) or "nothing done")
    return totals
