"""Declared permissions: `permission_classes=[IsCustomer]` on a field, never an `if` on
the role inside a resolver."""

from __future__ import annotations

from functools import cache
from typing import Any

from strawberry.permission import BasePermission

from app.accounts.tokens import Principal
from app.core.errors import Forbidden, Unauthenticated
from app.graphql.context import Info


async def _caller(info: Info) -> Principal:
    """The caller. Its token was checked and its session (or partner client) confirmed
    alive when the operation started (`Context.establish_caller`)."""
    principal = info.context.principal
    if principal is None:
        raise Unauthenticated()
    return principal


class IsAuthenticated(BasePermission):
    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        await _caller(info)
        return True


class IsCustomer(BasePermission):
    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if not (await _caller(info)).is_customer:
            raise Forbidden("Only a signed-in customer may do this.")
        return True


class IsSignedInUser(BasePermission):
    """A signed-in person: a customer or an admin (not a partner system)."""

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if (await _caller(info)).is_partner:
            raise Forbidden("Only a signed-in customer or admin may do this.")
        return True


class IsAdmin(BasePermission):
    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if not (await _caller(info)).is_admin:
            raise Forbidden("Only an admin may do this.")
        return True


class IsPartner(BasePermission):
    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if not (await _caller(info)).is_partner:
            raise Forbidden("Only a partner system may do this.")
        return True


@cache
def HasScope(scope: str) -> type[BasePermission]:
    """A partner whose token carries `scope`."""

    class _HasScope(BasePermission):
        async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
            caller = await _caller(info)
            if not caller.is_partner or scope not in caller.scopes:
                raise Forbidden(f"This needs a partner token with the scope {scope}.")
            return True

    _HasScope.__name__ = f"HasScope[{scope}]"
    return _HasScope
