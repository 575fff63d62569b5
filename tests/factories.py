"""Factories: each makes one realistic object with the fewest inputs a test cares about."""

from __future__ import annotations

import itertools
from typing import Any

from app.accounts.models import Role, User
from app.accounts.service import create_user

_numbers = itertools.count(1)
PASSWORD = "correct horse battery staple"


async def make_customer(**overrides: Any) -> User:
    n = next(_numbers)
    fields: dict[str, Any] = {
        "email": f"customer{n}@example.com",
        "password": PASSWORD,
        "display_name": f"Customer {n}",
    }
    fields.update(overrides)
    return await create_user(**fields)


async def make_admin(**overrides: Any) -> User:
    return await make_customer(role=Role.ADMIN, **overrides)
