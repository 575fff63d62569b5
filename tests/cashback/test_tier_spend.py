"""A customer's spend of the tier window is kept on one row, current with every purchase and
refund, so reading a tier is one lookup; when time moves the oldest purchase out of the
window, the next read computes it again from the purchases."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta

import pytest

from app import db
from app.cashback import spend as spend_rows
from app.cashback import tiers
from app.cashback.models import CustomerSpend, Purchase
from app.cashback.spend import (
    TIER_WINDOW,
    WindowSpend,
    rebuild_window_spends,
    scan_window_spends,
)
from app.core import clock
from tests.cashback.factories import purchase_input, record, refund
from tests.catalog.factories import make_store
from tests.factories import make_customer
from tests.ledger.statements import count_statements
from tests.support import Api

PAST = datetime(2000, 1, 1, tzinfo=UTC)
TIER = "query { viewer { tier { code spend { amount } } } }"


async def stored(customer_id: int) -> tuple[int, datetime | None] | None:
    row = await CustomerSpend.get_or_none(customer_id=customer_id)
    return None if row is None else (row.window_spend_minor, row.changes_at)


def scans(statements: list[str]) -> list[str]:
    """The statements that read purchases (the old way of finding a spend)."""
    return [s for s in statements if Purchase._meta.db_table in s]


def spend_reads(statements: list[str]) -> list[str]:
    return [s for s in statements if CustomerSpend._meta.db_table in s]


async def tier_of(api: Api, customer: object) -> tuple[str, str, list[str]]:
    """The customer's tier code and spend, and the statements the read sent."""
    with count_statements() as sent:
        answer = await api.gql(TIER, token=api.token_for(customer))
    tier = answer["data"]["viewer"]["tier"]
    return tier["code"], tier["spend"]["amount"], sent


async def test_a_purchase_is_counted_in_its_transaction_and_the_read_is_one_lookup(
    api: Api,
) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    occurred = clock.now() - timedelta(days=3)

    await record(api, store, purchase_input(store, customer, "1200.00", occurred_at=occurred))

    assert await stored(customer.id) == (120_000, occurred + TIER_WINDOW)
    code, spend, sent = await tier_of(api, customer)
    assert (code, spend) == ("SILVER", "1200.00")
    assert scans(sent) == []
    assert len(spend_reads(sent)) == 1, sent


async def test_partial_and_full_refunds_take_from_the_row(api: Api) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "1200.00", external_id="big"))
    await record(api, store, purchase_input(store, customer, "50.00", external_id="small"))

    await refund(api, store, "big", "300.00", "r-1")
    assert (await stored(customer.id) or (0,))[0] == 95_000
    code, spend, sent = await tier_of(api, customer)
    assert (code, spend, scans(sent)) == ("BRONZE", "950.00", [])

    await refund(api, store, "big", "900.00", "r-2")
    assert (await stored(customer.id) or (0,))[0] == 5_000
    code, spend, sent = await tier_of(api, customer)
    assert (code, spend, scans(sent)) == ("BRONZE", "50.00", [])

    # The same key again refunds nothing, and takes nothing off twice.
    await refund(api, store, "big", "900.00", "r-2")
    assert (await stored(customer.id) or (0,))[0] == 5_000


async def test_a_purchase_backdated_past_the_window_does_not_count_one_inside_it_does(
    api: Api,
) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    now = clock.now()
    await record(api, store, purchase_input(store, customer, "100.00", occurred_at=now))

    too_old = now - timedelta(days=400)
    await record(
        api,
        store,
        purchase_input(store, customer, "5000.00", external_id="old", occurred_at=too_old),
    )
    assert await stored(customer.id) == (10_000, now + TIER_WINDOW)

    earlier = now - timedelta(days=200)
    await record(
        api, store, purchase_input(store, customer, "900.00", external_id="e", occurred_at=earlier)
    )
    assert await stored(customer.id) == (100_000, earlier + TIER_WINDOW)
    code, spend, sent = await tier_of(api, customer)
    assert (code, spend, scans(sent)) == ("SILVER", "1000.00", [])

    # A refund of the purchase older than the window takes nothing off.
    await refund(api, store, "old", "1000.00", "old-refund")
    assert await stored(customer.id) == (100_000, earlier + TIER_WINDOW)


async def test_once_the_oldest_purchase_leaves_the_window_the_next_read_computes_it_again(
    api: Api,
) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    now = clock.now()
    old = now - timedelta(days=300)
    await record(api, store, purchase_input(store, customer, "800.00", occurred_at=old))
    await record(api, store, purchase_input(store, customer, "300.00", occurred_at=now))
    assert await stored(customer.id) == (110_000, old + TIER_WINDOW)

    clock.advance(timedelta(days=64))  # the old purchase still counts
    code, spend, sent = await tier_of(api, customer)
    assert (code, spend, scans(sent)) == ("SILVER", "1100.00", [])

    clock.advance(timedelta(days=2))  # and now it has left
    code, spend, sent = await tier_of(api, customer)
    assert (code, spend) == ("BRONZE", "300.00")
    assert len(scans(sent)) == 1, sent
    assert await stored(customer.id) == (30_000, now + TIER_WINDOW)

    code, spend, sent = await tier_of(api, customer)
    assert (code, spend, scans(sent)) == ("BRONZE", "300.00", [])

    clock.advance(timedelta(days=300))  # nothing counts any more
    code, spend, _ = await tier_of(api, customer)
    assert (code, spend) == ("BRONZE", "0.00")
    assert await stored(customer.id) == (0, None)


async def test_a_refund_onto_a_row_whose_oldest_purchase_left_leaves_it_to_be_computed(
    api: Api,
) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    await record(
        api,
        store,
        purchase_input(store, customer, "800.00", occurred_at=clock.now() - timedelta(days=360)),
    )
    await record(api, store, purchase_input(store, customer, "300.00", external_id="recent"))
    clock.advance(timedelta(days=10))

    await refund(api, store, "recent", "100.00", "r-1")

    # The row still counts the purchase that left (1,000.00): it is not taken as the answer.
    code, spend, sent = await tier_of(api, customer)
    assert (code, spend) == ("BRONZE", "200.00")
    assert len(scans(sent)) == 1


async def test_without_a_row_the_first_read_or_write_computes_it_from_the_purchases(
    api: Api,
) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "700.00"))
    await record(api, store, purchase_input(store, customer, "200.00"))

    # Purchases recorded before the table existed: no rows.
    await CustomerSpend.all().delete()
    code, spend, sent = await tier_of(api, customer)
    assert (code, spend) == ("BRONZE", "900.00")
    assert len(scans(sent)) == 1
    assert (await stored(customer.id) or (0,))[0] == 90_000

    # A purchase reads the spend first (and so computes the row) ...
    await CustomerSpend.all().delete()
    await record(api, store, purchase_input(store, customer, "150.00", external_id="third"))
    assert (await stored(customer.id) or (0,))[0] == 105_000
    code, spend, sent = await tier_of(api, customer)
    assert (code, spend, scans(sent)) == ("SILVER", "1050.00", [])

    # ... a refund does not: it computes the row in its transaction, itself included.
    await CustomerSpend.all().delete()
    await refund(api, store, "third", "100.00", "r-1")
    assert (await stored(customer.id) or (0,))[0] == 95_000


async def test_a_customer_who_never_bought_gets_a_row_at_the_first_read(api: Api) -> None:
    customer = await make_customer()

    code, spend, _ = await tier_of(api, customer)
    assert (code, spend) == ("BRONZE", "0.00")
    assert await stored(customer.id) == (0, None)
    code, spend, sent = await tier_of(api, customer)
    assert (code, spend, scans(sent)) == ("BRONZE", "0.00", [])


async def test_the_tiers_of_many_customers_cost_one_statement_for_their_spend(
    api: Api,
) -> None:
    store = await make_store(percent="2")
    customers = [await make_customer() for _ in range(10)]
    for n, customer in enumerate(customers):
        await record(api, store, purchase_input(store, customer, f"{300 * n + 100}.00"))
    ids = [c.id for c in customers]

    with count_statements() as two:
        found_two = await tiers.customer_tiers(ids[:2])
    with count_statements() as ten:
        found_ten = await tiers.customer_tiers(ids)

    assert len(spend_reads(two)) == len(spend_reads(ten)) == 1, ten
    assert scans(two) == scans(ten) == []
    assert len(two) == len(ten)
    truth = await scan_window_spends(ids, now=clock.now())
    assert [t.spend.minor for t in found_ten] == [truth[c].spend_minor for c in ids]
    assert [t.tier.code for t in found_ten] == ["BRONZE"] * 3 + ["SILVER"] * 7
    assert found_two == found_ten[:2]


async def test_the_rebuild_writes_every_row_from_the_purchases(api: Api) -> None:
    store = await make_store(percent="2")
    alice, bob = await make_customer(), await make_customer()
    old = clock.now() - timedelta(days=100)
    await record(api, store, purchase_input(store, alice, "120.00", occurred_at=old))
    await record(api, store, purchase_input(store, bob, "30.00"))
    await record(
        api,
        store,
        purchase_input(store, bob, "10.00", occurred_at=clock.now() - timedelta(days=500)),
    )
    # Rows gone wrong (purchases that reached the table some other way).
    await db.execute(f"UPDATE {CustomerSpend._meta.db_table} SET window_spend_minor = 1")

    carol = await make_customer()
    await record(
        api,
        store,
        purchase_input(store, carol, "10.00", occurred_at=clock.now() - timedelta(days=400)),
    )
    await db.execute(f"UPDATE {CustomerSpend._meta.db_table} SET window_spend_minor = 7")

    assert await rebuild_window_spends(now=clock.now()) == 2

    assert await stored(alice.id) == (12_000, old + TIER_WINDOW)
    assert (await stored(bob.id) or (0,))[0] == 3_000
    assert await stored(carol.id) == (0, None)


async def test_a_read_that_computed_before_a_rebuild_does_not_store_over_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    await tier_of(api, customer)  # the row, version 1
    await db.execute(f"UPDATE {CustomerSpend._meta.db_table} SET changes_at = ?", PAST)

    async def purchase_then_rebuild() -> None:
        await record(api, store, purchase_input(store, customer, "80.00"))
        await rebuild_window_spends(now=clock.now())

    meanwhile(monkeypatch, purchase_then_rebuild)
    _, spend, _ = await tier_of(api, customer)

    assert spend == "0.00"  # what the purchases said when it read them
    assert (await stored(customer.id) or (0,))[0] == 8_000


# --- concurrency ----------------------------------------------------------------------


async def _awaited(work: Callable[[], Awaitable[object]]) -> None:
    await work()


def meanwhile(monkeypatch: pytest.MonkeyPatch, work: Callable[[], Awaitable[object]]) -> None:
    """The next computation of a spend from the purchases runs `work` (to its commit) after
    its scan and before it returns: another request landing in between."""
    done = False

    async def scan_then_work(
        customer_ids: Iterable[int], *, now: datetime
    ) -> dict[int, WindowSpend]:
        nonlocal done
        found = await scan_window_spends(customer_ids, now=now)
        if not done:
            done = True
            # Its own context, as another request has: not inside this one's transaction.
            await asyncio.create_task(_awaited(work), context=contextvars.Context())
        return found

    monkeypatch.setattr(spend_rows, "scan_window_spends", scan_then_work)


async def test_a_recomputation_is_not_stored_over_a_refund_made_after_its_read(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "500.00", external_id="a"))
    await db.execute(f"UPDATE {CustomerSpend._meta.db_table} SET changes_at = ?", PAST)
    meanwhile(monkeypatch, lambda: refund(api, store, "a", "100.00", "late"))

    _, spend, _ = await tier_of(api, customer)

    assert spend == "500.00"  # what the purchases said when it read them
    _, spend, sent = await tier_of(api, customer)
    assert spend == "400.00"
    assert len(scans(sent)) == 1  # the first read's result was not stored
    assert (await stored(customer.id) or (0,))[0] == 40_000


async def test_a_refund_finding_no_row_counts_onto_the_one_a_read_inserted_meanwhile(
    api: Api, postgres_only: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "500.00", external_id="a"))
    await CustomerSpend.all().delete()
    # The refund finds no row and computes one; a tier read computes and inserts its own
    # (without the uncommitted refund) before the refund inserts.
    meanwhile(monkeypatch, lambda: tier_of(api, customer))

    await refund(api, store, "a", "100.00", "r-1")

    assert (await stored(customer.id) or (0,))[0] == 40_000


async def test_parallel_purchases_of_one_customer_all_count(
    api: Api, postgres_only: object
) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()

    # The first ones find no row: each computes one, and the others add to it.
    first = await asyncio.gather(
        *(record(api, store, purchase_input(store, customer, "10.00")) for _ in range(12))
    )
    assert all(r["userErrors"] == [] for r in first), first
    assert (await stored(customer.id) or (0,))[0] == 12_000

    more = await asyncio.gather(
        *(record(api, store, purchase_input(store, customer, "25.00")) for _ in range(12))
    )
    assert all(r["userErrors"] == [] for r in more), more
    assert (await stored(customer.id) or (0,))[0] == 42_000
    code, spend, sent = await tier_of(api, customer)
    assert (code, spend, scans(sent)) == ("BRONZE", "420.00", [])


async def test_reads_computing_the_row_again_lose_no_purchase_or_refund_racing_them(
    api: Api, postgres_only: object
) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    await record(
        api,
        store,
        purchase_input(store, customer, "500.00", occurred_at=clock.now() - timedelta(days=364)),
    )
    for n in range(6):
        await record(api, store, purchase_input(store, customer, "40.00", external_id=f"k-{n}"))
    clock.advance(timedelta(days=2))  # the row's oldest purchase has left: reads compute it

    for round_ in range(3):
        if round_:  # each round begins with the row to compute again
            await db.execute(f"UPDATE {CustomerSpend._meta.db_table} SET changes_at = ?", PAST)
        work = [tier_of(api, customer) for _ in range(6)]
        work += [record(api, store, purchase_input(store, customer, "15.00")) for _ in range(4)]
        work += [refund(api, store, f"k-{n}", "5.00", f"k-{n}-{round_}") for n in range(6)]
        await asyncio.gather(*work)

    # 6 x 40 + 12 x 15 - 18 x 5
    truth = 24_000 + 18_000 - 9_000
    scanned = await scan_window_spends([customer.id], now=clock.now())
    assert scanned[customer.id].spend_minor == truth
    code, spend, _ = await tier_of(api, customer)
    assert (code, spend) == ("BRONZE", "330.00")
    assert (await stored(customer.id) or (0,))[0] == truth


async def test_parallel_refunds_of_a_customer_without_a_row_all_count(
    api: Api, postgres_only: object
) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    for n in range(8):
        await record(api, store, purchase_input(store, customer, "100.00", external_id=f"p-{n}"))
    await CustomerSpend.all().delete()

    # Each finds no row and computes one; the first inserts it, the others take from it.
    results = await asyncio.gather(
        *(refund(api, store, f"p-{n}", "30.00", f"r-{n}") for n in range(8))
    )

    assert all(r["userErrors"] == [] for r in results), results
    assert (await stored(customer.id) or (0,))[0] == 8 * 7_000
