"""deliver_due: the outbox's messages reach the mail server once, retried after a
failure, given up after the last attempt, and never sent to an account that is gone."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.accounts.models import User
from app.core import clock
from app.mail import message_id_for
from app.outbox import deliver_due, enqueue, purge_settled
from app.outbox.delivery import LEASE, claim_due
from tests.factories import make_customer
from tests.mail.mailbox import parts, running_mailbox
from tests.outbox.support import FROM, POLICY, leased, smtp_to, stored

pytestmark = pytest.mark.usefixtures("mail_from")


@pytest.fixture
def mail_from(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.settings import get_settings

    monkeypatch.setattr(get_settings(), "mail_from", FROM)


async def test_a_queued_message_reaches_the_customer_once(db) -> None:
    customer = await make_customer(email="ana@example.com")
    await enqueue(
        key="cashback:1",
        customer_id=customer.id,
        subject="Cashback recorded",
        text="5.00 USD on its way",
        html="<p>5.00 USD on its way</p>",
        locale="pt-BR",
    )

    with running_mailbox() as mailbox:
        done = await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)
        again = await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)

    assert done == {"mail_sent": 1, "mail_retried": 0, "mail_dead": 0, "mail_undeliverable": 0}
    assert again["mail_sent"] == 0
    [received] = mailbox.received
    assert received.recipients == ["ana@example.com"]
    assert received.message["Subject"] == "Cashback recorded"
    assert received.message["Content-Language"] == "pt-BR"
    assert received.message["Message-ID"] == message_id_for("cashback:1", sender=FROM)
    assert parts(received.message) == {
        "text/plain": "5.00 USD on its way",
        "text/html": "<p>5.00 USD on its way</p>",
    }
    row = await stored("cashback:1")
    assert (row["status"], row["attempts"], row["claimed_until"]) == ("SENT", 1, None)
    assert row["sent_at"] is not None


async def test_a_sent_message_is_never_claimed_again_however_late(db) -> None:
    customer = await make_customer()
    await enqueue(key="k", customer_id=customer.id, subject="S", text="t")
    with running_mailbox() as mailbox:
        await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)
        clock.advance(LEASE * 10)
        assert await claim_due(limit=10, now=clock.now()) == []
        await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)

    assert len(mailbox.received) == 1


async def test_the_address_is_the_one_of_the_moment_of_sending(db) -> None:
    customer = await make_customer(email="old@example.com")
    await enqueue(key="k", customer_id=customer.id, subject="S", text="t")
    await User.filter(id=customer.id).update(email="new@example.com")

    with running_mailbox() as mailbox:
        await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)

    assert [r.recipients for r in mailbox.received] == [["new@example.com"]]


async def test_a_server_that_fails_the_first_attempt_gets_the_message_once_after_the_retry(
    db,
) -> None:
    customer = await make_customer()
    await enqueue(key="k", customer_id=customer.id, subject="S", text="t")

    with running_mailbox(fail_first=1) as mailbox:
        first = await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)
        waiting = await stored("k")
        too_soon = await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)
        clock.advance(timedelta(minutes=1))
        second = await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)

    assert (first["mail_retried"], too_soon["mail_sent"], second["mail_sent"]) == (1, 0, 1)
    assert (waiting["status"], waiting["attempts"]) == ("PENDING", 1)
    assert waiting["claimed_until"] is None
    assert "451" in waiting["last_error"]
    assert len(mailbox.received) == 1
    assert mailbox.refusals == 1
    row = await stored("k")
    assert (row["status"], row["attempts"]) == ("SENT", 2)


async def test_each_failure_moves_the_next_attempt_further_with_jitter(db) -> None:
    customer = await make_customer()
    await enqueue(key="k", customer_id=customer.id, subject="S", text="t")
    policy = POLICY.__class__(max_attempts=10, first_delay=timedelta(seconds=30))
    waits = []

    with running_mailbox(fail_first=100) as mailbox:
        for _ in range(4):
            now = clock.now()
            await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=policy)
            row = await stored("k")
            waits.append((row["next_attempt_at"] - now).total_seconds())
            clock.advance(row["next_attempt_at"] - now)

    for attempt, wait in enumerate(waits):
        nominal = 30 * 2**attempt
        assert 0.75 * nominal - 1 <= wait <= 1.25 * nominal + 1, (attempt, waits)
    assert waits == sorted(waits)
    assert mailbox.received == []


async def test_after_the_last_attempt_the_message_is_dead(db, caplog) -> None:
    customer = await make_customer()
    await enqueue(key="k", customer_id=customer.id, subject="S", text="t")

    with running_mailbox(fail_first=100) as mailbox:
        outcomes = []
        for _ in range(POLICY.max_attempts + 1):
            outcomes.append(await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY))
            clock.advance(timedelta(hours=1))

    assert [o["mail_retried"] for o in outcomes] == [1, 1, 0, 0]
    assert [o["mail_dead"] for o in outcomes] == [0, 0, 1, 0]
    row = await stored("k")
    assert (row["status"], row["attempts"], row["claimed_until"]) == ("DEAD", 3, None)
    assert mailbox.refusals == 3
    assert any("given up after 3 attempt(s)" in line for line in caplog.messages)


async def test_a_recipient_refused_for_good_is_dead_at_once(db) -> None:
    customer = await make_customer(email="gone@example.com")
    await enqueue(key="k", customer_id=customer.id, subject="S", text="t")

    with running_mailbox(refused={"gone@example.com"}) as mailbox:
        done = await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)

    assert done["mail_dead"] == 1
    assert (await stored("k"))["status"] == "DEAD"


async def test_nothing_is_sent_to_a_deleted_or_unknown_account(db) -> None:
    deleted = await make_customer()
    await enqueue(key="deleted", customer_id=deleted.id, subject="S", text="t")
    await User.filter(id=deleted.id).update(deleted_at=clock.now())
    await enqueue(key="unknown", customer_id=deleted.id + 1000, subject="S", text="t")

    with running_mailbox() as mailbox:
        done = await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)

    assert done["mail_undeliverable"] == 2
    assert mailbox.received == []
    for key in ("deleted", "unknown"):
        row = await stored(key)
        assert (row["status"], row["claimed_until"]) == ("UNDELIVERABLE", None)


async def test_a_lease_left_by_a_worker_that_died_lapses_and_the_message_goes(db) -> None:
    customer = await make_customer()
    await enqueue(key="k", customer_id=customer.id, subject="S", text="t")
    assert len(await claim_due(limit=10, now=clock.now())) == 1  # ... and the worker dies

    with running_mailbox() as mailbox:
        held = await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)
        clock.advance(LEASE + timedelta(seconds=1))
        lapsed = await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)

    assert (held["mail_sent"], lapsed["mail_sent"]) == (0, 1)
    assert len(mailbox.received) == 1
    assert (await stored("k"))["attempts"] == 2


async def test_a_stop_gives_the_claimed_messages_back_unsent(db) -> None:
    customer = await make_customer()
    for n in range(3):
        await enqueue(key=f"k{n}", customer_id=customer.id, subject="S", text="t")
    stop = asyncio.Event()
    stop.set()

    with running_mailbox() as mailbox:
        done = await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY, stop=stop)

    assert done["mail_released"] == 3 and done["mail_sent"] == 0
    assert mailbox.received == []
    assert await leased() == 0
    assert [(await stored(f"k{n}"))["attempts"] for n in range(3)] == [0, 0, 0]


async def test_a_batch_is_bounded_and_oldest_due_goes_first(db) -> None:
    customer = await make_customer()
    for n in range(5):
        await enqueue(key=f"k{n}", customer_id=customer.id, subject=f"S{n}", text="t")
        clock.advance(timedelta(seconds=1))

    with running_mailbox() as mailbox:
        done = await deliver_due(limit=3, sender=smtp_to(mailbox.url), policy=POLICY)

    assert done["mail_sent"] == 3
    assert sorted(str(r.message["Subject"]) for r in mailbox.received) == ["S0", "S1", "S2"]


async def test_two_workers_in_parallel_never_send_one_message_twice(postgres_only) -> None:
    customers = [await make_customer() for _ in range(4)]
    for n in range(60):
        await enqueue(key=f"k{n}", customer_id=customers[n % 4].id, subject=f"S{n}", text="t")

    async def worker(url: str) -> int:
        sent = 0
        while True:
            done = await deliver_due(limit=5, sender=smtp_to(url), policy=POLICY)
            sent += done["mail_sent"]
            if not any(done.values()):
                return sent

    with running_mailbox(delay=0.005) as mailbox:
        counts = await asyncio.gather(worker(mailbox.url), worker(mailbox.url))

    assert sum(counts) == 60 and all(counts), counts
    assert len(mailbox.message_ids) == len(set(mailbox.message_ids)) == 60
    assert await leased() == 0


async def test_housekeeping_forgets_settled_messages_after_90_days_and_keeps_pending_ones(
    db,
) -> None:
    customer = await make_customer()
    await enqueue(key="sent", customer_id=customer.id, subject="S", text="t")
    with running_mailbox() as mailbox:
        await deliver_due(limit=10, sender=smtp_to(mailbox.url), policy=POLICY)
    await enqueue(key="waiting", customer_id=customer.id, subject="S", text="t")
    clock.advance(timedelta(days=89))
    await enqueue(key="recent", customer_id=customer.id, subject="S", text="t")
    with running_mailbox() as mailbox:
        await deliver_due(limit=1, sender=smtp_to(mailbox.url), policy=POLICY)  # "waiting"
    assert await purge_settled() == 0

    clock.advance(timedelta(days=2))
    purged = await purge_settled()

    assert purged == 2  # "sent" and "waiting": queued over 90 days ago, and settled
    assert (await stored("recent"))["status"] == "PENDING"
