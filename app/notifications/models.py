from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from app.notifications.kinds import NotificationKind


class Notification(Model):
    """One message in a customer's inbox, written once per cause, its text rendered in the
    customer's language when it was written."""

    id = fields.BigIntField(primary_key=True)
    customer_id = fields.BigIntField()
    kind = fields.CharEnumField(NotificationKind, max_length=32)
    # What caused it ("purchase:42", "birthday:2026"): a cause writes one message at most.
    cause = fields.CharField(max_length=128)
    marketing = fields.BooleanField(default=False)
    locale = fields.CharField(max_length=35)
    title = fields.CharField(max_length=200)
    body = fields.CharField(max_length=1000)
    # Where the app goes when the message is opened ("app://activity", "app://offers/<id>").
    target = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notifications"
        unique_together = (("customer_id", "cause"),)
        # (customer_id, id): the inbox, newest first. The unread ones have a partial index
        # of their own (see the migration).
        indexes = (("customer_id", "id"),)


class RuleCursor(Model):
    """How far a scheduled rule has gone: each run goes on from here, and one worker at
    a time holds a rule's row."""

    rule = fields.CharField(max_length=32, primary_key=True)
    position = fields.CharField(max_length=200, null=True)
    updated_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification_rule_cursors"
