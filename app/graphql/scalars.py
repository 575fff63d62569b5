"""Money, dates and pages as the contract shows them."""

from __future__ import annotations

from decimal import Decimal
from typing import Generic, TypeVar

import strawberry

from app.core.money import Money as MoneyValue
from app.core.pagination import Page

T = TypeVar("T")


@strawberry.type(description='An exact amount: `amount` is a decimal string such as "12.50".')
class Money:
    amount: Decimal
    currency_code: str

    @classmethod
    def of(cls, value: MoneyValue) -> Money:
        return cls(amount=value.amount, currency_code=value.currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        return cls.of(MoneyValue.from_minor(minor, currency))


@strawberry.input
class MoneyInput:
    amount: Decimal
    currency_code: str


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @classmethod
    def of(cls, page: Page, nodes: list[T]) -> Connection[T]:
        """A connection of `nodes`, built from the `page` they were mapped from."""
        return cls(
            edges=[Edge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )
