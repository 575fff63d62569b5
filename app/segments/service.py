"""Placeholder of the segments feature's public API (replaced by the feature itself)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Profile:
    customer_id: int
    purchase_count: int = 0
    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None
    spend_minor: int = 0
    online_count: int = 0
    in_store_count: int = 0
    favorite_category: str | None = None
    favorite_merchant_ids: tuple[int, ...] = ()

    @property
    def channels_used(self) -> str | None:
        if self.online_count and self.in_store_count:
            return "BOTH"
        if self.online_count:
            return "ONLINE"
        if self.in_store_count:
            return "IN_STORE"
        return None

    def days_since_last_purchase(self, at: datetime) -> int | None:
        if self.last_purchase_at is None:
            return None
        return max(0, (at - self.last_purchase_at).days)

    def recency_score(self, at: datetime) -> int:
        return 0

    @property
    def frequency_score(self) -> int:
        return 0

    def monetary_score(self, minor_units: int) -> int:
        return 0


async def profiles_of(customer_ids: Iterable[int]) -> dict[int, Profile]:
    return {pk: Profile(customer_id=pk) for pk in customer_ids}
