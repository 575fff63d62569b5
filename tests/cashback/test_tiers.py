"""Tiers follow what a customer spent in the last 365 days (never the balance), and
multiply the cashback percent."""

from __future__ import annotations

from datetime import timedelta

from app.cashback.models import Tier
from app.core import clock
from tests.cashback.factories import purchase_input, record, refund
from tests.catalog.factories import make_store
from tests.factories import make_admin, make_customer
from tests.support import Api, error_codes

TIER = """
query { viewer { tier {
  code name cashbackMultiplier spend { amount }
  nextTier { code name } spendToNextTier { amount currencyCode }
} } }
"""

TIERS = "{ tiers { code name cashbackMultiplier minimumSpend { amount currencyCode } } }"

UPDATE_TIERS = """
mutation UpdateTiers($tiers: [TierInput!]!) {
  updateTiers(tiers: $tiers) {
    tiers { code name cashbackMultiplier minimumSpend { amount } }
    userErrors { code field message }
  }
}
"""


def tier_input(code: str, multiplier: str, spend: str) -> dict:
    return {
        "code": code,
        "name": code.title(),
        "cashbackMultiplier": multiplier,
        "minimumSpend": {"amount": spend, "currencyCode": "USD"},
    }


async def test_the_default_tiers(api: Api) -> None:
    tiers = (await api.gql(TIERS))["data"]["tiers"]
    assert [(t["code"], t["cashbackMultiplier"], t["minimumSpend"]["amount"]) for t in tiers] == [
        ("BRONZE", "1", "0.00"),
        ("SILVER", "1.25", "1000.00"),
        ("GOLD", "1.5", "5000.00"),
    ]


async def test_a_new_customer_is_bronze_with_silver_a_thousand_away(api: Api) -> None:
    customer = await make_customer()
    tier = (await api.gql(TIER, token=api.token_for(customer)))["data"]["viewer"]["tier"]
    assert tier == {
        "code": "BRONZE",
        "name": "Bronze",
        "cashbackMultiplier": "1",
        "spend": {"amount": "0.00"},
        "nextTier": {"code": "SILVER", "name": "Silver"},
        "spendToNextTier": {"amount": "1000.00", "currencyCode": "USD"},
    }


async def test_spending_reaches_silver_then_gold_and_multiplies_cashback(api: Api) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    token = api.token_for(customer)

    first = await record(api, store, purchase_input(store, customer, "1000.00"))
    assert first["purchase"]["cashback"]["amount"] == "20.00"  # earned as BRONZE
    tier = (await api.gql(TIER, token=token))["data"]["viewer"]["tier"]
    assert (tier["code"], tier["spendToNextTier"]["amount"]) == ("SILVER", "4000.00")

    second = await record(api, store, purchase_input(store, customer, "4000.00"))
    assert second["purchase"]["cashback"]["amount"] == "100.00"  # 2 % x 1.25
    assert second["purchase"]["explanation"][0]["label"].endswith("(Silver tier x1.25)")
    assert second["purchase"]["explanation"][0]["percent"] == "2.5"

    third = await record(api, store, purchase_input(store, customer, "10.00"))
    assert third["purchase"]["cashback"]["amount"] == "0.30"  # 2 % x 1.5
    tier = (await api.gql(TIER, token=token))["data"]["viewer"]["tier"]
    assert tier["code"] == "GOLD"
    assert tier["nextTier"] is None and tier["spendToNextTier"] is None


async def test_refunds_and_time_bring_the_tier_down(api: Api) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    token = api.token_for(customer)
    await record(api, store, purchase_input(store, customer, "1200.00", external_id="big"))

    await refund(api, store, "big", "300.00", "r-1")
    assert (await api.gql(TIER, token=token))["data"]["viewer"]["tier"]["code"] == "BRONZE"

    await record(api, store, purchase_input(store, customer, "200.00"))
    assert (await api.gql(TIER, token=token))["data"]["viewer"]["tier"]["code"] == "SILVER"

    clock.advance(timedelta(days=366))
    tier = (await api.gql(TIER, token=api.token_for(customer)))["data"]["viewer"]["tier"]
    assert (tier["code"], tier["spend"]["amount"]) == ("BRONZE", "0.00")


async def test_an_admin_replaces_the_tiers(api: Api) -> None:
    token = api.token_for(await make_admin())
    answer = await api.gql(
        UPDATE_TIERS,
        {
            "tiers": [
                tier_input("blue", "1", "0"),
                tier_input("PLATINUM", "2", "300.00"),
            ]
        },
        token=token,
    )
    payload = answer["data"]["updateTiers"]
    assert payload["userErrors"] == []
    assert [t["code"] for t in payload["tiers"]] == ["BLUE", "PLATINUM"]

    store = await make_store(percent="2")
    customer = await make_customer()
    await record(api, store, purchase_input(store, customer, "300.00"))
    later = await record(api, store, purchase_input(store, customer, "100.00"))
    assert later["purchase"]["cashback"]["amount"] == "4.00"  # 2 % x 2


async def test_invalid_tiers_are_refused_and_the_old_ones_stay(api: Api) -> None:
    token = api.token_for(await make_admin())
    await api.gql(TIERS)
    answer = await api.gql(
        UPDATE_TIERS,
        {
            "tiers": [
                tier_input("A", "0", "10.00"),
                tier_input("A", "1.2345", "10.00"),
                {
                    **tier_input("B", "1", "1.00"),
                    "minimumSpend": {"amount": "1", "currencyCode": "EUR"},
                },
            ]
        },
        token=token,
    )
    errors = answer["data"]["updateTiers"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [
        ("INVALID_INPUT", ["tiers", "0", "cashbackMultiplier"]),
        ("INVALID_INPUT", ["tiers", "1", "code"]),
        ("INVALID_INPUT", ["tiers", "1", "cashbackMultiplier"]),
        ("INVALID_INPUT", ["tiers", "1", "minimumSpend"]),
        ("CURRENCY_MISMATCH", ["tiers", "2", "minimumSpend"]),
    ]
    no_zero = await api.gql(UPDATE_TIERS, {"tiers": [tier_input("A", "1", "5.00")]}, token=token)
    assert [(e["code"], e["field"]) for e in no_zero["data"]["updateTiers"]["userErrors"]] == [
        ("INVALID_INPUT", ["tiers"])
    ]
    assert await Tier.all().count() == 3

    customer = api.token_for(await make_customer())
    assert error_codes(
        await api.gql(UPDATE_TIERS, {"tiers": [tier_input("A", "1", "0")]}, token=customer)
    ) == ["FORBIDDEN"]
