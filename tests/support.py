"""Helpers for tests: a GraphQL client over HTTP and token makers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from app.accounts.tokens import issue_access_token, issue_partner_token
from app.settings import Settings


@dataclass
class Api:
    client: httpx.AsyncClient
    settings: Settings

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        operation_name: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation_name:
            body["operationName"] = operation_name
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        return await self.client.post("/graphql", json=body, headers=all_headers)

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        operation_name: str | None = None,
    ) -> dict[str, Any]:
        """The JSON answer to a query that must reach execution (HTTP 200)."""
        response = await self.post(query, variables, token=token, operation_name=operation_name)
        assert response.status_code == 200, response.text
        return response.json()

    def token_for(self, user: Any) -> str:
        """A customer's or admin's access token, as sign-in would issue it."""
        token, _ = issue_access_token(self.settings, user_id=user.id, role=str(user.role))
        return token

    def partner_token(
        self, scopes: list[str], *, merchant_id: int | None = None, client_id: int = 1
    ) -> str:
        """A partner system's token, as the client-credentials grant would issue it."""
        token, _ = issue_partner_token(
            self.settings, client_id=client_id, scopes=scopes, merchant_id=merchant_id
        )
        return token


def error_codes(answer: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in answer.get("errors") or []]
