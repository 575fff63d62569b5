"""`GET /account/export`: the customer's data export as a download, streamed as it is read
(the same document `exportMyData` answers), for histories too long for one GraphQL answer.
Authenticated like the API: `Authorization: Bearer <access token>` of a live session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from app.accounts.loaders import confirm_caller
from app.accounts.tokens import Principal, principal_from_token
from app.core.errors import AccessError, DomainError, Forbidden, Unauthenticated
from app.privacy import service
from app.settings import Settings

_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403}


def _refusal(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status
    )


async def _customer(settings: Settings, request: Request) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send the access token as 'Bearer <token>'.")
    principal = principal_from_token(settings, token.strip())
    alive, _ = await confirm_caller(principal)
    if not alive:
        raise Unauthenticated("This session has ended; sign in again.")
    if not principal.is_customer:
        raise Forbidden("Only a signed-in customer may do this.")
    return principal


async def _body(claim: service.Claim) -> AsyncIterator[bytes]:
    # Closed here, in the task that streams, however the stream ends (the client may leave).
    async with aclosing(service.export_chunks(claim)) as chunks:
        async for chunk in chunks:
            yield chunk.encode()


def routes(settings: Settings) -> list[BaseRoute]:
    async def export(request: Request) -> Response:
        try:
            caller = await _customer(settings, request)
            claim = await service.start_export(customer_id=caller.subject_id)
        except AccessError as error:
            return _refusal(error.code, error.message, _STATUS.get(error.code, 403))
        except DomainError as error:
            return _refusal(str(error.code.value), error.message, 409)
        day = claim.started_at.date().isoformat()
        return StreamingResponse(
            _body(claim),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="my-data-{day}.json"'},
        )

    return [Route("/account/export", export, methods=["GET"])]
