"""Demo redemptions for `seed-demo`: customers with credits spend some in store and online,
one changes their mind, and one redemption is still open."""

from __future__ import annotations

import random
from typing import Any

from tqdm import tqdm

from app import ledger
from app.catalog.values import Channel
from app.core.errors import DomainError
from app.core.ids import encode_id
from app.core.money import Money
from app.program.service import get_program
from app.redemptions import service
from app.settings import get_settings

STEP = 40
WORK = 24  # one step for each demo customer


async def seed(rng: random.Random, state: dict[str, Any], progress: tqdm[Any]) -> dict[str, int]:
    settings = get_settings()
    program = await get_program()
    currency = program.currency_code
    minimum = program.minimum_redemption.minor
    stores = state.get("stores", [])
    made = 0
    for n, customer in enumerate(state.get("customers", [])):
        progress.update(1)
        available = (await ledger.get_balance(customer_id=customer.id, currency=currency)).available
        if not stores or available < minimum or rng.random() < 0.4:
            continue
        store = rng.choice(stores)
        channel = Channel(store.channel)
        amount = max(minimum, rng.randint(minimum, max(minimum, available // 2)))
        try:
            redemption = await service.start_redemption(
                settings=settings,
                customer_id=customer.id,
                merchant_id=encode_id("Merchant", store.merchant_id),
                amount=Money.from_minor(amount, currency).amount,
                currency=currency,
                channel=channel,
                idempotency_key=f"demo-redemption-{n}",
            )
        except DomainError:
            continue
        made += 1
        ending = rng.choice(["capture", "capture", "cancel", "open"])
        if ending == "cancel":
            await service.cancel_redemption(
                customer_id=customer.id, redemption_id=encode_id("Redemption", redemption.id)
            )
        elif ending == "capture":
            code = service.visible_code(
                redemption, viewer_customer_id=customer.id, settings=settings
            )
            await service.capture_redemption(
                settings=settings,
                merchant_scope=store.merchant_id,
                store_id=encode_id("Store", store.id),
                code=code,
                redemption_id=None if code else encode_id("Redemption", redemption.id),
                order_reference=f"demo-order-{n:03}",
                order_total=(Money.from_minor(amount * 3, currency).amount, currency),
            )
    return {"redemptions": made}
