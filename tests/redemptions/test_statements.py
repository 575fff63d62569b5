"""The hot paths cost a fixed number of SQL statements: starting a redemption, and listing
them however many are asked for."""

from __future__ import annotations

from tests.factories import make_customer
from tests.ledger.statements import count_statements
from tests.redemptions.factories import gid, give_credits, make_merchant
from tests.redemptions.operations import LIST, START, start_input, started
from tests.support import Api


async def test_starting_a_redemption_costs_a_fixed_number_of_statements(
    api: Api, is_postgres: bool
) -> None:
    customer = await make_customer()
    merchant = await make_merchant()
    await give_credits(customer, 10_000)
    token = api.token_for(customer)
    merchant_id = gid("Merchant", merchant)
    await started(api, token, merchant_id, "1.00", key="warm")

    with count_statements() as in_store:
        await api.gql(START, start_input(merchant_id, "1.00", key="a"), token=token)
    with count_statements() as online:
        await api.gql(
            START, start_input(merchant_id, "1.00", key="b", channel="ONLINE"), token=token
        )
    with count_statements() as retry:
        await api.gql(
            START, start_input(merchant_id, "1.00", key="b", channel="ONLINE"), token=token
        )

    # The caller's session is live (1), the program (1), the key and the merchant, the row,
    # the reservation (one statement on PostgreSQL, four on SQLite), and the answer's merchant.
    assert len(in_store) == len(online) <= (7 if is_postgres else 10), "\n".join(online)
    assert len(retry) <= 6, "\n".join(retry)


async def test_listing_redemptions_does_not_grow_with_the_page(api: Api) -> None:
    customer = await make_customer()
    merchants = [await make_merchant() for _ in range(3)]
    await give_credits(customer, 10_000)
    token = api.token_for(customer)
    for n in range(12):
        await started(api, token, gid("Merchant", merchants[n % 3]), "1.00", key=f"k{n}")

    with count_statements() as two:
        few = await api.gql(LIST, {"first": 2}, token=token)
    with count_statements() as twelve:
        many = await api.gql(LIST, {"first": 12}, token=token)
    assert len(few["data"]["viewer"]["redemptions"]["edges"]) == 2
    assert len(many["data"]["viewer"]["redemptions"]["edges"]) == 12

    # The caller's session is live, the page, its merchants.
    assert len(two) == len(twelve) <= 4, "\n".join(twelve)
