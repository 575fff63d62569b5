"""The contract's redemption operations, as clients send them, and helpers to send them."""

from __future__ import annotations

from typing import Any

from tests.support import Api

QUOTE = """
query RedemptionQuote($merchantId: ID!, $orderTotal: MoneyInput!) {
  viewer {
    redemptionQuote(merchantId: $merchantId, orderTotal: $orderTotal) {
      maximum { amount currencyCode }
      minimum { amount currencyCode }
      available { amount currencyCode }
    }
  }
}
"""

START = """
mutation StartRedemption($input: StartRedemptionInput!) {
  startRedemption(input: $input) {
    redemption {
      id
      status
      channel
      amount { amount currencyCode }
      merchant { id name }
      code
      expiresAt
      createdAt
    }
    userErrors { code field message }
  }
}
"""

CANCEL = """
mutation CancelRedemption($id: ID!) {
  cancelRedemption(id: $id) {
    redemption { id status }
    userErrors { code field message }
  }
}
"""

LIST = """
query Redemptions($first: Int!, $after: String) {
  viewer {
    redemptions(first: $first, after: $after) {
      edges {
        cursor
        node {
          id
          status
          channel
          amount { amount currencyCode }
          merchant { id name }
          createdAt
          expiresAt
          capturedAt
          orderReference
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

CAPTURE = """
mutation CaptureRedemption($input: CaptureRedemptionInput!) {
  captureRedemption(input: $input) {
    redemption {
      id
      status
      amount { amount currencyCode }
      capturedAt
      orderReference
    }
    userErrors { code field message }
  }
}
"""

RELEASE = """
mutation ReleaseRedemption($input: ReleaseRedemptionInput!) {
  releaseRedemption(input: $input) {
    redemption { id status }
    userErrors { code field message }
  }
}
"""

NODE = """
query Node($id: ID!) {
  node(id: $id) {
    id
    ... on Redemption { status code amount { amount } store { id channel } }
  }
}
"""


def start_input(
    merchant_id: str,
    amount: str,
    *,
    channel: str = "IN_STORE",
    key: str = "key-1",
    currency: str = "USD",
    order_total: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "merchantId": merchant_id,
        "amount": {"amount": amount, "currencyCode": currency},
        "channel": channel,
        "idempotencyKey": key,
    }
    if order_total is not None:
        data["orderTotal"] = {"amount": order_total, "currencyCode": "USD"}
    return {"input": data}


async def start(api: Api, token: str, merchant_id: str, amount: str, **kwargs: Any) -> dict:
    """The startRedemption payload."""
    answer = await api.gql(START, start_input(merchant_id, amount, **kwargs), token=token)
    assert "errors" not in answer, answer
    return answer["data"]["startRedemption"]


async def started(api: Api, token: str, merchant_id: str, amount: str, **kwargs: Any) -> dict:
    """A redemption that must start."""
    payload = await start(api, token, merchant_id, amount, **kwargs)
    assert payload["userErrors"] == [], payload
    return payload["redemption"]


async def capture(api: Api, token: str, **fields: Any) -> dict:
    """The captureRedemption answer (data and errors)."""
    return await api.gql(CAPTURE, {"input": fields}, token=token)


async def listed(api: Api, token: str, first: int = 50) -> list[dict]:
    answer = await api.gql(LIST, {"first": first}, token=token)
    assert "errors" not in answer, answer
    return [edge["node"] for edge in answer["data"]["viewer"]["redemptions"]["edges"]]


def errors_of(payload: dict) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]
