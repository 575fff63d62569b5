"""The operator sets cashback rules; each purchase earns at the best percent among its
merchant's and the rules that match it (merchant, category, channel, window, minimum
spend), a capped rule giving no more than its cap."""

from __future__ import annotations

from datetime import timedelta

from app.cashback.models import CashbackRule
from app.catalog.values import Channel
from app.core import clock
from app.core.ids import encode_id
from tests.cashback.factories import item, make_rule, purchase_input, record
from tests.catalog.factories import make_merchant, make_store
from tests.factories import make_admin, make_customer
from tests.ledger.factories import totals
from tests.support import Api, error_codes

CREATE_RULE = """
mutation CreateCashbackRule($input: CreateCashbackRuleInput!) {
  createCashbackRule(input: $input) {
    rule { id name percent terms }
    userErrors { code field message }
  }
}
"""

CASHBACK_TERMS = """
query CashbackTerms {
  cashbackRules {
    id name percent category channels merchant { id name }
    minimumSpend { amount currencyCode } maxCashbackPerPurchase { amount currencyCode }
    startsAt endsAt terms
  }
  program {
    currencyCode pendingDays creditValidityDays maxRedemptionShare
    minimumRedemption { amount currencyCode } terms
  }
}
"""


async def earned(api: Api, store, customer, total: str, **extra) -> str:
    payload = await record(api, store, purchase_input(store, customer, total, **extra))
    assert payload["userErrors"] == [], payload
    return payload["purchase"]["cashback"]["amount"]


async def test_an_admin_creates_a_rule_that_everyone_can_read(api: Api) -> None:
    admin = await make_admin()
    merchant = await make_merchant(name="Bookshop")
    answer = await api.gql(
        CREATE_RULE,
        {
            "input": {
                "name": "Back to school",
                "percent": "7.5",
                "merchantId": encode_id("Merchant", merchant.id),
                "category": "  Books ",
                "channels": ["ONLINE"],
                "minimumSpend": {"amount": "20.00", "currencyCode": "USD"},
                "maxCashbackPerPurchase": {"amount": "15.00", "currencyCode": "USD"},
                "startsAt": "2026-08-01T00:00:00+02:00",
                "endsAt": "2099-09-01T00:00:00Z",
                "terms": "7.5 % back on books bought online, up to 15.00 a purchase.",
            }
        },
        token=api.token_for(admin),
    )
    payload = answer["data"]["createCashbackRule"]
    assert payload["userErrors"] == []
    assert payload["rule"]["name"] == "Back to school"
    assert payload["rule"]["percent"] == "7.5"

    terms = (await api.gql(CASHBACK_TERMS))["data"]
    [rule] = terms["cashbackRules"]
    assert rule["id"] == payload["rule"]["id"]
    assert rule["category"] == "Books"
    assert rule["channels"] == ["ONLINE"]
    assert rule["merchant"] == {"id": encode_id("Merchant", merchant.id), "name": "Bookshop"}
    assert rule["minimumSpend"] == {"amount": "20.00", "currencyCode": "USD"}
    assert rule["maxCashbackPerPurchase"] == {"amount": "15.00", "currencyCode": "USD"}
    assert rule["startsAt"].startswith("2026-07-31T22:00:00")
    assert terms["program"]["currencyCode"] == "USD"


async def test_invalid_rules_are_refused_with_their_fields(api: Api) -> None:
    admin = await make_admin()
    answer = await api.gql(
        CREATE_RULE,
        {
            "input": {
                "name": " ",
                "percent": "100.5",
                "merchantId": encode_id("Merchant", 999),
                "minimumSpend": {"amount": "5.00", "currencyCode": "EUR"},
                "maxCashbackPerPurchase": {"amount": "0", "currencyCode": "USD"},
                "startsAt": "2026-09-01T00:00:00Z",
                "endsAt": "2026-08-01T00:00:00Z",
                "terms": "",
            }
        },
        token=api.token_for(admin),
    )
    payload = answer["data"]["createCashbackRule"]
    assert payload["rule"] is None
    assert {tuple(e["field"]): e["code"] for e in payload["userErrors"]} == {
        ("input", "name"): "INVALID_INPUT",
        ("input", "percent"): "INVALID_INPUT",
        ("input", "terms"): "INVALID_INPUT",
        ("input", "merchantId"): "UNKNOWN_MERCHANT",
        ("input", "minimumSpend"): "CURRENCY_MISMATCH",
        ("input", "maxCashbackPerPurchase"): "INVALID_AMOUNT",
        ("input", "endsAt"): "INVALID_INPUT",
    }
    assert await CashbackRule.all().count() == 0


async def test_only_admins_create_rules(api: Api) -> None:
    customer = await make_customer()
    variables = {"input": {"name": "x", "percent": "5", "terms": "t"}}
    assert error_codes(await api.gql(CREATE_RULE, variables, token=api.token_for(customer))) == [
        "FORBIDDEN"
    ]
    partner = api.partner_token(["purchases:write"])
    assert error_codes(await api.gql(CREATE_RULE, variables, token=partner)) == ["FORBIDDEN"]
    assert await CashbackRule.all().count() == 0


async def test_ended_rules_leave_the_terms(api: Api) -> None:
    await make_rule(percent="5", name="Old", ends_at=clock.now() - timedelta(days=1))
    await make_rule(percent="5", name="Current")
    await make_rule(percent="5", name="Coming", starts_at=clock.now() + timedelta(days=3))
    names = [r["name"] for r in (await api.gql(CASHBACK_TERMS))["data"]["cashbackRules"]]
    assert names == ["Current", "Coming"]


async def test_a_rule_for_the_merchant_beats_its_lower_percent(api: Api) -> None:
    store = await make_store(percent="2")
    other_store = await make_store(percent="2")
    await make_rule(percent="6", merchant_id=store.merchant_id)
    customer = await make_customer()

    assert await earned(api, store, customer, "100.00") == "6.00"
    assert await earned(api, other_store, customer, "100.00") == "2.00"


async def test_a_rule_never_lowers_what_the_merchant_gives(api: Api) -> None:
    store = await make_store(percent="4")
    await make_rule(percent="1")
    customer = await make_customer()
    assert await earned(api, store, customer, "100.00") == "4.00"


async def test_a_category_rule_applies_to_its_items_only(api: Api) -> None:
    store = await make_store(await make_merchant(name="Corner shop", percent="1"))
    await make_rule(percent="10", category="Toys", name="Toy days")
    customer = await make_customer()
    items = [item("LEGO", "30.00", category="toys"), item("SOAP", "20.00", category="Home")]

    payload = await record(api, store, purchase_input(store, customer, "50.00", items=items))

    purchase = payload["purchase"]
    assert purchase["cashback"]["amount"] == "3.20"  # 10 % of 30.00 + 1 % of 20.00
    parts = [
        (p["label"], p["percent"], p["base"]["amount"], p["amount"]["amount"])
        for p in purchase["explanation"]
    ]
    assert parts == [
        ("Corner shop cashback", "1", "20.00", "0.20"),
        ("Toy days", "10", "30.00", "3.00"),
    ]
    # Without items the whole total is one line with no category.
    assert await earned(api, store, customer, "50.00") == "0.50"


async def test_a_channel_rule_applies_to_that_channel_only(api: Api) -> None:
    merchant = await make_merchant(percent="1")
    online = await make_store(merchant, channel=Channel.ONLINE)
    in_store = await make_store(merchant, channel=Channel.IN_STORE)
    await make_rule(percent="5", channels=[Channel.IN_STORE])
    customer = await make_customer()

    assert await earned(api, in_store, customer, "100.00") == "5.00"
    assert await earned(api, online, customer, "100.00") == "1.00"


async def test_a_rule_applies_within_its_window_by_when_the_purchase_happened(api: Api) -> None:
    store = await make_store(percent="1")
    now = clock.now()
    await make_rule(
        percent="8", starts_at=now - timedelta(days=10), ends_at=now - timedelta(days=2)
    )
    customer = await make_customer()

    inside = await earned(api, store, customer, "100.00", occurred_at=now - timedelta(days=5))
    after = await earned(api, store, customer, "100.00", occurred_at=now)
    before = await earned(api, store, customer, "100.00", occurred_at=now - timedelta(days=11))

    assert (inside, after, before) == ("8.00", "1.00", "1.00")


async def test_a_rule_with_a_minimum_spend_needs_the_purchase_to_reach_it(api: Api) -> None:
    store = await make_store(percent="1")
    await make_rule(percent="5", minimum_spend="50.00")
    customer = await make_customer()

    assert await earned(api, store, customer, "49.99") == "0.49"
    assert await earned(api, store, customer, "50.00") == "2.50"


async def test_a_capped_rule_gives_its_cap_and_the_rest_earns_the_next_best(api: Api) -> None:
    store = await make_store(percent="2")
    await make_rule(percent="10", cap="5.00", name="Big week")
    customer = await make_customer()

    payload = await record(api, store, purchase_input(store, customer, "200.00"))

    purchase = payload["purchase"]
    # 10 % up to 5.00 covers 50.00; the other 150.00 earns the merchant's 2 %: 3.00
    assert purchase["cashback"]["amount"] == "8.00"
    parts = [
        (p["label"], p["percent"], p["base"]["amount"], p["amount"]["amount"])
        for p in purchase["explanation"]
    ]
    assert parts[1:] == [("Big week", "10", "50.00", "5.00")]
    assert parts[0][1:] == ("2", "150.00", "3.00")


async def test_a_purchase_that_earns_nothing_says_why(api: Api) -> None:
    store = await make_store(percent="0")
    await make_rule(percent="5", minimum_spend="100.00")
    customer = await make_customer()

    below = await record(api, store, purchase_input(store, customer, "10.00"))
    with_credits = await record(
        api, store, purchase_input(store, customer, "10.00", credits_used="10.00")
    )

    assert below["purchase"]["cashback"]["amount"] == "0.00"
    assert below["purchase"]["cashbackStatus"] == "NONE"
    assert below["purchase"]["noCashbackReason"] == "BELOW_MINIMUM_SPEND"
    assert below["purchase"]["explanation"] == []
    assert with_credits["purchase"]["noCashbackReason"] == "PAID_WITH_CREDITS"
    assert await totals(customer.id) == (0, 0, 0)


async def test_credits_used_earn_nothing(api: Api) -> None:
    store = await make_store(percent="10")
    customer = await make_customer()
    assert await earned(api, store, customer, "50.00", credits_used="20.00") == "3.00"


async def test_cashback_is_rounded_down_and_the_explanation_adds_up(api: Api) -> None:
    store = await make_store(percent="3.33")
    await make_rule(percent="7.77", category="a")
    customer = await make_customer()
    items = [item("x", "12.34", quantity=3, category="a"), item("y", "9.99", category="b")]

    payload = await record(api, store, purchase_input(store, customer, "47.01", items=items))

    purchase = payload["purchase"]
    # 7.77 % of 37.02 = 2.876454 and 3.33 % of 9.99 = 0.332667: 3.209121 -> 3.20
    assert purchase["cashback"]["amount"] == "3.20"
    parts = sum(int(p["amount"]["amount"].replace(".", "")) for p in purchase["explanation"])
    assert parts == 320
    assert await totals(customer.id) == (0, 320, 0)


async def test_an_admin_ends_a_rule_and_later_purchases_no_longer_earn_it(api: Api) -> None:
    store = await make_store(percent="1")
    rule = await make_rule(percent="9", name="Flash sale")
    customer = await make_customer()
    assert await earned(api, store, customer, "100.00") == "9.00"
    mutation = """mutation($id: ID!) { endCashbackRule(id: $id) {
      rule { name endsAt } userErrors { code field } } }"""

    answer = await api.gql(
        mutation,
        {"id": encode_id("CashbackRule", rule.id)},
        token=api.token_for(await make_admin()),
    )

    assert answer["data"]["endCashbackRule"]["rule"]["endsAt"] is not None
    clock.advance(timedelta(seconds=1))
    assert await earned(api, store, customer, "100.00") == "1.00"
    assert (await api.gql(CASHBACK_TERMS))["data"]["cashbackRules"] == []
