from __future__ import annotations

import strawberry

from app.graphql.errors import UserError
from app.graphql.scalars import JSON


@strawberry.type
class ExportMyDataPayload:
    export: JSON | None = strawberry.field(
        default=None,
        description=(
            "Everything the program holds about the customer, as one JSON document in the"
            " format named by its `format` and `version` (see the README). Very long"
            " histories: GET /account/export streams the same document."
        ),
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteAccountPayload:
    user_errors: list[UserError] = strawberry.field(default_factory=list)
