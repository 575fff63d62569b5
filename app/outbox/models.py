from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class OutboxMessage(Model):
    """A message to a customer beyond the inbox (an email), written in the transaction of
    its cause and delivered afterwards by the worker.

    `status`: PENDING until delivered (SENT), given up after the last attempt (DEAD), or
    dropped because nobody can receive it any more (UNDELIVERABLE: the account is gone).
    A worker holds a PENDING row while `claimed_until` is in the future; a lease that lapses
    (the worker died) lets another one take it again."""

    id = fields.BigIntField(primary_key=True)
    # One message per cause: a repeat of the cause finds its key taken.
    key = fields.CharField(max_length=200, unique=True)
    customer_id = fields.BigIntField(db_index=True)
    channel = fields.CharField(max_length=16, default="email")
    locale = fields.CharField(max_length=35, default="en")
    subject = fields.CharField(max_length=200)
    text = fields.TextField()
    html = fields.TextField(null=True)
    status = fields.CharField(max_length=16, default="PENDING")
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    claimed_until = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    # What the last failure was (a short reason, never a body or a credential).
    last_error = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "outbox_messages"
        # What a worker looks for: pending rows whose time has come.
        indexes = (("status", "next_attempt_at"),)
