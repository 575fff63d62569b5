"""Who may read the public offers: anyone, and a partner system only with offers:read."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from app.core.errors import Forbidden
from app.graphql.context import Info

SCOPE = "offers:read"


class CanReadPublicOffers(BasePermission):
    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        caller = info.context.principal
        if caller is not None and caller.is_partner and SCOPE not in caller.scopes:
            raise Forbidden(f"This needs a partner token with the scope {SCOPE}.")
        return True
