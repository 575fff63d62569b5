"""A small shop whose purchases the tests write, and the suggestion reads a client makes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.catalog.models import Merchant, Product, Store
from app.catalog.values import Channel
from app.core.ids import encode_id
from tests.cashback.factories import item, purchase_input, record
from tests.catalog.factories import make_merchant, make_product, make_store
from tests.factories import make_customer
from tests.support import Api

RELATED = """
query RelatedProducts($productId: ID!, $first: Int = 6) {
  product(id: $productId) {
    id
    name
    related(first: $first) { id sku name category price { amount currencyCode } cashbackPercent }
  }
}
"""

SUGGESTIONS = """
query Suggestions($first: Int = 6, $purchaseId: ID) {
  viewer {
    suggestions(first: $first, purchaseId: $purchaseId) {
      product { id sku name category price { amount currencyCode } merchant { id name } }
      reason
      affordableWithBalance
      estimatedCashback { amount currencyCode }
    }
  }
}
"""


@dataclass
class Shop:
    """A merchant with an online shop and products by sku."""

    merchant: Merchant
    store: Store
    products: dict[str, Product] = field(default_factory=dict)

    def price_of(self, sku: str) -> int:
        """A product's price in cents (10.00 for a sku the catalogue does not know)."""
        return self.products[sku].price_minor if sku in self.products else 1000

    def gid(self, sku: str) -> str:
        return encode_id("Product", self.products[sku].id)

    async def buy(
        self, api: Api, customer: Any, *skus: str, occurred_at: datetime | None = None
    ) -> dict[str, Any]:
        """A purchase of one of each of these products, as the shop reports it."""
        prices = {sku: self.price_of(sku) for sku in skus}
        lines = [item(sku, f"{price // 100}.{price % 100:02}") for sku, price in prices.items()]
        total = sum(prices.values())
        data = purchase_input(
            self.store,
            customer,
            f"{total // 100}.{total % 100:02}",
            items=lines,
            occurred_at=occurred_at,
        )
        result = await record(api, self.store, data)
        assert result["userErrors"] == [], result
        return result["purchase"]


async def make_shop(
    catalogue: dict[str, str],
    *,
    percent: str = "2",
    price: str = "10.00",
    prices: dict[str, str] | None = None,
) -> Shop:
    """A shop selling each sku of `catalogue` (sku -> category) at `price` (or its own in
    `prices`)."""
    merchant = await make_merchant(percent=percent)
    store = await make_store(merchant, channel=Channel.ONLINE)
    shop = Shop(merchant, store)
    for sku, category in catalogue.items():
        shop.products[sku] = await make_product(
            merchant, sku=sku, category=category, price=(prices or {}).get(sku, price)
        )
    return shop


async def customers(count: int, **overrides: Any) -> list[Any]:
    return [await make_customer(**overrides) for _ in range(count)]


async def related(api: Api, product_id: str, first: int = 6) -> list[str]:
    """The skus of a product's related products, in order."""
    answer = await api.gql(RELATED, {"productId": product_id, "first": first})
    assert "errors" not in answer, answer
    return [p["sku"] for p in answer["data"]["product"]["related"]]


async def suggestions(
    api: Api, customer: Any, *, first: int = 6, purchase_id: str | None = None
) -> list[dict[str, Any]]:
    answer = await api.gql(
        SUGGESTIONS, {"first": first, "purchaseId": purchase_id}, token=api.token_for(customer)
    )
    assert "errors" not in answer, answer
    return answer["data"]["viewer"]["suggestions"]


def skus(found: list[dict[str, Any]]) -> list[str]:
    return [s["product"]["sku"] for s in found]
