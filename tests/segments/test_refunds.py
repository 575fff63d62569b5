"""A refund takes its amount out of the profile in the refund's transaction: the spend and
the categories' buckets go down; a purchase fully refunded leaves the counts. Nothing goes
below zero, and a repeated refund changes nothing."""

from __future__ import annotations

from app.catalog.values import Channel
from app.core import clock
from app.segments import service as segments
from tests.cashback.factories import item, purchase_input, record, refund
from tests.catalog.factories import make_store
from tests.factories import make_customer
from tests.segments.factories import buckets, profile_of
from tests.support import Api


async def test_a_partial_refund_reduces_spend_and_keeps_the_purchase(api: Api) -> None:
    store = await make_store(channel=Channel.ONLINE)
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "100.00", external_id="P-1"))

    answer = await refund(api, store, "P-1", "40.00", "refund-1")

    assert answer["userErrors"] == []
    profile = await profile_of(customer)
    assert profile.spend_minor == 6_000
    assert (profile.purchase_count, profile.online_count) == (1, 1)
    assert profile.channels_used == "ONLINE"


async def test_a_full_refund_takes_the_purchase_out_of_the_counts(api: Api) -> None:
    online = await make_store(channel=Channel.ONLINE)
    in_store = await make_store(channel=Channel.IN_STORE)
    customer = await make_customer()
    await record(api, online, purchase_input(online, customer, "30.00", external_id="W-1"))
    await record(api, in_store, purchase_input(in_store, customer, "20.00", external_id="S-1"))
    assert (await profile_of(customer)).channels_used == "BOTH"

    await refund(api, in_store, "S-1", "5.00", "part")
    await refund(api, in_store, "S-1", "15.00", "rest")

    profile = await profile_of(customer)
    assert profile.purchase_count == 1
    assert (profile.online_count, profile.in_store_count) == (1, 0)
    assert profile.channels_used == "ONLINE"
    assert profile.spend_minor == 3_000
    # The visit happened: first and last purchase stay as they were.
    assert profile.last_purchase_at is not None
    # A merchant with nothing left spent is no longer a favourite.
    assert profile.favorite_merchant_ids == (online.merchant_id,)


async def test_refunds_come_off_the_categories_in_proportion(api: Api) -> None:
    store = await make_store()
    customer = await make_customer()
    items = [item("book", "60.00", category="Books"), item("toy", "40.00", category="Toys")]
    await record(
        api, store, purchase_input(store, customer, "100.00", external_id="B-1", items=items)
    )
    assert (await profile_of(customer)).favorite_category == "books"

    await refund(api, store, "B-1", "50.00", "half")

    assert [(b[3], b[4]) for b in await buckets()] == [("books", 3_000), ("toys", 2_000)]
    await refund(api, store, "B-1", "50.00", "rest")
    profile = await profile_of(customer)
    assert await buckets() == []
    assert profile.favorite_category is None
    assert profile.favorite_merchant_ids == ()
    assert (profile.purchase_count, profile.spend_minor) == (0, 0)


async def test_a_repeated_refund_key_changes_nothing(api: Api) -> None:
    store = await make_store()
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "80.00", external_id="R-1"))
    await refund(api, store, "R-1", "80.00", "all")
    after_first = await profile_of(customer)

    again = await refund(api, store, "R-1", "80.00", "all")

    assert again["userErrors"] == []
    assert await profile_of(customer) == after_first
    assert (after_first.purchase_count, after_first.spend_minor) == (0, 0)


async def test_a_profile_never_goes_below_zero(api: Api) -> None:
    store = await make_store()
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "100.00", external_id="old"))
    # The profile forgot the first purchase (as one made before profiles existed would be).
    await segments.replace_profiles([], [], now=clock.now())
    await record(api, store, purchase_input(store, customer, "10.00", external_id="new"))

    await refund(api, store, "old", "100.00", "old-all")
    await refund(api, store, "new", "10.00", "new-all")

    profile = await profile_of(customer)
    assert (profile.purchase_count, profile.in_store_count, profile.spend_minor) == (0, 0, 0)
    assert await buckets() == []
