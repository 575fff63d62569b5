from __future__ import annotations

import strawberry

from app.accounts import partners
from app.accounts.types import PartnerClient
from app.graphql.permissions import IsAdmin
from app.graphql.scalars import Connection


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=[IsAdmin],
        description="Partner systems' clients, newest first.",
    )
    async def partner_clients(
        self, first: int = 20, after: str | None = None, include_disabled: bool = True
    ) -> Connection[PartnerClient]:
        page = await partners.list_partner_clients(
            first=first, after=after, include_disabled=include_disabled
        )
        return Connection.of(page, [PartnerClient.of(row) for row in page.items])
