"""Queuing a message: one per cause, and only if the cause commits."""

from __future__ import annotations

import pytest
from tortoise.transactions import in_transaction

from app import db as app_db
from app.outbox import enqueue
from tests.factories import make_customer


async def _queued() -> list[dict[str, object]]:
    return await app_db.rows(
        "SELECT key, customer_id, subject, text, html, locale, status, attempts"
        " FROM outbox_messages ORDER BY id"
    )


async def test_a_message_is_queued_pending_for_its_customer(db) -> None:
    customer = await make_customer()

    queued = await enqueue(
        key="welcome:1",
        customer_id=customer.id,
        subject="Welcome",
        text="Hello",
        html="<p>Hello</p>",
        locale="fr",
    )

    assert queued is True
    assert await _queued() == [
        {
            "key": "welcome:1",
            "customer_id": customer.id,
            "subject": "Welcome",
            "text": "Hello",
            "html": "<p>Hello</p>",
            "locale": "fr",
            "status": "PENDING",
            "attempts": 0,
        }
    ]


async def test_a_repeated_key_is_a_no_op_that_keeps_the_first_message(db) -> None:
    customer = await make_customer()
    assert await enqueue(key="cause:7", customer_id=customer.id, subject="First", text="one")

    again = await enqueue(key="cause:7", customer_id=customer.id, subject="Second", text="two")

    assert again is False
    assert [(m["subject"], m["text"]) for m in await _queued()] == [("First", "one")]


async def test_a_repeat_inside_a_transaction_leaves_the_transaction_usable(db) -> None:
    customer = await make_customer()
    async with in_transaction():
        assert await enqueue(key="k", customer_id=customer.id, subject="S", text="t")
        assert not await enqueue(key="k", customer_id=customer.id, subject="S", text="t")
        assert await enqueue(key="k2", customer_id=customer.id, subject="S", text="t")

    assert [m["key"] for m in await _queued()] == ["k", "k2"]


async def test_a_message_queued_in_a_rolled_back_transaction_leaves_nothing(db) -> None:
    customer = await make_customer()

    with pytest.raises(RuntimeError):
        async with in_transaction():
            assert await enqueue(key="k", customer_id=customer.id, subject="S", text="t")
            raise RuntimeError("the cause failed")

    assert await _queued() == []
    # The key is free again: the cause retried later gets its message.
    assert await enqueue(key="k", customer_id=customer.id, subject="S", text="t")


async def test_a_subject_is_one_bounded_line(db) -> None:
    customer = await make_customer()

    injected = "Line\r\nBcc: x@evil.example" + "x" * 300

    await enqueue(key="k", customer_id=customer.id, subject=injected, text="t")

    subject = str((await _queued())[0]["subject"])
    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith("Line Bcc: x@evil.example") and len(subject) == 200


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"key": ""}, "key"),
        ({"key": "k" * 201}, "key"),
        ({"channel": "sms"}, "channel"),
        ({"text": ""}, "text"),
    ],
)
async def test_a_malformed_message_is_refused_and_nothing_queued(
    db, overrides: dict[str, str], problem: str
) -> None:
    customer = await make_customer()
    fields = {"key": "k", "subject": "S", "text": "t"} | overrides

    with pytest.raises(ValueError, match=problem):
        await enqueue(customer_id=customer.id, **fields)

    assert await _queued() == []
