from __future__ import annotations

import strawberry

from app.graphql.permissions import IsAdmin
from app.trusted_documents import service
from app.trusted_documents.types import TrustedDocument


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=[IsAdmin],
        description="Every trusted document: the built-in ones, then those admins registered.",
    )
    async def trusted_documents(self) -> list[TrustedDocument]:
        return [TrustedDocument.of(d) for d in await service.trusted_documents()]
