"""Permissions of the accounts feature, declared next to the shared ones:
`permission_classes=[IsCustomer, SessionIsLive]`."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from app.accounts.loaders import principals_alive
from app.core.errors import Forbidden, Unauthenticated
from app.graphql.context import Info


class SessionIsLive(BasePermission):
    """The caller's session (or partner client) still stands: a token of a session that
    was signed out, or of a disabled or rotated partner client, is refused although it
    has not expired. Checked once per request (the request's loader caches it)."""

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal is None:
            raise Unauthenticated()
        if not await info.context.loader(principals_alive).load(principal):
            raise Unauthenticated("This session has ended; sign in again.")
        return True


class IsSignedInUser(BasePermission):
    """A signed-in person: a customer or an admin (not a partner system)."""

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal is None:
            raise Unauthenticated()
        if principal.is_partner:
            raise Forbidden("Only a signed-in customer or admin may do this.")
        return True
