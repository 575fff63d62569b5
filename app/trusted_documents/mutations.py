from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.errors import returns_user_errors
from app.graphql.permissions import IsAdmin
from app.trusted_documents import service
from app.trusted_documents.types import (
    RegisterTrustedDocumentInput,
    RegisterTrustedDocumentPayload,
    RemoveTrustedDocumentPayload,
    TrustedDocument,
)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Let a document run by its hash (and under TRUSTED_DOCUMENTS_ONLY).",
    )
    @returns_user_errors(RegisterTrustedDocumentPayload)
    async def register_trusted_document(
        self, info: Info, input: RegisterTrustedDocumentInput
    ) -> RegisterTrustedDocumentPayload:
        document = await service.register(
            name=input.name,
            document=input.document,
            schema=info.schema._schema,
            max_bytes=info.context.settings.max_document_bytes,
        )
        return RegisterTrustedDocumentPayload(trusted_document=TrustedDocument.of(document))

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="Stop trusting a registered document (built-in ones stay).",
    )
    @returns_user_errors(RemoveTrustedDocumentPayload)
    async def remove_trusted_document(self, sha256_hash: str) -> RemoveTrustedDocumentPayload:
        removed = await service.remove(sha256=sha256_hash)
        return RemoveTrustedDocumentPayload(removed_sha256_hash=removed.sha256)
