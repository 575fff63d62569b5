"""The activity lines the ledger keeps: newest first, with current statuses, page by page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app import ledger
from app.core import clock
from app.core.errors import InvalidInput
from tests.ledger.factories import give_credit, reserve

CUSTOMER = 606


async def test_entries_come_newest_first_page_by_page(db) -> None:
    start = clock.now()
    for day in range(5):
        await give_credit(CUSTOMER, 100 + day, occurred_at=start - timedelta(days=5 - day))
    await give_credit(CUSTOMER + 1, 5)  # someone else's

    first = await ledger.list_entries(customer_id=CUSTOMER, first=2, after=None)
    second = await ledger.list_entries(customer_id=CUSTOMER, first=2, after=first.end_cursor)
    third = await ledger.list_entries(customer_id=CUSTOMER, first=2, after=second.end_cursor)

    amounts = [e.amount for page in (first, second, third) for e in page.items]
    assert amounts == [104, 103, 102, 101, 100]
    assert (first.has_next_page, second.has_next_page, third.has_next_page) == (True, True, False)
    with pytest.raises(InvalidInput):
        await ledger.list_entries(customer_id=CUSTOMER, first=2, after="not-a-cursor")


async def test_an_entry_says_what_it_is_and_where_it_came_from(db) -> None:
    occurred = clock.now() - timedelta(hours=1)
    await ledger.credit(
        customer_id=CUSTOMER,
        currency="USD",
        amount=375,
        kind="CASHBACK",
        occurred_at=occurred,
        available_at=occurred + timedelta(days=30),
        expires_at=occurred + timedelta(days=395),
        source_type="purchase",
        source_id=31,
        merchant_id=4,
        description="Cashback at Shop",
        details={"explanation": [{"label": "Shop 5%", "percent": "5", "amount": "3.75"}]},
        terms_version=2,
        idempotency_key="purchase:31",
    )
    [entry] = (await ledger.list_entries(customer_id=CUSTOMER, first=5, after=None)).items
    assert (entry.kind, entry.status, entry.amount, entry.currency) == (
        "CASHBACK",
        "PENDING",
        375,
        "USD",
    )
    assert abs(entry.occurred_at - occurred) < timedelta(milliseconds=1)
    assert entry.available_at is not None and entry.expires_at is not None
    assert (entry.merchant_id, entry.source_type, entry.source_id) == (4, "purchase", 31)
    assert entry.description == "Cashback at Shop"
    assert entry.details == {
        "explanation": [{"label": "Shop 5%", "percent": "5", "amount": "3.75"}]
    }
    assert (await ledger.get_entries(entry_ids=[entry.id]))[entry.id] == entry


async def test_listing_shows_statuses_as_of_now(db) -> None:
    await give_credit(CUSTOMER, 100, pending=timedelta(days=1))
    await give_credit(CUSTOMER, 900)
    await reserve(CUSTOMER, 50, "shown")
    clock.advance(timedelta(days=1, minutes=1))

    items = (await ledger.list_entries(customer_id=CUSTOMER, first=10, after=None)).items

    statuses = sorted((e.kind, e.status, e.amount) for e in items)
    assert statuses == [
        ("CASHBACK", "AVAILABLE", 100),
        ("CASHBACK", "AVAILABLE", 900),
        ("REDEMPTION", "EXPIRED", 50),
    ]
