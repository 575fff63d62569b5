"""What customers did, composed from the features that own it, for one statement each.

`acts` unites counted purchases (app/cashback/reporting) and captured redemptions
(app/redemptions/reporting) as rows of (customer_id, channel, at, is_purchase, amount,
with_credits): a customer is active in a period when they bought or redeemed in it, and
omnichannel when they did so in more than one channel. Customers come from
app/accounts/reporting and offers from app/offers/reporting. Each feature writes the SQL
over its own tables; this module only joins their SELECTs, so every figure is computed by
the database in one pass, the same on SQLite and PostgreSQL. (The statements are built
from these constant fragments only; every value is a parameter: hence the S608
exemptions.)"""

from __future__ import annotations

from datetime import datetime

from app.accounts import reporting as accounts
from app.cashback import reporting as cashback
from app.catalog.values import Channel
from app.core.sql import Fragment
from app.redemptions import reporting as redemptions


def acts(*, currency: str, start: datetime, end: datetime) -> Fragment:
    bought = cashback.counted_purchases(currency=currency, start=start, end=end)
    redeemed = redemptions.captured(currency=currency, start=start, end=end)
    return Fragment(
        "SELECT customer_id, channel, at, 1 AS is_purchase, amount, with_credits"  # noqa: S608
        f" FROM ({bought.sql}) bought"
        " UNION ALL SELECT customer_id, channel, at, 0, amount, 0"
        f" FROM ({redeemed.sql}) redeemed",
        bought.params + redeemed.params,
    )


def summary(*, currency: str, start: datetime, end: datetime, previous: datetime) -> Fragment:
    """One row: customers active now and in the previous period [previous, start), buyers,
    repeat buyers, the omnichannel, purchases and net sales with and without credits, and
    the members and their spend up to `end` (lifetime value). `a` is read once, grouped
    by customer with plain sums (no DISTINCT): PostgreSQL hashes it, in parallel. Whether
    a row is in this period (`cur`) and a purchase in it (`b`) are computed once per row,
    so the sums are products, not conditions (a seventh less time over a year)."""
    happened = acts(currency=currency, start=previous, end=end)
    members = accounts.customers(signed_up_before=end)
    spend = cashback.net_sales_before(currency=currency, end=end)
    channels = " + ".join(
        f"MAX(CASE WHEN channel = '{c.value}' THEN cur ELSE 0 END)" for c in Channel
    )
    return Fragment(
        "WITH per AS (SELECT customer_id, SUM(b) AS purchases, SUM(b * amount) AS sales,"  # noqa: S608
        "  SUM(b * with_credits) AS n_with, SUM(b * with_credits * amount) AS sales_with,"
        f"  MAX(cur) AS active, 1 - MIN(cur) AS was_active, {channels} AS channels"
        "  FROM (SELECT customer_id, channel, amount, with_credits, cur, cur * is_purchase AS b"
        "  FROM (SELECT customer_id, channel, amount, with_credits, is_purchase,"
        f"  CASE WHEN at >= ? THEN 1 ELSE 0 END AS cur FROM ({happened.sql}) a0) a1) a"
        "  GROUP BY customer_id)"
        " SELECT SUM(active) AS active,"
        "  SUM(CASE WHEN purchases > 0 THEN 1 ELSE 0 END) AS buyers,"
        "  SUM(CASE WHEN purchases > 1 THEN 1 ELSE 0 END) AS repeat_buyers,"
        "  SUM(was_active) AS was_active, SUM(was_active * active) AS retained,"
        "  SUM(CASE WHEN active = 1 AND channels > 1 THEN 1 ELSE 0 END) AS omnichannel,"
        "  SUM(purchases) AS n, SUM(sales) AS sales, SUM(n_with) AS n_with,"
        "  SUM(sales_with) AS sales_with,"
        f" (SELECT COUNT(*) FROM ({members.sql}) m) AS members,"
        f" (SELECT spend FROM ({spend.sql}) s) AS spend"
        " FROM per",
        (start, *happened.params, *members.params, *spend.params),
    )


def by_channel(*, currency: str, start: datetime, end: datetime) -> Fragment:
    """A row per channel with activity: active customers, purchases, net sales,
    redemptions captured and their amount."""
    happened = acts(currency=currency, start=start, end=end)
    return Fragment(
        "SELECT channel, COUNT(DISTINCT customer_id) AS active, SUM(is_purchase) AS purchases,"  # noqa: S608
        " SUM(is_purchase * amount) AS sales, SUM(1 - is_purchase) AS redemptions,"
        f" SUM((1 - is_purchase) * amount) AS redeemed FROM ({happened.sql}) a GROUP BY channel",
        happened.params,
    )


def cohorts(*, currency: str, start: datetime, end: datetime) -> Fragment:
    """A row per sign-up month (UTC) of the customers who signed up before `end`: how many,
    and how many of them were active in [start, end)."""
    happened = acts(currency=currency, start=start, end=end)
    members = accounts.customers(signed_up_before=end)
    return Fragment(
        f"WITH a AS (SELECT DISTINCT customer_id FROM ({happened.sql}) x)"  # noqa: S608
        " SELECT m.signed_up_month AS month, COUNT(*) AS customers,"
        f" COUNT(a.customer_id) AS active FROM ({members.sql}) m"
        " LEFT JOIN a ON a.customer_id = m.customer_id"
        " GROUP BY m.signed_up_month ORDER BY m.signed_up_month",
        happened.params + members.params,
    )
