"""The inbox as a customer's app reads it, and what is stored, for the stories."""

from __future__ import annotations

from typing import Any

from app import db
from tests.support import Api

# The contract's operations (mobile/notifications.graphql), with the fields it adds.
INBOX = """
query Notifications($first: Int!, $after: String, $unreadOnly: Boolean) {
  viewer {
    unreadNotificationCount
    notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
      edges { cursor node { id kind title body createdAt readAt target marketing } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

MARK = """
mutation MarkNotificationsRead($ids: [ID!]!) {
  markNotificationsRead(ids: $ids) {
    notifications { id readAt }
    userErrors { code field message }
  }
}
"""


async def inbox(
    api: Api, token: str, *, first: int = 20, after: str | None = None, unread_only: Any = None
) -> dict[str, Any]:
    answer = await api.gql(
        INBOX, {"first": first, "after": after, "unreadOnly": unread_only}, token=token
    )
    assert "errors" not in answer, answer
    return answer["data"]["viewer"]


async def messages(api: Api, token: str) -> list[dict[str, Any]]:
    """Every message of the customer's inbox, newest first."""
    found = await inbox(api, token, first=100)
    return [edge["node"] for edge in found["notifications"]["edges"]]


async def stored(customer_id: int) -> list[dict[str, Any]]:
    """The customer's stored messages, oldest first."""
    return await db.rows(
        "SELECT kind, cause, marketing, locale, title, body, target FROM notifications"
        " WHERE customer_id = ? ORDER BY id",
        customer_id,
    )


async def kinds(customer_id: int) -> list[str]:
    return [row["kind"] for row in await stored(customer_id)]
