"""Rules, partner tokens and purchases for earning tests."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.cashback.models import CashbackRule
from app.cashback.rules import create_rule
from app.catalog.models import Store
from app.catalog.values import Channel
from app.core import clock
from app.core.ids import encode_id
from tests.support import Api

_numbers = itertools.count(1)

RECORD = """
mutation RecordPurchase($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    purchase {
      id externalId status channel occurredAt
      total { amount currencyCode }
      cashback { amount currencyCode }
      cashbackStatus cashbackAvailableAt
      noCashbackReason
      explanation { label percent base { amount } amount { amount } }
    }
    userErrors { code field message }
  }
}
"""

REFUND = """
mutation RefundPurchase($input: RefundPurchaseInput!) {
  refundPurchase(input: $input) {
    purchase { id status refunded { amount currencyCode } cashback { amount currencyCode }
               cashbackStatus }
    userErrors { code field message }
  }
}
"""


async def make_rule(
    *,
    percent: str,
    merchant_id: int | None = None,
    category: str | None = None,
    channels: list[Channel] | None = None,
    minimum_spend: str | None = None,
    cap: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    name: str | None = None,
) -> CashbackRule:
    return await create_rule(
        name=name or f"Rule {next(_numbers)}",
        percent=Decimal(percent),
        terms="Terms apply.",
        merchant_id=encode_id("Merchant", merchant_id) if merchant_id else None,
        category=category,
        channels=channels,
        minimum_spend=(Decimal(minimum_spend), "USD") if minimum_spend else None,
        max_cashback=(Decimal(cap), "USD") if cap else None,
        starts_at=starts_at,
        ends_at=ends_at,
    )


def purchase_input(
    store: Store,
    customer: Any,
    total: str,
    *,
    external_id: str | None = None,
    items: list[dict[str, Any]] | None = None,
    credits_used: str | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "storeId": encode_id("Store", store.id),
        "externalId": external_id or f"order-{next(_numbers)}",
        "customer": {"memberCode": customer.member_code},
        "total": {"amount": total, "currencyCode": "USD"},
        "occurredAt": (occurred_at or clock.now()).isoformat(),
    }
    if items is not None:
        data["items"] = items
    if credits_used is not None:
        data["creditsUsed"] = {"amount": credits_used, "currencyCode": "USD"}
    return data


def item(sku: str, unit_price: str, quantity: int = 1, category: str | None = None) -> dict:
    data: dict[str, Any] = {
        "sku": sku,
        "quantity": quantity,
        "unitPrice": {"amount": unit_price, "currencyCode": "USD"},
    }
    if category is not None:
        data["category"] = category
    return data


def writer(api: Api, store: Store) -> str:
    """A partner token for the store's merchant, allowed to report purchases and refunds."""
    return api.partner_token(["purchases:write", "purchases:read"], merchant_id=store.merchant_id)


async def record(api: Api, store: Store, data: dict[str, Any]) -> dict[str, Any]:
    answer = await api.gql(RECORD, {"input": data}, token=writer(api, store))
    assert "errors" not in answer, answer
    return answer["data"]["recordPurchase"]


async def refund(
    api: Api, store: Store, external_id: str, amount: str, key: str, **extra: Any
) -> dict[str, Any]:
    data = {
        "storeId": encode_id("Store", store.id),
        "externalId": external_id,
        "amount": {"amount": amount, "currencyCode": "USD"},
        "idempotencyKey": key,
        **extra,
    }
    answer = await api.gql(REFUND, {"input": data}, token=writer(api, store))
    assert "errors" not in answer, answer
    return answer["data"]["refundPurchase"]
