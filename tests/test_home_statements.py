"""What the app's most opened screen costs the database: the contract's `Home` sends the
same statements whatever page sizes it asks for, and the signed-in customer's row comes
with the check that their session still stands."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.ids import encode_id
from tests.accounts.factories import sign_in
from tests.factories import PASSWORD
from tests.ledger.statements import count_statements
from tests.offers.factories import make_offer
from tests.suggestions.factories import customers, make_shop
from tests.support import Api
from tests.test_contract import CONTRACT_DIR

# Statements of one `Home`, once the program's settings, tiers, rules, merchants and stores
# are in memory: the customer with their wallet, tier spend and profile; their offers; the
# suggestions with their products and what seeds them; the offers those may earn with.
HOME_STATEMENTS = 4

PROFILE = "query { viewer { id displayName memberCode } }"
SIGN_OUT = """
mutation ($refresh: String!) { signOut(refreshToken: $refresh) { userErrors { code } } }
"""


async def _session(api: Api, customer: Any) -> dict[str, Any]:
    answer = await sign_in(api, customer.email, PASSWORD)
    session: dict[str, Any] = answer["data"]["signIn"]["session"]
    return session


async def _session_token(api: Api, customer: Any) -> str:
    return str((await _session(api, customer))["accessToken"])


async def test_the_customer_is_read_with_the_session_check(api: Api) -> None:
    [customer] = await customers(1)
    token = await _session_token(api, customer)
    with count_statements() as sent:
        answer = await api.gql(PROFILE, token=token)
    assert answer["data"]["viewer"]["displayName"] == customer.display_name
    assert len(sent) == 1, sent
    assert "sessions" in sent[0]


async def test_an_ended_session_reads_nothing_more(api: Api) -> None:
    [customer] = await customers(1)
    session = await _session(api, customer)
    token = session["accessToken"]
    answer = await api.gql(SIGN_OUT, {"refresh": session["refreshToken"]}, token=token)
    assert answer["data"]["signOut"]["userErrors"] == [], answer
    with count_statements() as sent:
        answer = await api.gql(PROFILE, token=token)
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert answer["data"] is None
    assert len(sent) == 1, sent


@pytest.mark.skipif(not CONTRACT_DIR.is_dir(), reason=f"no contract folder at {CONTRACT_DIR}")
async def test_home_costs_the_same_statements_for_any_page_size(api: Api) -> None:
    from tests.suggestions.test_contract_screens import _document

    shop = await make_shop({"phone": "Phones", "case": "Cases", "charger": "Chargers"})
    for buyer in await customers(2):
        await shop.buy(api, buyer, "phone", "case", "charger")
    merchant_id = encode_id("Merchant", shop.merchant.id)
    for n in range(12):
        await make_offer(
            api, title=f"Case week {n}", percent="10", category="Cases", merchantId=merchant_id
        )
    [customer] = await customers(1, consent_personalization=True)
    await shop.buy(api, customer, "phone")
    token = await _session_token(api, customer)
    home = _document("Home")
    await api.gql(home, token=token)  # the program's settings, tiers and rules in memory

    counts = {}
    for first in (1, 10, 50):
        with count_statements() as sent:
            answer = await api.gql(home, {"offers": first, "suggestions": first}, token=token)
        assert "errors" not in answer, answer
        viewer = answer["data"]["viewer"]
        assert len(viewer["offers"]["edges"]) == min(first, 12)
        assert len(viewer["suggestions"]) == min(first, 2)
        counts[first] = len(sent)
        assert not [s for s in sent if "catalog_merchants" in s or "catalog_stores" in s]
        merchants = {e["node"]["merchant"]["name"] for e in viewer["offers"]["edges"]}
        merchants |= {s["product"]["merchant"]["name"] for s in viewer["suggestions"]}
        assert merchants == {shop.merchant.name}, merchants
    assert counts[1] == counts[10] == counts[50] <= HOME_STATEMENTS, counts


CARD = """query { viewer { tier { code }
  balance { available { amount } pending { amount } nextExpiry { expiresAt } } } }"""


async def test_the_wallet_and_tier_come_with_the_session_check(api: Api) -> None:
    """Once the program is in memory, a balance card is one statement, and its figures are
    the ledger's: pending after a purchase, available once matured (the read settles the
    wallet first, in more statements), and the same again when nothing is due."""
    from datetime import timedelta

    from app.core import clock
    from tests.cashback.factories import purchase_input, record
    from tests.catalog.factories import make_store
    from tests.ledger.factories import totals
    from tests.ledger.invariants import assert_ledger_consistent

    store = await make_store(percent="5")
    [customer] = await customers(1)
    token = await _session_token(api, customer)
    await api.gql(CARD, token=token)  # the program's settings and tiers in memory
    with count_statements() as sent:
        card = (await api.gql(CARD, token=token))["data"]["viewer"]
    assert len(sent) == 1, sent
    assert card["balance"]["pending"] == {"amount": "0.00"}

    await record(api, store, purchase_input(store, customer, "80.00"))
    with count_statements() as sent:
        card = (await api.gql(CARD, token=token))["data"]["viewer"]
    assert len(sent) == 1, sent
    assert card["balance"]["pending"] == {"amount": "4.00"}
    assert card["balance"]["available"] == {"amount": "0.00"}

    clock.advance(timedelta(days=30, minutes=1))
    token = await _session_token(api, customer)  # the first one has expired meanwhile
    with count_statements() as sent:
        card = (await api.gql(CARD, token=token))["data"]["viewer"]
    assert len(sent) > 1, sent  # the wallet was due: settled before it was shown
    assert card["balance"]["available"] == {"amount": "4.00"}
    assert card["balance"]["pending"] == {"amount": "0.00"}
    assert await totals(customer.id) == (400, 0, 0)
    with count_statements() as sent:
        again = (await api.gql(CARD, token=token))["data"]["viewer"]
    assert len(sent) == 1, sent
    assert again == card
    await assert_ledger_consistent()
