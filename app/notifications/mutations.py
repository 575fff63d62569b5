from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.errors import returns_user_errors
from app.graphql.permissions import IsCustomer
from app.notifications import service
from app.notifications.types import MarkNotificationsReadPayload, Notification


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=[IsCustomer],
        description="Mark messages of your inbox read (at most 100 ids; those already read "
        "keep their time). Any id that is not one of your messages refuses the whole call.",
    )
    @returns_user_errors(MarkNotificationsReadPayload)
    async def mark_notifications_read(
        self, info: Info, ids: list[strawberry.ID]
    ) -> MarkNotificationsReadPayload:
        rows = await service.mark_read(customer_id=info.context.caller.subject_id, ids=ids)
        return MarkNotificationsReadPayload(notifications=[Notification.of(row) for row in rows])
