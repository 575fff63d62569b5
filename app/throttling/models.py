from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ThrottleCounter(Model):
    """The recent hits of one throttling key: a sliding log of at most `limit` moments.

    Changed only by a conditional UPDATE on `version`, so concurrent hits on one key from
    any number of processes never count past the limit."""

    # sha256 of the caller's key: no email or address is stored in clear.
    key = fields.CharField(max_length=64, primary_key=True)
    # JSON list of POSIX timestamps (the program clock), oldest first.
    hits = fields.TextField()
    version = fields.IntField(default=0)
    # When the newest hit leaves its window: rows past it can be purged.
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "throttle_counters"
