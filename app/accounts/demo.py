"""Demo customers and an admin for `seed-demo`."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from tqdm import tqdm

from app.accounts.models import Role
from app.accounts.service import create_user
from app.core import clock

STEP = 10
CUSTOMERS = 24
WORK = CUSTOMERS + 2
# Born in the month the demo is made: sees the birthday offer.
BIRTHDAY_CUSTOMER = 0

FIRST = [
    "Ana",
    "Bruno",
    "Carla",
    "Diego",
    "Elena",
    "Felipe",
    "Gabi",
    "Hugo",
    "Iris",
    "Joao",
    "Kai",
    "Lia",
    "Marco",
    "Nina",
    "Otto",
    "Paula",
    "Rafa",
    "Sofia",
    "Tiago",
    "Vera",
]
LAST = ["Silva", "Costa", "Moreau", "Rossi", "Novak", "Berg", "Kato", "Okafor", "Lima", "Ortiz"]
DEMO_PASSWORD = "demo-password-2026"


async def seed(rng: random.Random, state: dict[str, Any], progress: tqdm[Any]) -> dict[str, int]:
    admin = await create_user(
        email="admin@demo.example",
        password=DEMO_PASSWORD,
        display_name="Demo Admin",
        role=Role.ADMIN,
    )
    progress.update(1)
    customers = []
    today = clock.now().date()
    for i in range(CUSTOMERS + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        born = date(rng.randint(1955, 2006), rng.randint(1, 12), rng.randint(1, 28))
        if i == BIRTHDAY_CUSTOMER:
            born = born.replace(month=today.month)
        customers.append(
            await create_user(
                email=f"{first}.{last}.{i}@demo.example".lower(),
                password=DEMO_PASSWORD,
                display_name=f"{first} {last}",
                birth_date=born,
                locale=rng.choice(["en-US", "pt-BR", "es-ES", "fr-FR"]),
                consent_personalization=rng.random() < 0.7,
                consent_marketing=rng.random() < 0.4,
            )
        )
        progress.update(1)
    state["admin"] = admin
    # The last one has bought nothing yet: a new customer.
    state["customers"], state["new_customer"] = customers[:-1], customers[-1]
    return {"admins": 1, "customers": len(customers)}
