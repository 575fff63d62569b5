"""Demo offers across segments, for `seed-demo`: open to all, for new, lapsed, birthday,
omnichannel, young and high-spending customers, by tier and by favourite category, some
to activate, some with a budget, some translated."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

from tqdm import tqdm

from app.cashback.earning import OfferKind
from app.catalog.values import Channel
from app.core import clock
from app.offers.audience import Generation
from app.offers.service import AudienceSpec, OfferSpec, TranslationSpec, create_offer
from app.program.service import get_program

STEP = 35  # after the purchases (profiles are made of them), before redemptions
BOOST, BONUS = OfferKind.BOOSTED_CASHBACK, OfferKind.BONUS_CREDITS

# title, description, kind, percent or bonus, audience, extra
OFFERS: list[tuple[str, str, OfferKind, str, AudienceSpec | None, dict[str, Any]]] = [
    (
        "Double cashback week",
        "6 % back on everything, everywhere, this week.",
        BOOST,
        "6",
        None,
        {
            "days": 7,
            "translations": [
                TranslationSpec("pt-BR", "Semana de cashback em dobro", "6 % de volta em tudo."),
                TranslationSpec("es-ES", "Semana de cashback doble", "6 % de vuelta en todo."),
                TranslationSpec("fr-FR", "Semaine du cashback doublé", "6 % remboursés sur tout."),
                TranslationSpec("ar", "أسبوع الاسترداد المضاعف", "استرداد ٦٪ على كل شيء."),
            ],
        },
    ),
    (
        "Welcome bonus",
        "5.00 in credits on your first purchase of 20.00 or more.",
        BONUS,
        "5.00",
        AudienceSpec(new_customers=True),
        {"minimum": "20.00", "limit": 1},
    ),
    (
        "We miss you",
        "7.50 in credits when you come back: any purchase of 30.00 or more.",
        BONUS,
        "7.50",
        AudienceSpec(lapsed_days=45),
        {"minimum": "30.00", "limit": 1},
    ),
    (
        "Happy birthday",
        "10.00 in credits on any purchase in your birthday month.",
        BONUS,
        "10.00",
        AudienceSpec(birthday_month=True),
        {"limit": 1, "days": 366},
    ),
    (
        "Online and in store",
        "8 % back for customers who shop both online and in our stores.",
        BOOST,
        "8",
        AudienceSpec(channels=[Channel.ONLINE, Channel.IN_STORE]),
        {},
    ),
    (
        "Silver and Gold boost",
        "9 % back at every merchant for Silver and Gold members.",
        BOOST,
        "9",
        AudienceSpec(tiers=["SILVER", "GOLD"]),
        {},
    ),
    (
        "Bookworm club",
        "12 % back on books. Activate it first; three purchases at most.",
        BOOST,
        "12",
        AudienceSpec(favorite_category="Books"),
        {"category": "Books", "activation": True, "limit": 3, "budget": "500.00"},
    ),
    (
        "Young explorers",
        "7 % back online for customers aged 18 to 30.",
        BOOST,
        "7",
        AudienceSpec(min_age=18, max_age=30),
        {"channels": [Channel.ONLINE]},
    ),
    (
        "Millennial gadgets",
        "10 % back on electronics.",
        BOOST,
        "10",
        AudienceSpec(generations=[Generation.MILLENNIAL]),
        {"category": "Electronics", "budget": "1000.00"},
    ),
    (
        "Thank you, top customers",
        "15.00 in credits on a purchase of 100.00 or more.",
        BONUS,
        "15.00",
        AudienceSpec(min_monetary_score=4),
        {"minimum": "100.00", "limit": 2},
    ),
]
WORK = len(OFFERS)


async def seed(rng: random.Random, state: dict[str, Any], progress: tqdm[Any]) -> dict[str, int]:
    currency = (await get_program()).currency_code
    now = clock.now()
    made = []
    for title, description, kind, value, audience, extra in OFFERS:
        money = (Decimal(value), currency)
        spec = OfferSpec(
            title=title,
            description=description,
            kind=kind,
            percent=Decimal(value) if kind == BOOST else None,
            bonus=money if kind == BONUS else None,
            minimum_spend=(Decimal(extra["minimum"]), currency) if "minimum" in extra else None,
            category=extra.get("category"),
            channels=extra.get("channels"),
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=extra.get("days", 60)),
            terms=f"{description} Credits follow the program's terms.",
            requires_activation=bool(extra.get("activation")),
            per_customer_limit=extra.get("limit"),
            budget=(Decimal(extra["budget"]), currency) if "budget" in extra else None,
            audience=audience,
            members_only=audience is None and bool(extra.get("members_only")),
            translations=extra.get("translations", ()),
        )
        made.append(await create_offer(spec))
        progress.update(1)
    state["offers"] = made
    return {"offers": len(made)}
