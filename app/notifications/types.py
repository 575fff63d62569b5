"""Strawberry types of the inbox, and the customer's `viewer` fields for it."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.core.ids import encode_id
from app.graphql.context import Context
from app.graphql.errors import UserError
from app.graphql.node import Node, node_fetcher
from app.graphql.parents import ViewerRoot
from app.graphql.scalars import Connection
from app.notifications import service
from app.notifications.kinds import NotificationKind as NotificationKindValue
from app.notifications.models import Notification as NotificationRow

strawberry.enum(
    NotificationKindValue,
    name="NotificationKind",
    description="Service messages (always sent): CASHBACK_RECORDED, CREDITS_AVAILABLE, "
    "CREDITS_EXPIRING, REDEMPTION_CAPTURED, TIER_REACHED, CASHBACK_TAKEN_BACK. Marketing "
    "messages (only with marketing consent, a few a week): SEGMENT_OFFER, BIRTHDAY, "
    "POST_PURCHASE, LAPSED_NUDGE.",
)
NotificationKind = NotificationKindValue  # the GraphQL enum is the model's own class


@strawberry.type(description="A message in the customer's inbox.")
class Notification(Node):
    kind: NotificationKind
    title: str = strawberry.field(description="In the customer's language when it was sent.")
    body: str
    target: str | None = strawberry.field(
        description="Where the app goes when the message is opened: a deep link such as "
        "`app://activity` or `app://offers/<offer id>`."
    )
    marketing: bool = strawberry.field(
        description="A marketing message (sent with the customer's consent only)."
    )
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, row: NotificationRow) -> Notification:
        return cls(
            id=strawberry.ID(encode_id("Notification", row.id)),
            kind=NotificationKindValue(row.kind),
            title=row.title,
            body=row.body,
            target=row.target,
            marketing=row.marketing,
            created_at=row.created_at,
            read_at=row.read_at,
        )


@strawberry.type
class ViewerFields:
    @strawberry.field(description="The customer's inbox, newest first.")
    async def notifications(
        self,
        root: strawberry.Parent[ViewerRoot],
        first: int = 20,
        after: str | None = None,
        unread_only: bool | None = False,
    ) -> Connection[Notification]:
        page = await service.list_notifications(
            customer_id=root.id, first=first, after=after, unread_only=bool(unread_only)
        )
        return Connection.of(page, [Notification.of(row) for row in page.items])

    @strawberry.field(description="How many messages of the inbox are not read yet.")
    async def unread_notification_count(self, root: strawberry.Parent[ViewerRoot]) -> int:
        return await service.unread_count(customer_id=root.id)


@strawberry.type
class MarkNotificationsReadPayload:
    notifications: list[Notification] = strawberry.field(
        default_factory=list, description="The messages marked read."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@node_fetcher("Notification")
async def fetch_notification(context: Context, pk: int) -> Notification | None:
    """Only the customer it was written to sees a message by id."""
    principal = context.principal
    if principal is None or not principal.is_customer:
        return None
    row = await service.get_for_customer(customer_id=principal.subject_id, notification_id=pk)
    return Notification.of(row) if row else None
