"""Purchase aggregates for the program's metrics (app/insights), computed in SQL.

A purchase counts when it is not refunded in full; its amount is its total less what was
refunded of it (whenever the refund came), so sales are net. A purchase is "with
redemption" when credits paid part of it: `creditsUsed`, or a redemption captured for its
order. The fragments are SELECTs that app/insights composes with other features' into
one statement; their columns are named in each docstring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.cashback.tiers import list_tiers
from app.core.sql import Fragment
from app.ledger.values import utc

# A purchase refunded in full is no purchase for the metrics.
_COUNTED = "status <> 'REFUNDED'"


def counted_purchases(*, currency: str, start: datetime, end: datetime) -> Fragment:
    """Counted purchases that occurred in [start, end): `purchase_id`, `customer_id`,
    `channel`, `at` (when it occurred), `amount` (net of refunds, minor units),
    `with_credits` (1 when credits paid part of it, else 0), `tier_code`."""
    return Fragment(
        "SELECT id AS purchase_id, customer_id, channel, occurred_at AS at,"  # noqa: S608
        " total_minor - refunded_minor AS amount,"
        " CASE WHEN credits_used_minor > 0 OR redeemed_minor > 0 THEN 1 ELSE 0 END"
        " AS with_credits, tier_code"
        f" FROM cashback_purchases WHERE currency = ? AND {_COUNTED}"
        " AND occurred_at >= ? AND occurred_at < ?",
        (currency, utc(start), utc(end)),
    )


def net_sales_before(*, currency: str, end: datetime) -> Fragment:
    """One row, `spend`: what every customer spent before `end`, net of refunds."""
    return Fragment(
        "SELECT COALESCE(SUM(total_minor - refunded_minor), 0) AS spend"
        " FROM cashback_purchases WHERE currency = ? AND occurred_at < ?",
        (currency, utc(end)),
    )


@dataclass(frozen=True, slots=True)
class SegmentFigures:
    kind: str  # TIER or LIFECYCLE
    key: str
    name: str
    active_customers: int
    purchase_count: int
    sales: int


LIFECYCLES = (("NEW", "New customers"), ("RETURNING", "Returning customers"))
NO_TIER = ""


def segments_query(*, currency: str, start: datetime, end: datetime) -> Fragment:
    """Buyers, counted purchases and net sales in [start, end) by the tier each purchase
    was made at and by lifecycle: NEW buyers had no counted purchase before `start`,
    RETURNING ones had. One statement (read it with `segment_figures_of`)."""
    purchases = counted_purchases(currency=currency, start=start, end=end)
    return Fragment(
        f"WITH p AS ({purchases.sql}),"  # noqa: S608
        " buyers AS (SELECT customer_id, COUNT(*) AS n, SUM(amount) AS s FROM p"
        " GROUP BY customer_id),"
        " staged AS (SELECT CASE WHEN EXISTS (SELECT 1 FROM cashback_purchases q"
        "  WHERE q.customer_id = buyers.customer_id AND q.currency = ?"
        f"  AND q.{_COUNTED} AND q.occurred_at < ?)"
        "  THEN 'RETURNING' ELSE 'NEW' END AS key, n, s FROM buyers)"
        " SELECT 'TIER' AS kind, COALESCE(tier_code, '') AS key,"
        " COUNT(DISTINCT customer_id) AS active, COUNT(*) AS n, SUM(amount) AS s"
        " FROM p GROUP BY COALESCE(tier_code, '')"
        " UNION ALL SELECT 'LIFECYCLE', key, COUNT(*), SUM(n), SUM(s) FROM staged GROUP BY key",
        (*purchases.params, currency, utc(start)),
    )


async def segment_figures_of(found: list[dict[str, Any]], *, currency: str) -> list[SegmentFigures]:
    """Every tier, in their order (a customer who moved up meanwhile counts in each tier
    they bought at), then tiers no longer defined, then NEW and RETURNING."""
    figures = {(r["kind"], r["key"]): r for r in found}

    def of(kind: str, key: str, name: str) -> SegmentFigures:
        row = figures.pop((kind, key), None) or {}
        return SegmentFigures(
            kind=kind,
            key=key,
            name=name,
            active_customers=int(row.get("active") or 0),
            purchase_count=int(row.get("n") or 0),
            sales=int(row.get("s") or 0),
        )

    tiers = [of("TIER", t.code, t.name) for t in await list_tiers(currency=currency)]
    lifecycles = [of("LIFECYCLE", key, name) for key, name in LIFECYCLES]
    # Tier codes no longer defined (the tiers were replaced since), by code.
    gone = [of("TIER", key, key or "No tier") for kind, key in sorted(figures) if kind == "TIER"]
    return tiers + gone + lifecycles
