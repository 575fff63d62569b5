"""`viewer`: the signed-in customer. Its type joins each feature's `ViewerFields`
(profile from accounts, balance from the ledger, ...), all resolved on the User row."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import strawberry
from graphql import OperationType
from strawberry.tools import merge_types

from app.accounts.service import get_active_user
from app.core.errors import Unauthenticated
from app.features import feature_modules
from app.graphql.context import Info
from app.graphql.parents import ViewerRoot
from app.graphql.permissions import IsCustomer

if TYPE_CHECKING:
    # The type is made at run time; its fields resolve on the customer's row.
    Viewer: TypeAlias = ViewerRoot
else:
    Viewer = merge_types(
        "Viewer",
        tuple(m.ViewerFields for m in feature_modules("types") if hasattr(m, "ViewerFields")),
    )


@strawberry.type
class ViewerQuery:
    @strawberry.field(permission_classes=[IsCustomer], description="The signed-in customer.")
    async def viewer(self, info: Info) -> Viewer:
        caller = info.context.caller
        # Read with the session check, unless a mutation of this request may have changed it.
        user = info.context.caller_account
        if user is None or info.operation.operation is not OperationType.QUERY:
            user = await get_active_user(caller.subject_id)
        if user is None:
            raise Unauthenticated("This account no longer exists.")
        return user
