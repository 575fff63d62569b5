"""Strawberry types of redeeming, and the customer's `viewer` fields for it."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.catalog import service as catalog
from app.catalog.types import Channel, Merchant, Store
from app.catalog.values import Channel as ChannelValue
from app.core.ids import encode_id
from app.graphql.context import Context, Info
from app.graphql.errors import UserError
from app.graphql.node import Node, node_fetcher
from app.graphql.parents import ViewerRoot
from app.graphql.scalars import Connection, Money, MoneyInput
from app.redemptions import service
from app.redemptions.models import Redemption as RedemptionRow
from app.redemptions.models import RedemptionStatus as RedemptionStatusValue

strawberry.enum(
    RedemptionStatusValue,
    name="RedemptionStatus",
    description="RESERVED: credits held, waiting for the order. CAPTURED: spent on the order. "
    "RELEASED: given back (cancelled). EXPIRED: not captured in time, given back.",
)
RedemptionStatus = RedemptionStatusValue  # the GraphQL enum is the model's own class


def _viewer_id(info: Info) -> int | None:
    principal = info.context.principal
    return principal.subject_id if principal is not None and principal.is_customer else None


@strawberry.type(description="Credits set aside to pay part of an order at a merchant.")
class Redemption(Node):
    status: RedemptionStatus
    channel: Channel
    amount: Money
    expires_at: datetime = strawberry.field(
        description="When an uncaptured redemption expires and its credits come back."
    )
    created_at: datetime
    captured_at: datetime | None
    order_reference: str | None = strawberry.field(
        description="The order the credits were spent on (set when captured)."
    )
    row: strawberry.Private[RedemptionRow]

    @classmethod
    def of(cls, row: RedemptionRow) -> Redemption:
        return cls(
            id=strawberry.ID(encode_id("Redemption", row.id)),
            status=service.current_status(row),
            channel=ChannelValue(row.channel),
            amount=Money.from_minor(row.amount_minor, row.currency),
            expires_at=row.expires_at,
            created_at=row.created_at,
            captured_at=row.captured_at,
            order_reference=row.order_reference,
            row=row,
        )

    @strawberry.field(
        description="IN_STORE: the 8-digit one-time code to show the cashier. Only its "
        "owner sees it, and only while the redemption is RESERVED."
    )
    def code(self, info: Info) -> str | None:
        return service.visible_code(
            self.row, viewer_customer_id=_viewer_id(info), settings=info.context.settings
        )

    @strawberry.field
    async def merchant(self, info: Info) -> Merchant:
        row = await info.context.loader(catalog.merchants_by_ids).load(self.row.merchant_id)
        assert row is not None
        return Merchant.of(row)

    @strawberry.field(description="The store where the credits were spent (once captured).")
    async def store(self, info: Info) -> Store | None:
        if self.row.store_id is None:
            return None
        row = await info.context.loader(catalog.stores_by_ids).load(self.row.store_id)
        return Store.of(row) if row else None


@strawberry.type(description="How much of the balance may pay an order at a merchant.")
class RedemptionQuote:
    maximum: Money = strawberry.field(
        description="The most credits may pay: the smaller of the available balance and the "
        "program's share of the order."
    )
    minimum: Money = strawberry.field(description="The least that can be redeemed.")
    available: Money


@strawberry.type
class ViewerFields:
    @strawberry.field(description="How much of the balance may pay this order at a merchant.")
    async def redemption_quote(
        self,
        root: strawberry.Parent[ViewerRoot],
        merchant_id: strawberry.ID,
        order_total: MoneyInput,
    ) -> RedemptionQuote:
        found = await service.quote(
            customer_id=root.id,
            merchant_id=merchant_id,
            order_total=order_total.amount,
            currency=order_total.currency_code,
        )
        return RedemptionQuote(
            maximum=Money.of(found.maximum),
            minimum=Money.of(found.minimum),
            available=Money.of(found.available),
        )

    @strawberry.field(description="The customer's redemptions, newest first.")
    async def redemptions(
        self, root: strawberry.Parent[ViewerRoot], first: int = 20, after: str | None = None
    ) -> Connection[Redemption]:
        page = await service.list_redemptions(customer_id=root.id, first=first, after=after)
        return Connection.of(page, [Redemption.of(row) for row in page.items])


@strawberry.input
class StartRedemptionInput:
    merchant_id: strawberry.ID
    amount: MoneyInput
    channel: Channel
    idempotency_key: str = strawberry.field(
        description="The client's key for this attempt: sending it again returns the same "
        "redemption."
    )
    order_total: MoneyInput | None = None


@strawberry.input
class CaptureRedemptionInput:
    store_id: strawberry.ID
    code: str | None = strawberry.field(default=None, description="In store: the code shown.")
    redemption_id: strawberry.ID | None = strawberry.field(
        default=None, description="Online: the redemption's id."
    )
    order_reference: str
    order_total: MoneyInput | None = None


@strawberry.input
class ReleaseRedemptionInput:
    store_id: strawberry.ID
    code: str | None = None
    redemption_id: strawberry.ID | None = None


@strawberry.type
class StartRedemptionPayload:
    redemption: Redemption | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CancelRedemptionPayload:
    redemption: Redemption | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CaptureRedemptionPayload:
    redemption: Redemption | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReleaseRedemptionPayload:
    redemption: Redemption | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@node_fetcher("Redemption")
async def fetch_redemption(context: Context, pk: int) -> Redemption | None:
    """Only the customer who made it sees a redemption by id."""
    principal = context.principal
    if principal is None or not principal.is_customer:
        return None
    row = await service.get_for_customer(customer_id=principal.subject_id, redemption_id=pk)
    return Redemption.of(row) if row else None
