"""Strawberry types of the accounts feature."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from app.accounts.models import User
from app.core.ids import encode_id


@strawberry.type
class Consents:
    personalization: bool
    marketing: bool
    updated_at: datetime | None


@strawberry.type
class ViewerFields:
    """The signed-in customer's own profile (joined into `Viewer`)."""

    email: str
    display_name: str
    birth_date: date | None
    locale: str | None
    member_code: str

    @strawberry.field
    def id(self, root: strawberry.Parent[User]) -> strawberry.ID:
        return strawberry.ID(encode_id("Customer", root.id))

    @strawberry.field
    def consents(self, root: strawberry.Parent[User]) -> Consents:
        return Consents(
            personalization=root.consent_personalization,
            marketing=root.consent_marketing,
            updated_at=root.consents_updated_at,
        )
