"""A recorded purchase counts into its customer's profile in the same transaction: counts,
first and last purchase, spend, channels, and the favourite category and merchants of the
last 180 days."""

from __future__ import annotations

from datetime import timedelta

from tortoise.transactions import in_transaction

from app.catalog.values import Channel
from app.core import clock
from app.segments import service as segments
from app.segments.service import Profile, profiles_of
from tests.cashback.factories import item, purchase_input, record
from tests.catalog.factories import make_merchant, make_product, make_store
from tests.factories import make_customer
from tests.ledger.statements import count_statements
from tests.segments.factories import profile_of
from tests.support import Api


async def test_a_customer_without_purchases_has_an_empty_profile(api: Api) -> None:
    customer = await make_customer()

    found = await profiles_of([customer.id, 424242])

    assert found == {customer.id: Profile(customer.id), 424242: Profile(424242)}
    assert await profiles_of([]) == {}


async def test_purchases_count_into_the_profile(api: Api) -> None:
    store = await make_store()
    customer = await make_customer()
    first_at = clock.now() - timedelta(days=3)
    last_at = clock.now() - timedelta(hours=1)

    await record(api, store, purchase_input(store, customer, "12.50", occurred_at=last_at))
    await record(api, store, purchase_input(store, customer, "7.50", occurred_at=first_at))

    profile = await profile_of(customer)
    assert profile.purchase_count == 2
    assert profile.spend_minor == 2_000
    assert profile.first_purchase_at == first_at
    assert profile.last_purchase_at == last_at
    assert (profile.online_count, profile.in_store_count) == (0, 2)
    assert profile.channels_used == "IN_STORE"
    assert profile.favorite_merchant_ids == (store.merchant_id,)
    assert profile.favorite_category is None  # no items: nothing known of what was bought


async def test_a_repeated_report_counts_once(api: Api) -> None:
    store = await make_store()
    customer = await make_customer()
    data = purchase_input(store, customer, "10.00", external_id="once")

    await record(api, store, data)
    await record(api, store, data)

    profile = await profile_of(customer)
    assert (profile.purchase_count, profile.spend_minor) == (1, 1_000)


async def test_channels_used_online_in_store_and_both(api: Api) -> None:
    online = await make_store(channel=Channel.ONLINE)
    in_store = await make_store(channel=Channel.IN_STORE)
    web, shop, both = await make_customer(), await make_customer(), await make_customer()

    await record(api, online, purchase_input(online, web, "5.00"))
    await record(api, in_store, purchase_input(in_store, shop, "5.00"))
    await record(api, online, purchase_input(online, both, "5.00"))
    await record(api, in_store, purchase_input(in_store, both, "5.00"))

    found = await profiles_of([web.id, shop.id, both.id])
    assert [found[c.id].channels_used for c in (web, shop, both)] == [
        "ONLINE",
        "IN_STORE",
        "BOTH",
    ]
    assert (found[both.id].online_count, found[both.id].in_store_count) == (1, 1)


async def test_the_favourite_category_is_where_most_was_spent(api: Api) -> None:
    merchant = await make_merchant()
    store = await make_store(merchant)
    await make_product(merchant, sku="tv", category="Electronics")
    customer = await make_customer()

    await record(
        api,
        store,
        purchase_input(
            store,
            customer,
            "60.00",
            items=[item("book", "20.00", quantity=2, category="  Books "), item("tv", "20.00")],
        ),
    )
    assert (await profile_of(customer)).favorite_category == "books"

    # The catalogue names the tv's category; two purchases of it now outweigh the books.
    await record(api, store, purchase_input(store, customer, "25.00", items=[item("tv", "25.00")]))
    assert (await profile_of(customer)).favorite_category == "electronics"

    await record(
        api,
        store,
        purchase_input(store, customer, "30.00", items=[item("novel", "30.00", category="BOOKS")]),
    )
    profile = await profile_of(customer)
    assert profile.favorite_category == "books"  # 70.00 of books against 45.00
    assert profile.spend_minor == 11_500


async def test_spend_older_than_180_days_no_longer_makes_the_favourite(api: Api) -> None:
    store = await make_store()
    customer = await make_customer()
    await record(
        api,
        store,
        purchase_input(store, customer, "900.00", items=[item("sofa", "900.00", category="Home")]),
    )
    assert (await profile_of(customer)).favorite_category == "home"

    clock.advance(timedelta(days=200))
    await record(
        api,
        store,
        purchase_input(store, customer, "5.00", items=[item("pen", "5.00", category="Office")]),
    )

    profile = await profile_of(customer)
    assert profile.favorite_category == "office"
    assert profile.spend_minor == 90_500  # all-time spend keeps everything
    assert profile.purchase_count == 2


async def test_a_purchase_reported_200_days_late_counts_but_not_for_favourites(api: Api) -> None:
    store = await make_store()
    customer = await make_customer()
    await record(
        api,
        store,
        purchase_input(store, customer, "5.00", items=[item("pen", "5.00", category="Office")]),
    )
    old = clock.now() - timedelta(days=200)

    await record(
        api,
        store,
        purchase_input(
            store,
            customer,
            "900.00",
            occurred_at=old,
            items=[item("sofa", "900.00", category="Home")],
        ),
    )

    profile = await profile_of(customer)
    assert profile.favorite_category == "office"
    assert profile.first_purchase_at == old
    assert (profile.purchase_count, profile.spend_minor) == (2, 90_500)


async def test_favourite_merchants_are_the_three_with_most_spend_best_first(api: Api) -> None:
    customer = await make_customer()
    stores = [await make_store() for _ in range(4)]
    for store, total in zip(stores, ["30.00", "50.00", "10.00", "40.00"], strict=True):
        await record(api, store, purchase_input(store, customer, total))

    profile = await profile_of(customer)
    assert profile.favorite_merchant_ids == (
        stores[1].merchant_id,
        stores[3].merchant_id,
        stores[0].merchant_id,
    )

    # Another purchase at the fourth-placed merchant moves it to the top.
    await record(api, stores[2], purchase_input(stores[2], customer, "45.00"))
    ranked = (await profile_of(customer)).favorite_merchant_ids
    assert ranked == (stores[2].merchant_id, stores[1].merchant_id, stores[3].merchant_id)


async def test_a_purchase_costs_two_statements_however_many_categories(db) -> None:
    now = clock.now()

    async def record_one(categories: int) -> list[str]:
        with count_statements() as statements:
            async with in_transaction():
                await segments.record_purchase(
                    customer_id=7,
                    merchant_id=3,
                    channel="ONLINE",
                    occurred_at=now,
                    spend_by_category={f"c{i}": 100 + i for i in range(categories)},
                    now=now,
                )
        return statements

    assert len(await record_one(1)) == len(await record_one(12)) == 2
    profile = (await profiles_of([7]))[7]
    assert (profile.purchase_count, profile.spend_minor) == (2, 100 + 1_266)
    assert profile.favorite_category == "c0"  # 100 + 100 against at most 111
