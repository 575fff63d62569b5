"""Figures over time and by offer, composed like app/insights/activity.py: each a single
statement whatever the number of points or offers."""

from __future__ import annotations

from app.cashback import reporting as cashback
from app.core.sql import Fragment, values_mark
from app.insights.activity import acts
from app.insights.period import Period
from app.offers import reporting as offers


def series(*, currency: str, buckets: list[Period], postgres: bool) -> Fragment:
    """A row per bucket with activity: active customers, purchases, net sales, buyers,
    repeat buyers, customers active in the bucket's previous period of the same length,
    and how many of those are active in the bucket."""
    ts, num = values_mark("timestamptz", postgres=postgres), values_mark("int", postgres=postgres)
    rows = ", ".join(f"({num}, {ts}, {ts}, {ts})" for _ in buckets)
    bounds: tuple[object, ...] = ()
    for i, bucket in enumerate(buckets):
        bounds += (i, bucket.previous.start, bucket.start, bucket.end)
    happened = acts(currency=currency, start=buckets[0].previous.start, end=buckets[-1].end)
    return Fragment(
        f"WITH b(i, ps, s, e) AS (VALUES {rows}), a AS ({happened.sql}),"  # noqa: S608
        " per AS (SELECT b.i AS i, a.customer_id,"
        "  SUM(CASE WHEN a.at >= b.s AND a.is_purchase = 1 THEN 1 ELSE 0 END) AS purchases,"
        "  SUM(CASE WHEN a.at >= b.s AND a.is_purchase = 1 THEN a.amount ELSE 0 END) AS sales,"
        "  MAX(CASE WHEN a.at >= b.s THEN 1 ELSE 0 END) AS active,"
        "  MAX(CASE WHEN a.at < b.s THEN 1 ELSE 0 END) AS was_active"
        "  FROM b JOIN a ON a.at >= b.ps AND a.at < b.e GROUP BY b.i, a.customer_id)"
        " SELECT i, SUM(active) AS active, SUM(purchases) AS purchases, SUM(sales) AS sales,"
        " SUM(CASE WHEN purchases > 0 THEN 1 ELSE 0 END) AS buyers,"
        " SUM(CASE WHEN purchases > 1 THEN 1 ELSE 0 END) AS repeat_buyers,"
        " SUM(was_active) AS was_active, SUM(was_active * active) AS retained"
        " FROM per GROUP BY i",
        bounds + happened.params,
    )


def top_offers(*, currency: str, period: Period, first: int) -> Fragment:
    """The offers that gave the most cashback on purchases of the period (then by
    purchases, activations, id), with those only activated in it after them."""
    bought = cashback.counted_purchases(currency=currency, start=period.start, end=period.end)
    used, activated, titles = (
        offers.uses(),
        offers.activations(start=period.start, end=period.end),
        offers.titles(),
    )
    return Fragment(
        f"WITH p AS ({bought.sql}), u AS ({used.sql}),"  # noqa: S608
        " counted AS (SELECT u.offer_id, COUNT(*) AS purchases, SUM(u.cashback) AS cashback"
        "  FROM u JOIN p ON p.purchase_id = u.purchase_id GROUP BY u.offer_id),"
        f" act AS ({activated.sql})"
        " SELECT o.offer_id AS offer_id, o.title AS title,"
        " COALESCE(act.activations, 0) AS activations,"
        " COALESCE(counted.purchases, 0) AS purchases,"
        " COALESCE(counted.cashback, 0) AS cashback"
        f" FROM ({titles.sql}) o LEFT JOIN counted ON counted.offer_id = o.offer_id"
        " LEFT JOIN act ON act.offer_id = o.offer_id"
        " WHERE counted.offer_id IS NOT NULL OR act.offer_id IS NOT NULL"
        " ORDER BY cashback DESC, purchases DESC, activations DESC, offer_id LIMIT ?",
        bought.params + used.params + activated.params + titles.params + (first,),
    )
