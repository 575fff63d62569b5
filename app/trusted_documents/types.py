from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from app.graphql.errors import UserError
from app.trusted_documents.service import Document


@strawberry.type(description="A GraphQL document that may run by its hash alone.")
class TrustedDocument:
    sha256_hash: str = strawberry.field(description="The SHA-256 of the text in UTF-8 (hex).")
    name: str
    document: str
    built_in: bool = strawberry.field(
        description="One of the contract's or the dashboard's: it cannot be removed."
    )
    created_at: datetime | None = strawberry.field(description="When an admin registered it.")

    @classmethod
    def of(cls, document: Document) -> Self:
        return cls(
            sha256_hash=document.sha256,
            name=document.name,
            document=document.document,
            built_in=document.built_in,
            created_at=document.created_at,
        )


@strawberry.input
class RegisterTrustedDocumentInput:
    name: str = strawberry.field(description="A label, usually the operation's name.")
    document: str = strawberry.field(
        description="The exact text clients send; it must validate against the schema."
    )


@strawberry.type
class RegisterTrustedDocumentPayload:
    trusted_document: TrustedDocument | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RemoveTrustedDocumentPayload:
    removed_sha256_hash: str | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
