from __future__ import annotations

import strawberry

from app.accounts.service import Client
from app.graphql.context import Info
from app.graphql.errors import returns_user_errors
from app.graphql.permissions import IsCustomer
from app.privacy import service
from app.privacy.types import DeleteAccountPayload, ExportMyDataPayload


def _client(info: Info) -> Client:
    return Client(
        address=info.context.client_address,
        user_agent=info.context.request.headers.get("user-agent"),
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=[IsCustomer],
        description="Everything the program holds about the signed-in customer, as one JSON "
        "document; one export at a time (EXPORT_IN_PROGRESS).",
    )
    @returns_user_errors(ExportMyDataPayload)
    async def export_my_data(self, info: Info) -> ExportMyDataPayload:
        document = await service.export_my_data(customer_id=info.context.caller.subject_id)
        return ExportMyDataPayload(export=document)

    @strawberry.mutation(
        permission_classes=[IsCustomer],
        description="Delete the account for good: personal data is erased, every session "
        "ends, open redemptions are released and the remaining credit is forfeited; the "
        "anonymised purchases and ledger stay for the program's books. Needs the password.",
    )
    @returns_user_errors(DeleteAccountPayload)
    async def delete_account(self, info: Info, password: str) -> DeleteAccountPayload:
        await service.delete_account(
            customer_id=info.context.caller.subject_id, password=password, client=_client(info)
        )
        return DeleteAccountPayload()
