"""The GraphQL face of the program's metrics. Every figure's definition is in its
description (and README.md, "Program metrics")."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry

from app.cashback.reporting import SegmentFigures
from app.catalog.values import Channel
from app.core.ids import encode_id
from app.core.money import Money as MoneyValue
from app.graphql.scalars import Money
from app.insights import service
from app.insights.period import Interval
from app.insights.service import average, share

strawberry.enum(Interval, name="MetricsInterval", description="The length of a series' points.")


@strawberry.enum(description="How `bySegment` groups buyers.")
class SegmentKind(Enum):
    TIER = "TIER"
    LIFECYCLE = "LIFECYCLE"


@strawberry.type(
    description="The program's books, to the cent with the ledger. Balances as of the "
    "period's end; movements recorded within the period."
)
class FinanceView:
    pending: Money = strawberry.field(description="Credit not yet matured.")
    available: Money = strawberry.field(description="Credit customers may spend.")
    reserved: Money = strawberry.field(description="Credit held by open redemptions.")
    outstanding: Money = strawberry.field(description="pending + available + reserved.")
    issued: Money = strawberry.field(description="Credits given (cashback, bonuses, referrals).")
    redeemed: Money = strawberry.field(description="Credits spent by captured redemptions.")
    expired: Money = strawberry.field(description="Credits that expired unused.")
    reversed: Money = strawberry.field(
        description="What refunds took back from customers' pending and available credit."
    )
    clawed_back: Money = strawberry.field(
        description="What refunds could not take back (already spent or expired), recorded "
        "on the program's clawback account."
    )
    forfeited: Money = strawberry.field(
        description="Credit that deleted accounts held, moved to the forfeited account."
    )

    @classmethod
    def of(cls, metrics: service.Metrics) -> FinanceView:
        books, currency = metrics.books, metrics.currency

        def money(minor: int) -> Money:
            return Money.from_minor(minor, currency)

        return cls(
            pending=money(books.pending),
            available=money(books.available),
            reserved=money(books.reserved),
            outstanding=money(books.outstanding),
            issued=money(books.issued),
            redeemed=money(books.redeemed),
            expired=money(books.expired),
            reversed=money(books.reversed),
            clawed_back=money(books.clawed_back),
            forfeited=money(books.forfeited),
        )


@strawberry.type(description="What happened in one channel over the period.")
class ChannelMetrics:
    channel: Channel
    active_customers: int = strawberry.field(
        description="Customers who bought or redeemed in this channel."
    )
    purchase_count: int
    sales: Money = strawberry.field(description="Net of refunds.")
    average_ticket: Money | None = strawberry.field(description="Null when no purchase.")
    redemption_count: int = strawberry.field(description="Redemptions captured.")
    redeemed: Money

    @classmethod
    def of(cls, row: service.ChannelFigures, currency: str) -> ChannelMetrics:
        return cls(
            channel=row.channel,
            active_customers=row.active_customers,
            purchase_count=row.purchase_count,
            sales=Money.from_minor(row.sales, currency),
            average_ticket=_money(average(row.sales, row.purchase_count, currency)),
            redemption_count=row.redemption_count,
            redeemed=Money.from_minor(row.redeemed, currency),
        )


@strawberry.type(
    description="Buyers of a segment over the period: TIER by the tier each purchase was "
    "made at, LIFECYCLE NEW (no counted purchase before the period) or RETURNING."
)
class SegmentMetrics:
    kind: SegmentKind
    key: str
    name: str
    active_customers: int = strawberry.field(description="Customers who bought.")
    purchase_count: int
    sales: Money = strawberry.field(description="Net of refunds.")
    average_ticket: Money | None = strawberry.field(description="Null when no purchase.")


@strawberry.type(
    description="Customers who signed up in one month (UTC), and how many of "
    "them were active in the period."
)
class CohortRetention:
    sign_up_month: date = strawberry.field(description="The month's first day.")
    customers: int
    active_customers: int
    retention_rate: float | None = strawberry.field(description="activeCustomers / customers.")


@strawberry.type(
    description="One bucket of a series: its figures are defined as the period's, over [from, to)."
)
class MetricsPoint:
    from_: datetime = strawberry.field(name="from")
    to: datetime
    active_customers: int
    purchase_count: int
    sales: Money
    repurchase_rate: float | None
    retention_rate: float | None = strawberry.field(
        description="Against the bucket's previous period of the same length."
    )
    outstanding_liability: Money = strawberry.field(description="At the bucket's end.")

    @classmethod
    def of(cls, point: service.Point, currency: str) -> MetricsPoint:
        return cls(
            from_=point.period.start,
            to=point.period.end,
            active_customers=point.active_customers,
            purchase_count=point.purchase_count,
            sales=Money.from_minor(point.sales, currency),
            repurchase_rate=share(point.repeat_buyers, point.buyers),
            retention_rate=share(point.retained, point.previously_active),
            outstanding_liability=Money.from_minor(point.outstanding_liability, currency),
        )


@strawberry.type(description="An offer's part in the period.")
class OfferMetrics:
    offer_id: strawberry.ID
    title: str
    activations: int = strawberry.field(description="Activations in the period.")
    purchase_count: int = strawberry.field(
        description="Counted purchases of the period that used the offer."
    )
    cashback_issued: Money = strawberry.field(
        description="What the offer gave on those purchases, less what refunds returned."
    )


def _money(value: MoneyValue | None) -> Money | None:
    return Money.of(value) if value is not None else None


def _segment(row: SegmentFigures, currency: str) -> SegmentMetrics:
    return SegmentMetrics(
        kind=SegmentKind[row.kind],
        key=row.key,
        name=row.name,
        active_customers=row.active_customers,
        purchase_count=row.purchase_count,
        sales=Money.from_minor(row.sales, currency),
        average_ticket=_money(average(row.sales, row.purchase_count, currency)),
    )


@strawberry.type(
    description="How the program did over [from, to). A customer is active when they made "
    "a counted purchase (one not refunded in full) or had a redemption captured in the "
    "period. Amounts of purchases are net of refunds. Shares are null when their base is "
    "empty, averages when there is nothing to average (rounded to the minor unit)."
)
class ProgramMetrics:
    metrics: strawberry.Private[service.Metrics]
    active_customers: int = strawberry.field(
        description="Customers who bought or redeemed in the period."
    )
    repurchase_rate: float | None = strawberry.field(
        description="Share of the customers with a counted purchase in the period who made "
        "at least two."
    )
    retention_rate: float | None = strawberry.field(
        description="Share of the customers active in the previous period of the same "
        "length, [from - (to - from), from), who are active in this one."
    )
    omnichannel_rate: float | None = strawberry.field(
        description="Share of active customers who bought or redeemed in both channels."
    )
    average_ticket: Money | None = strawberry.field(description="Net sales / counted purchases.")
    average_ticket_with_redemption: Money | None = strawberry.field(
        description="Over counted purchases partly paid with credits (creditsUsed, or a "
        "redemption captured for the order)."
    )
    average_ticket_without_redemption: Money | None = strawberry.field(
        description="Over counted purchases paid with money only."
    )
    lifetime_value: Money | None = strawberry.field(
        description="Average spend per customer since sign-up: net sales of every purchase "
        "before `to`, over the customers who signed up before `to` (buyers or not)."
    )
    cashback_issued: Money = strawberry.field(description="finance.issued.")
    cashback_redeemed: Money = strawberry.field(description="finance.redeemed.")
    cashback_expired: Money = strawberry.field(description="finance.expired.")
    outstanding_liability: Money = strawberry.field(
        description="pending + available + reserved credit at `to` (now, when `to` is in "
        "the future)."
    )
    from_: datetime = strawberry.field(name="from")
    to: datetime
    purchase_count: int = strawberry.field(description="Counted purchases in the period.")
    sales: Money = strawberry.field(description="Their totals, net of refunds.")
    finance: FinanceView

    @classmethod
    def of(cls, m: service.Metrics) -> ProgramMetrics:
        currency, books = m.currency, m.books
        without = m.purchase_count - m.purchases_with_credits
        return cls(
            metrics=m,
            active_customers=m.active_customers,
            repurchase_rate=share(m.repeat_buyers, m.buyers),
            retention_rate=share(m.retained, m.previously_active),
            omnichannel_rate=share(m.omnichannel, m.active_customers),
            average_ticket=_money(average(m.sales, m.purchase_count, currency)),
            average_ticket_with_redemption=_money(
                average(m.sales_with_credits, m.purchases_with_credits, currency)
            ),
            average_ticket_without_redemption=_money(
                average(m.sales - m.sales_with_credits, without, currency)
            ),
            lifetime_value=_money(average(m.lifetime_spend, m.members, currency)),
            cashback_issued=Money.from_minor(books.issued, currency),
            cashback_redeemed=Money.from_minor(books.redeemed, currency),
            cashback_expired=Money.from_minor(books.expired, currency),
            outstanding_liability=Money.from_minor(books.outstanding, currency),
            from_=m.period.start,
            to=m.period.end,
            purchase_count=m.purchase_count,
            sales=Money.from_minor(m.sales, currency),
            finance=FinanceView.of(m),
        )

    @strawberry.field(description="Both channels, active or not.")
    async def by_channel(self) -> list[ChannelMetrics]:
        rows = await service.channel_figures(
            period=self.metrics.period, currency=self.metrics.currency
        )
        return [ChannelMetrics.of(row, self.metrics.currency) for row in rows]

    @strawberry.field(
        description="Every tier (then tiers no longer defined), then NEW and RETURNING buyers."
    )
    async def by_segment(self) -> list[SegmentMetrics]:
        rows = await service.segment_figures(
            period=self.metrics.period, currency=self.metrics.currency
        )
        return [_segment(row, self.metrics.currency) for row in rows]

    @strawberry.field(description="Every sign-up month up to `to`, oldest first.")
    async def cohorts(self) -> list[CohortRetention]:
        rows = await service.cohorts(period=self.metrics.period, currency=self.metrics.currency)
        return [
            CohortRetention(
                sign_up_month=row.sign_up_month,
                customers=row.customers,
                active_customers=row.active_customers,
                retention_rate=share(row.active_customers, row.customers),
            )
            for row in rows
        ]

    @strawberry.field(
        description="The period in calendar days, ISO weeks or months (UTC), the first and "
        "last cut to the period; at most 1,100 points (else INVALID_INPUT at interval)."
    )
    async def series(self, interval: Interval = Interval.MONTH) -> list[MetricsPoint]:
        points = await service.series(
            period=self.metrics.period, currency=self.metrics.currency, interval=interval
        )
        return [MetricsPoint.of(p, self.metrics.currency) for p in points]

    @strawberry.field(
        description="The offers that gave the most cashback on the period's purchases "
        "(then by purchases and activations), then those only activated in it; at most 100."
    )
    async def top_offers(self, first: int = 5) -> list[OfferMetrics]:
        rows = await service.top_offers(
            period=self.metrics.period, currency=self.metrics.currency, first=first
        )
        currency = self.metrics.currency
        return [
            OfferMetrics(
                offer_id=strawberry.ID(encode_id("Offer", row.offer_id)),
                title=row.title,
                activations=row.activations,
                purchase_count=row.purchase_count,
                cashback_issued=Money.from_minor(row.cashback_issued, currency),
            )
            for row in rows
        ]
