"""A profile's segments and recency, frequency and monetary scores, at their edges: pure
functions of the stored figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.segments.service import Profile

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def bought(days_ago: float) -> Profile:
    return Profile(customer_id=1, purchase_count=1, last_purchase_at=AT - timedelta(days=days_ago))


def test_a_customer_who_never_bought_scores_nothing() -> None:
    profile = Profile(customer_id=1)
    assert profile.channels_used is None
    assert profile.days_since_last_purchase(AT) is None
    assert profile.recency_score(AT) == 0
    assert profile.frequency_score == 0
    assert profile.monetary_score(2) == 0
    assert profile.favorite_merchant_ids == ()


@pytest.mark.parametrize(
    ("days_ago", "days", "score"),
    [
        (-1, 0, 5),  # a clock ahead of ours: today
        (0, 0, 5),
        (30, 30, 5),
        (30.99, 30, 5),  # whole days
        (31, 31, 4),
        (90, 90, 4),
        (91, 91, 3),
        (180, 180, 3),
        (181, 181, 2),
        (365, 365, 2),
        (366, 366, 1),
        (2000, 2000, 1),
    ],
)
def test_recency_follows_whole_days_since_the_last_purchase(
    days_ago: float, days: int, score: int
) -> None:
    profile = bought(days_ago)
    assert profile.days_since_last_purchase(AT) == days
    assert profile.recency_score(AT) == score


@pytest.mark.parametrize(
    ("count", "score"),
    [(0, 0), (1, 1), (2, 2), (3, 2), (4, 3), (6, 3), (7, 4), (12, 4), (13, 5), (500, 5)],
)
def test_frequency_follows_the_purchases_not_fully_refunded(count: int, score: int) -> None:
    assert Profile(customer_id=1, purchase_count=count).frequency_score == score


@pytest.mark.parametrize(
    ("spend_minor", "score"),
    [
        (-5, 0),
        (0, 0),
        (1, 1),
        (4_999, 1),
        (5_000, 2),
        (19_999, 2),
        (20_000, 3),
        (49_999, 3),
        (50_000, 4),
        (149_999, 4),
        (150_000, 5),
    ],
)
def test_monetary_follows_spend_in_major_units(spend_minor: int, score: int) -> None:
    assert Profile(customer_id=1, spend_minor=spend_minor).monetary_score(2) == score


def test_monetary_thresholds_scale_with_the_currencys_minor_units() -> None:
    yen = [Profile(customer_id=1, spend_minor=s).monetary_score(0) for s in (49, 50, 1_500)]
    dinar = [Profile(customer_id=1, spend_minor=s).monetary_score(3) for s in (49_999, 50_000)]
    assert (yen, dinar) == ([1, 2, 5], [1, 2])


@pytest.mark.parametrize(
    ("online", "in_store", "used"),
    [(0, 0, None), (2, 0, "ONLINE"), (0, 1, "IN_STORE"), (1, 3, "BOTH")],
)
def test_channels_used(online: int, in_store: int, used: str | None) -> None:
    profile = Profile(customer_id=1, online_count=online, in_store_count=in_store)
    assert profile.channels_used == used
