"""Redemption aggregates for the program's metrics (app/insights): a SELECT it composes
with other features' into one statement."""

from __future__ import annotations

from datetime import datetime

from app.core.sql import Fragment
from app.ledger.values import utc


def captured(*, currency: str, start: datetime, end: datetime) -> Fragment:
    """Redemptions captured in [start, end): `customer_id`, `channel` (where it was
    captured; where it was started when that is unknown), `at` (when it was captured),
    `amount` (minor units)."""
    return Fragment(
        "SELECT customer_id, COALESCE(captured_channel, channel) AS channel,"
        " captured_at AS at, amount_minor AS amount FROM redemptions"
        " WHERE status = 'CAPTURED' AND currency = ? AND captured_at >= ? AND captured_at < ?",
        (currency, utc(start), utc(end)),
    )
