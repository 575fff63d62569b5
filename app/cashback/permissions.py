"""Who may preview a cart's cashback: a signed-in customer (for themselves), an admin, or
a partner system with a purchases scope."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from app.cashback.history import PARTNER_PURCHASE_SCOPES
from app.core.errors import Forbidden, Unauthenticated
from app.graphql.context import Info


class CanPreviewCashback(BasePermission):
    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        caller = info.context.principal
        if caller is None:
            raise Unauthenticated()
        if caller.is_customer or caller.is_admin:
            return True
        if caller.is_partner and caller.scopes & PARTNER_PURCHASE_SCOPES:
            return True
        raise Forbidden("This needs a customer, an admin or a partner with a purchases scope.")
