"""Declared permissions: `permission_classes=[IsCustomer]` on a field, never an `if` on
the role inside a resolver."""

from __future__ import annotations

from functools import cache
from typing import Any

from strawberry.permission import BasePermission

from app.accounts.loaders import principals_alive
from app.accounts.tokens import Principal
from app.core.errors import Forbidden, Unauthenticated
from app.graphql.context import Info


async def _caller(info: Info) -> Principal:
    """The caller, whose session (or partner client) still stands: a token of a session
    that was signed out, or of a disabled or rotated partner client, is refused although it
    has not expired. One lookup per request (the request's loader caches it)."""
    principal = info.context.principal
    if principal is None:
        raise Unauthenticated()
    if not await info.context.loader(principals_alive).load(principal):
        raise Unauthenticated("This session has ended; sign in again.")
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
