from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from app.graphql.permissions import IsAdmin
from app.insights import service
from app.insights.types import ProgramMetrics


@strawberry.type
class Query:
    @strawberry.field(
        permission_classes=[IsAdmin],
        description="How the program did over [from, to) (admins). INVALID_INPUT at `to` "
        "when the period does not end after it starts or spans more than 5 years.",
    )
    async def program_metrics(
        self, from_: Annotated[datetime, strawberry.argument(name="from")], to: datetime
    ) -> ProgramMetrics:
        return ProgramMetrics.of(await service.program_metrics(start=from_, end=to))
