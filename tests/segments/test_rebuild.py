"""`rebuild-profiles` computes every profile from cashback's purchases and refunds in bulk,
and finds exactly what recording them one by one kept: the same profiles and the same day
buckets, to the minor unit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.cashback.profiles import rebuild_profiles, split_in_proportion
from app.catalog.values import Channel
from app.core import clock
from app.segments.service import profiles_of
from tests.cashback.factories import item, purchase_input, record, refund
from tests.catalog.factories import make_merchant, make_product, make_store
from tests.factories import make_customer
from tests.segments.factories import buckets
from tests.support import Api


async def _history(api: Api) -> list[Any]:
    """Three customers' purchases in both channels, with odd items and odd refunds."""
    merchant = await make_merchant()
    shop = await make_store(merchant, channel=Channel.IN_STORE)
    web = await make_store(channel=Channel.ONLINE)
    await make_product(merchant, sku="lamp", category="Home")
    ann, bob, cat = [await make_customer() for _ in range(3)]
    odd = [item("a", "3.33", category="Books"), item("b", "3.33", category="Toys")]
    odd.append(item("lamp", "3.33"))
    purchases = [
        (shop, ann, "9.99", odd, None),
        (shop, ann, "10.00", odd, None),  # items a cent short: within a cent an item
        (web, ann, "25.00", None, None),
        (web, ann, "70.00", [item("c", "70.00", category="Garden")], 200),  # reported late
        (web, bob, "40.00", [item("d", "10.00", 4, "Books")], None),
        (shop, bob, "12.34", [item("e", "6.17", 2, "Sport")], 5),
        (shop, cat, "1.00", [item("f", "1.00", category="Books")], None),
    ]
    for n, (store, customer, total, items, days_ago) in enumerate(purchases):
        occurred_at = clock.now() - timedelta(days=days_ago or 0, minutes=n)
        data = purchase_input(
            store, customer, total, external_id=f"H-{n}", items=items, occurred_at=occurred_at
        )
        assert (await record(api, store, data))["userErrors"] == []
    for external_id, amount, key, store in [
        ("H-0", "3.37", "r0", shop),
        ("H-0", "1.01", "r1", shop),
        ("H-1", "10.00", "r2", shop),
        ("H-3", "20.00", "r3", web),
        ("H-4", "13.33", "r4", web),
        ("H-5", "12.34", "r5", shop),
        ("H-6", "0.99", "r6", shop),
    ]:
        assert (await refund(api, store, external_id, amount, key))["userErrors"] == []
    return [ann, bob, cat]


async def test_a_rebuild_finds_what_recording_kept(api: Api) -> None:
    customers = await _history(api)
    ids = [c.id for c in customers]
    kept, kept_buckets = await profiles_of(ids), await buckets()
    assert kept[ids[0]].purchase_count == 3 and kept[ids[0]].channels_used == "BOTH"
    assert kept[ids[1]].channels_used == "ONLINE"

    rebuilt = await rebuild_profiles(now=clock.now())

    assert rebuilt == 3
    assert await profiles_of(ids) == kept
    assert await buckets() == kept_buckets


async def test_a_rebuild_ages_the_favourites_and_leaves_customers_without_purchases(
    api: Api,
) -> None:
    store = await make_store()
    buyer, other = await make_customer(), await make_customer()
    data = purchase_input(store, buyer, "10.00", items=[item("x", "10.00", category="Books")])
    await record(api, store, data)

    clock.advance(timedelta(days=181))
    assert await rebuild_profiles(now=clock.now()) == 1

    found = await profiles_of([buyer.id, other.id])
    assert found[buyer.id].favorite_category is None
    assert found[buyer.id].favorite_merchant_ids == ()
    assert (found[buyer.id].purchase_count, found[buyer.id].spend_minor) == (1, 1_000)
    assert found[other.id].purchase_count == 0
    assert await buckets() == []


def test_a_split_adds_up_exactly_and_follows_the_weights() -> None:
    assert split_in_proportion(100, {"b": 1, "a": 1, None: 2}) == {None: 50, "a": 25, "b": 25}
    assert sum(split_in_proportion(1_001, {"x": 333, "y": 333, "z": 333}).values()) == 1_001
    assert split_in_proportion(7, {}) == {None: 7}
    assert split_in_proportion(7, {"x": 0, "y": 0}) == {"x": 7}
