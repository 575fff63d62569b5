"""Demo cashback rules, and purchases (some refunded) for the demo customers over the last
months, recorded as stores would report them, for `seed-demo`.

Most purchases are one of the merchant's bundles (app/catalog/demo.py; the first listed sells
best): a product with one or two of its companions; after one, the customer sometimes comes
back within days for a companion they left. The others are a few of the merchant's products
at random."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tqdm import tqdm

from app.cashback.purchases import (
    MAX_PURCHASES_PER_BATCH,
    CustomerRef,
    ItemInput,
    PurchaseInput,
    record_purchases,
)
from app.cashback.refunds import refund_purchase
from app.cashback.rules import create_rule
from app.catalog.values import Channel
from app.core import clock
from app.core.ids import encode_id
from app.core.money import Money
from app.program.service import get_program

STEP = 30
PURCHASES_PER_CUSTOMER = (3, 14)
# This one last bought two months ago or more: a lapsed customer.
LAPSED_CUSTOMER = 1
LAPSED_DAYS = 60
BUNDLE_SHARE = 0.8
# After a bundle, the chance that the customer's next purchase is a companion they left.
FOLLOW_UP_SHARE = 0.5
FOLLOW_UP_DAYS = (1, 7)

RULES = [
    # name, percent, category, channels, minimum spend, cap, days it started ago, days it lasts
    ("Bookworm month", "8", "Books", None, None, "20.00", 20, 40),
    ("Online electronics", "4", "Electronics", [Channel.ONLINE], "50.00", "25.00", 60, 365),
    ("Weekend groceries", "3.5", "Groceries", [Channel.IN_STORE], "30.00", None, 90, 365),
    ("Pet lovers", "7", "Pets", None, None, "10.00", 10, 30),
]
WORK = len(RULES) + 24 * 8  # rules, then about eight purchases for each of 24 customers


async def seed(rng: random.Random, state: dict[str, Any], progress: tqdm[Any]) -> dict[str, int]:
    program = await get_program()
    currency = program.currency_code
    now = clock.now()
    for name, percent, category, channels, minimum, cap, started, lasts in RULES:
        await create_rule(
            name=name,
            percent=Decimal(percent),
            terms=f"{percent} % back on {category.lower()}"
            + (f" over {minimum} {currency}" if minimum else "")
            + (f", up to {cap} {currency} a purchase" if cap else "")
            + ".",
            category=category,
            channels=channels,
            minimum_spend=(Decimal(minimum), currency) if minimum else None,
            max_cashback=(Decimal(cap), currency) if cap else None,
            starts_at=now - timedelta(days=started),
            ends_at=now - timedelta(days=started) + timedelta(days=lasts),
        )
        progress.update(1)

    inputs = _purchases(rng, state, currency=currency, now=now)
    # Oldest first, as a store syncing its history would send them.
    inputs.sort(key=lambda p: p.occurred_at)
    recorded = []
    for start in range(0, len(inputs), MAX_PURCHASES_PER_BATCH):
        batch = inputs[start : start + MAX_PURCHASES_PER_BATCH]
        for outcome in await record_purchases(batch, merchant_scope=None):
            if outcome.purchase is not None:
                recorded.append(outcome.purchase)
        progress.update(len(batch))
    refunds = 0
    for purchase in rng.sample(recorded, len(recorded) // 12):
        share = rng.choice([Decimal("0.25"), Decimal("0.5"), Decimal(1)])
        amount = Money.from_minor(purchase.total_minor, currency).times(share).amount
        if amount <= 0:
            continue
        await refund_purchase(
            store_id=encode_id("Store", purchase.store_id),
            external_id=purchase.external_id,
            amount=amount,
            currency=currency,
            idempotency_key=f"demo-refund-{purchase.id}",
            reason="Returned",
            merchant_scope=None,
        )
        refunds += 1
    state["purchases"] = recorded
    return {"cashback rules": len(RULES), "purchases": len(recorded), "refunds": refunds}


def _purchases(
    rng: random.Random, state: dict[str, Any], *, currency: str, now: datetime
) -> list[PurchaseInput]:
    """Each demo customer's purchases over the last four months (the lapsed customer's two
    months ago or more)."""
    stores = state.get("stores", [])
    bundles: dict[int, list[tuple[Any, list[Any]]]] = state.get("bundles", {})
    products_by_merchant: dict[int, list[Any]] = defaultdict(list)
    for product in state.get("products", []):
        products_by_merchant[product.merchant_id].append(product)
    stores_by_merchant: dict[int, list[Any]] = defaultdict(list)
    for store in stores:
        stores_by_merchant[store.merchant_id].append(store)
    inputs: list[PurchaseInput] = []
    for n, customer in enumerate(state.get("customers", [])):
        lapsed = n == LAPSED_CUSTOMER
        latest = now - timedelta(days=LAPSED_DAYS if lapsed else 0)
        # The companions a bundle just left: (when it was bought, its merchant, them).
        left: tuple[datetime, int, list[Any]] | None = None
        for k in range(rng.randint(*PURCHASES_PER_CUSTOMER)):
            if left and rng.random() < FOLLOW_UP_SHARE:
                bought_at, merchant_id, companions = left
                store = rng.choice(stores_by_merchant[merchant_id])
                basket = [(rng.choice(companions), 1)]
                later = timedelta(days=rng.randint(*FOLLOW_UP_DAYS), minutes=rng.randint(0, 600))
                occurred_at = min(bought_at + later, latest)
                left = None
            else:
                store = rng.choice(stores)
                days = rng.randint(LAPSED_DAYS, 200) if lapsed else rng.randint(0, 120)
                occurred_at = now - timedelta(days=days, minutes=rng.randint(0, 600))
                merchant_id = store.merchant_id
                basket, companions = _basket(
                    rng, bundles.get(merchant_id, []), products_by_merchant[merchant_id]
                )
                left = (occurred_at, merchant_id, companions) if companions else None
            items = [_item(product, quantity, currency) for product, quantity in basket]
            inputs.append(
                PurchaseInput(
                    store_id=encode_id("Store", store.id),
                    external_id=f"demo-{n:03}-{k:03}",
                    customer=CustomerRef(member_code=customer.member_code),
                    total_amount=sum((i.unit_price_amount * i.quantity for i in items), Decimal(0)),
                    total_currency=currency,
                    occurred_at=occurred_at,
                    items=items,
                )
            )
    return inputs


def _basket(
    rng: random.Random, bundles: list[tuple[Any, list[Any]]], catalogue: list[Any]
) -> tuple[list[tuple[Any, int]], list[Any]]:
    """A purchase's products with their quantities, and the companions a bundle left out."""
    if bundles and rng.random() < BUNDLE_SHARE:
        # The first of n bundles is chosen n times as often as the last.
        [(product, companions)] = rng.choices(bundles, weights=range(len(bundles), 0, -1))
        taken = rng.sample(companions, min(len(companions), rng.randint(1, 2)))
        return [(p, 1) for p in [product, *taken]], [c for c in companions if c not in taken]
    chosen = rng.sample(catalogue, min(len(catalogue), rng.randint(1, 4)))
    return [(p, rng.randint(1, 3)) for p in chosen], []


def _item(product: Any, quantity: int, currency: str) -> ItemInput:
    return ItemInput(
        sku=product.sku,
        name=product.name,
        category=product.category,
        quantity=quantity,
        unit_price_amount=Money.from_minor(product.price_minor, currency).amount,
        unit_price_currency=currency,
    )
