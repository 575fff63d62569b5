"""Declared permissions: `permission_classes=[IsCustomer]` on a field, never an `if` on
the role inside a resolver."""

from __future__ import annotations

from functools import cache
from typing import Any

from strawberry.permission import BasePermission

from app.accounts.tokens import Principal
from app.core.errors import Forbidden, Unauthenticated
from app.graphql.context import Info


def _caller(info: Info) -> Principal:
    principal = info.context.principal
    if principal is None:
        raise Unauthenticated()
    return principal


class IsAuthenticated(BasePermission):
    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        _caller(info)
        return True


class IsCustomer(BasePermission):
    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if not _caller(info).is_customer:
            raise Forbidden("Only a signed-in customer may do this.")
        return True


class IsAdmin(BasePermission):
    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if not _caller(info).is_admin:
            raise Forbidden("Only an admin may do this.")
        return True


class IsPartner(BasePermission):
    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if not _caller(info).is_partner:
            raise Forbidden("Only a partner system may do this.")
        return True


@cache
def HasScope(scope: str) -> type[BasePermission]:
    """A partner whose token carries `scope`."""

    class _HasScope(BasePermission):
        def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
            caller = _caller(info)
            if not caller.is_partner or scope not in caller.scopes:
                raise Forbidden(f"This needs a partner token with the scope {scope}.")
            return True

    _HasScope.__name__ = f"HasScope[{scope}]"
    return _HasScope
