"""Keyset pages do not shift when rows are inserted in front of them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from app.accounts.models import User
from app.core.errors import InvalidInput
from app.core.pagination import keyset_page
from app.settings import get_settings
from tests.factories import make_customer

SMALL_PAGE_CAP = 3


@pytest.fixture
def small_page_cap(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """MAX_PAGE_SIZE set to SMALL_PAGE_CAP for the test: a few rows go past it."""
    monkeypatch.setenv("MAX_PAGE_SIZE", str(SMALL_PAGE_CAP))
    get_settings.cache_clear()
    yield SMALL_PAGE_CAP
    monkeypatch.delenv("MAX_PAGE_SIZE")
    get_settings.cache_clear()


async def test_pages_stay_stable_when_newer_rows_arrive(db) -> None:
    for _ in range(5):
        await make_customer()
    first = await keyset_page(User.all(), first=2, after=None)
    assert first.has_next_page
    seen = [u.id for u in first.items]
    await make_customer()  # newest first: lands before the first page
    second = await keyset_page(User.all(), first=2, after=first.end_cursor)
    third = await keyset_page(User.all(), first=2, after=second.end_cursor)
    seen += [u.id for u in second.items] + [u.id for u in third.items]
    assert len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen, reverse=True)
    assert not third.has_next_page


async def test_pages_can_follow_a_compound_order(db) -> None:
    for name in ["b", "a", "b", "c", "a"]:
        await make_customer(display_name=name)
    order = ("display_name", "-id")
    collected, after = [], None
    while True:
        page = await keyset_page(User.all(), first=2, after=after, order_by=order)
        collected += [(u.display_name, u.id) for u in page.items]
        if not page.has_next_page:
            break
        after = page.end_cursor
    assert collected == sorted(collected, key=lambda r: (r[0], -r[1]))
    assert len(collected) == 5


async def test_first_past_the_max_page_size_setting_gets_a_page_of_that_size(
    db, small_page_cap: int
) -> None:
    for _ in range(small_page_cap + 2):
        await make_customer()
    page = await keyset_page(User.all(), first=10_000, after=None)
    assert len(page.items) == small_page_cap
    assert page.has_next_page


async def test_a_bad_cursor_or_a_negative_first_is_refused(db) -> None:
    await make_customer()
    with pytest.raises(InvalidInput):
        await keyset_page(User.all(), first=2, after="not-a-cursor")
    with pytest.raises(InvalidInput):
        await keyset_page(User.all(), first=-1, after=None)


def _forged(values: object) -> str:
    raw = json.dumps(values).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "values",
    [
        ["abc"],
        [None],
        [2**63],
        [-(2**63) - 1],
        [1.5],
        [True],
        [{"t": "2024-01-01T00:00:00+00:00"}],
        [[1]],
    ],
    ids=["text", "null", "beyond-bigint", "below-bigint", "float", "bool", "date", "list"],
)
async def test_a_forged_cursor_whose_key_is_not_what_the_column_holds_is_refused(
    db, values: list
) -> None:
    await make_customer()
    with pytest.raises(InvalidInput) as refused:
        await keyset_page(User.all(), first=2, after=_forged(values))
    assert refused.value.field == ["after"]


@pytest.mark.parametrize(
    "values",
    [
        ["x" * 500, 1],
        [7, 1],
        ["Ada", "1"],
    ],
    ids=["longer-than-column", "number-for-text", "text-for-id"],
)
async def test_a_forged_compound_cursor_is_refused(db, values: list) -> None:
    await make_customer()
    with pytest.raises(InvalidInput):
        await keyset_page(
            User.all(), first=2, after=_forged(values), order_by=("display_name", "-id")
        )


@pytest.mark.parametrize("time", ["not a time", "2024-01-01T00:00:00", 12, "9" * 100], ids=str)
async def test_a_forged_time_in_a_cursor_is_refused(db, time: object) -> None:
    with pytest.raises(InvalidInput):
        await keyset_page(
            User.all(), first=2, after=_forged([{"t": time}, 1]), order_by=("-created_at", "-id")
        )


async def test_an_oversized_or_non_ascii_cursor_is_refused_before_decoding(db) -> None:
    for cursor in ["A" * 5_000, "WzFd€"]:
        with pytest.raises(InvalidInput):
            await keyset_page(User.all(), first=2, after=cursor)
