"""Offer aggregates for the program's metrics (app/insights): SELECTs it composes with
other features' into one statement."""

from __future__ import annotations

from datetime import datetime

from app.core.sql import Fragment
from app.ledger.values import utc


def uses() -> Fragment:
    """What purchases took from offers: `offer_id`, `purchase_id`, `cashback` (what the
    offer gave, less what refunds returned; minor units)."""
    return Fragment(
        "SELECT offer_id, purchase_id, amount_minor - returned_minor AS cashback FROM offer_uses"
    )


def activations(*, start: datetime, end: datetime) -> Fragment:
    """Activations in [start, end), by offer: `offer_id`, `activations`."""
    return Fragment(
        "SELECT offer_id, COUNT(*) AS activations FROM offer_customers"
        " WHERE activated_at >= ? AND activated_at < ? GROUP BY offer_id",
        (utc(start), utc(end)),
    )


def titles() -> Fragment:
    """Every offer: `offer_id`, `title` (as written)."""
    return Fragment("SELECT id AS offer_id, title FROM offers")
