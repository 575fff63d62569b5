"""The worker settles wallets and marks lapsed redemptions in bulk, without any read, and
delivers the outbox; it loops at once while work is due, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from app import db as app_db
from app import worker
from app.core import clock
from app.outbox import enqueue
from app.redemptions.models import Redemption
from app.settings import Settings, get_settings
from app.worker import housekeeping, run_once
from tests.factories import make_customer
from tests.ledger.factories import give_credit
from tests.ledger.invariants import assert_ledger_consistent
from tests.ledger.rows import stored_wallet
from tests.mail.mailbox import Mailbox, running_mailbox
from tests.redemptions.factories import gid, give_credits, make_merchant
from tests.redemptions.operations import started
from tests.support import Api


async def test_a_round_matures_credits_in_the_stored_wallet(db) -> None:
    customer = await make_customer()
    await give_credit(customer.id, 500, pending=timedelta(days=30))
    clock.advance(timedelta(days=30, seconds=1))
    before = await stored_wallet(customer.id)
    assert (before.pending, before.available) == (500, 0)  # nothing has read it yet

    done = await run_once()

    after = await stored_wallet(customer.id)
    assert done["wallets_settled"] == 1
    assert (after.pending, after.available) == (0, 500)
    assert (await run_once())["wallets_settled"] == 0
    await assert_ledger_consistent()


async def test_a_round_marks_lapsed_redemptions_expired(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 1000)
    await started(api, api.token_for(customer), gid("Merchant", merchant), "4.00")
    clock.advance(timedelta(minutes=11))
    assert (await Redemption.get(customer_id=customer.id)).status == "RESERVED"

    done = await run_once()

    assert done["redemptions_expired"] == 1
    assert (await Redemption.get(customer_id=customer.id)).status == "EXPIRED"
    wallet = await stored_wallet(customer.id)
    assert (wallet.available, wallet.reserved) == (1000, 0)
    await assert_ledger_consistent()


async def test_housekeeping_runs_on_an_empty_database(db) -> None:
    assert await housekeeping() == {
        "refresh_tokens_purged": 0,
        "throttle_counters_purged": 0,
        "outbox_messages_purged": 0,
    }


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """A mail server on loopback that this process's worker sends to."""
    with running_mailbox() as box:
        monkeypatch.setattr(get_settings(), "smtp_url", box.url)
        yield box


async def _queue(count: int) -> None:
    customer = await make_customer()
    for n in range(count):
        await enqueue(key=f"k{n}", customer_id=customer.id, subject=f"S{n}", text="t")


async def _count(where: str) -> int:
    row = await app_db.one(f"SELECT COUNT(*) AS n FROM outbox_messages WHERE {where}")
    assert row is not None
    return int(row["n"])


async def test_a_round_delivers_the_outbox(db, mailbox: Mailbox) -> None:
    await _queue(2)

    done = await run_once()

    assert done["mail_sent"] == 2
    assert len(mailbox.received) == 2
    assert (await run_once())["mail_sent"] == 0


async def test_a_round_warns_of_expiring_credits_and_mails_the_warning(
    db, mailbox: Mailbox
) -> None:
    customer = await make_customer()
    await give_credits(customer, 1250, expires_in=timedelta(days=5))

    done = await run_once()

    assert done["messages_expiring_credits"] == 1
    assert done["mail_sent"] == 1
    [mail] = mailbox.received
    assert mail.recipients == [customer.email]
    assert "12.50 USD" in mail.message.get_body(("plain",)).get_content()
    again = await run_once()
    assert again["messages_expiring_credits"] == 0 and again["mail_sent"] == 0
    assert len(mailbox.received) == 1


async def test_while_more_than_a_batch_is_due_the_next_round_starts_at_once(
    db, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "MAIL_BATCH", 2)
    await _queue(5)
    stop = asyncio.Event()

    # An hour between idle rounds: only rounds that follow at once can send all five.
    running = asyncio.create_task(worker.run_forever(interval=3600, stop=stop))
    await _until(lambda: len(mailbox.received) >= 5, seconds=20)
    stop.set()
    totals = await asyncio.wait_for(running, 10)

    assert len(mailbox.received) == 5
    assert totals["mail_sent"] == 5


async def test_a_stop_between_rounds_ends_the_sleep_at_once(db) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run_forever(interval=3600, stop=stop))
    await asyncio.sleep(0.3)  # the first round is done; it sleeps

    stop.set()

    await asyncio.wait_for(running, 5)


def _worker_env(settings: Settings, smtp_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        APP_ENV="test",
        DATABASE_URL=settings.database_url,
        JWT_SECRET=settings.jwt_secret,
        SMTP_URL=smtp_url,
        LOG_LEVEL="INFO",
    )
    return env


async def _start_worker(settings: Settings, smtp_url: str, log: Path) -> asyncio.subprocess.Process:
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "app", "worker", "--interval", "0.2"),
            cwd=ROOT,
            env=_worker_env(settings, smtp_url),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )


async def _until(condition: Callable[[], bool], *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_sigterm_stops_a_running_worker_promptly_leaving_nothing_leased(
    db, tmp_path: Path
) -> None:
    await _queue(30)
    log = tmp_path / "worker.log"
    # A slow mail server: the worker is mid-batch when the signal comes.
    with running_mailbox(delay=0.2) as mailbox:
        process = await _start_worker(db, mailbox.url, log)
        try:
            await _until(lambda: len(mailbox.received) >= 2, seconds=60)
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            code = await asyncio.wait_for(process.wait(), 10)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        stopped_in = time.monotonic() - signalled
        received = len(mailbox.received)

    output = log.read_text()
    assert code == 0, output
    assert stopped_in < 5, stopped_in
    assert "worker stopped after" in output
    # Every mail the server got is marked sent, none is held, the rest wait untouched.
    assert 2 <= received < 30
    assert await _count("status = 'SENT'") == received
    assert await _count("claimed_until IS NOT NULL") == 0
    assert await _count("status = 'PENDING' AND attempts = 0") == 30 - received


async def test_two_worker_processes_never_send_one_message_twice(
    postgres_only: Settings, tmp_path: Path
) -> None:
    # More than one batch (MAIL_BATCH, 100) each, on a slowish server: both take part.
    await _queue(250)
    with running_mailbox(delay=0.02) as mailbox:
        processes = [
            await _start_worker(postgres_only, mailbox.url, tmp_path / f"worker-{n}.log")
            for n in range(2)
        ]
        try:
            await _until(lambda: len(mailbox.received) >= 250, seconds=90)
            await asyncio.sleep(0.5)  # time for a second, wrong, delivery to arrive
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            codes = [await asyncio.wait_for(p.wait(), 10) for p in processes]

    assert codes == [0, 0]
    assert len(mailbox.message_ids) == len(set(mailbox.message_ids)) == 250
    assert await _count("status = 'SENT'") == 250
    logs = [(tmp_path / f"worker-{n}.log").read_text() for n in range(2)]
    assert all("mail_sent" in text for text in logs), "both workers delivered"
