"""At purchase: the best eligible offer per item, never two on one item, named in the
explanation; its limit and budget consumed with the credit, and given back by refunds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.catalog.values import Channel
from app.core import clock
from app.offers.models import Offer, OfferCustomer, OfferUse
from tests.cashback.factories import item, purchase_input, record, refund
from tests.catalog.factories import make_merchant, make_product, make_store
from tests.factories import make_customer
from tests.ledger.factories import totals
from tests.offers.factories import activate, make_offer, seen_ids
from tests.support import Api

USD = "USD"


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": USD}


def parts(purchase: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(p["label"], p["percent"], p["amount"]["amount"]) for p in purchase["explanation"]]


async def _buy(api: Api, store: Any, customer: Any, total: str, **kw: Any) -> dict[str, Any]:
    result = await record(api, store, purchase_input(store, customer, total, **kw))
    assert result["userErrors"] == [], result
    return result["purchase"]


async def _offer_row(offer_id: str) -> Offer:
    from app.core.ids import decode_id

    return await Offer.get(id=decode_id(offer_id, "Offer"))


async def test_an_offer_that_needs_activation_applies_only_to_purchases_after_it(
    api: Api,
) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    offer = await make_offer(api, title="Activate me", percent="10", requiresActivation=True)

    before = await _buy(api, store, customer, "50.00")
    assert before["cashback"]["amount"] == "1.00"
    assert all(label != "Activate me" for label, _, _ in parts(before))
    clock.advance(timedelta(minutes=5))
    activated = await activate(api, customer, offer)
    assert activated == {"offer": {"id": offer, "activated": True}, "userErrors": []}
    assert await activate(api, customer, offer) == activated  # harmless twice

    # Reported now, but made before the activation: no offer.
    late = await _buy(api, store, customer, "50.00", occurred_at=clock.now() - timedelta(minutes=3))
    assert late["cashback"]["amount"] == "1.00"
    after = await _buy(api, store, customer, "50.00")
    assert ("Activate me", "10", "5.00") in parts(after)
    assert after["cashback"]["amount"] == "5.00"


async def test_the_best_offer_per_item_applies_and_offers_do_not_stack(api: Api) -> None:
    merchant = await make_merchant(percent="2")
    await make_product(merchant, sku="bean", category="Coffee")
    await make_product(merchant, sku="cup", category="Kitchen")
    store = await make_store(merchant)
    customer = await make_customer()
    await make_offer(api, title="Coffee week", percent="8", category="Coffee")
    await make_offer(api, title="Coffee day", percent="12", category="Coffee")
    await make_offer(api, title="Everything", percent="5")

    purchase = await _buy(
        api,
        store,
        customer,
        "150.00",
        items=[item("bean", "100.00"), item("cup", "50.00")],
    )
    # The coffee earns 12 % (the best offer), the cup 5 %; never 12 + 8 or 12 + 5.
    assert sorted(parts(purchase)) == [("Coffee day", "12", "12.00"), ("Everything", "5", "2.50")]
    assert purchase["cashback"]["amount"] == "14.50"


async def test_a_boost_below_the_merchant_percent_changes_nothing(api: Api) -> None:
    store = await make_store(percent="6")
    customer = await make_customer()
    await make_offer(api, title="Small boost", percent="4")

    purchase = await _buy(api, store, customer, "100.00")
    assert purchase["cashback"]["amount"] == "6.00"
    assert all(p[0] != "Small boost" for p in parts(purchase))


async def test_a_bonus_offer_adds_its_bonus_once_above_its_minimum_spend(api: Api) -> None:
    store = await make_store(percent="1")
    customer = await make_customer()
    await make_offer(
        api,
        title="Welcome bonus",
        kind="BONUS_CREDITS",
        percent=None,
        bonus=money("5.00"),
        minimumSpend=money("40.00"),
    )

    small = await _buy(api, store, customer, "30.00")
    big = await _buy(api, store, customer, "50.00")

    assert small["cashback"]["amount"] == "0.30"
    assert ("Welcome bonus", None, "5.00") in parts(big)
    assert big["cashback"]["amount"] == "5.50"


async def test_the_per_customer_limit_is_consumed_and_a_full_refund_gives_the_use_back(
    api: Api,
) -> None:
    store = await make_store(percent="0")
    customer = await make_customer()
    offer = await make_offer(api, title="Twice", percent="10", perCustomerLimit=2)

    first = await _buy(api, store, customer, "10.00", external_id="a")
    second = await _buy(api, store, customer, "10.00", external_id="b")
    third = await _buy(api, store, customer, "10.00", external_id="c")

    assert [p["cashback"]["amount"] for p in (first, second, third)] == ["1.00", "1.00", "0.00"]
    assert await seen_ids(api, customer) == []  # used up: no longer listed
    other = await make_customer()
    assert await seen_ids(api, other) == [offer]  # others keep theirs

    await refund(api, store, "a", "10.00", "refund-a")
    assert await seen_ids(api, customer) == [offer]
    fourth = await _buy(api, store, customer, "10.00", external_id="d")
    assert fourth["cashback"]["amount"] == "1.00"


async def test_the_budget_is_never_exceeded_and_refunds_give_back_their_share(api: Api) -> None:
    store = await make_store(percent="1")
    a, b = await make_customer(), await make_customer()
    offer = await make_offer(api, title="Budgeted", percent="10", budget=money("8.00"))

    first = await _buy(api, store, a, "50.00", external_id="a")  # 5.00 from the budget
    second = await _buy(api, store, b, "50.00", external_id="b")  # 3.00 left: 30.00 at 10 %

    assert parts(first) == [("Budgeted", "10", "5.00")]
    # The rest of the item earns as without the offer: 20.00 at the merchant's 1 %.
    merchant_parts = [p for p in parts(second) if p[0] != "Budgeted"]
    assert ("Budgeted", "10", "3.00") in parts(second)
    assert [(percent, amount) for _, percent, amount in merchant_parts] == [("1", "0.20")]
    assert second["cashback"]["amount"] == "3.20"
    row = await _offer_row(offer)
    assert (row.budget_used_minor, row.uses_count) == (800, 2)
    assert await seen_ids(api, a) == []  # spent: no longer live

    await refund(api, store, "a", "25.00", "half-a")  # half of a's purchase
    row = await _offer_row(offer)
    assert row.budget_used_minor == 550  # 2.50 back
    await refund(api, store, "a", "25.00", "rest-a")
    row = await _offer_row(offer)
    assert (row.budget_used_minor, row.uses_count) == (300, 1)
    assert await seen_ids(api, a) == [offer]
    uses = await OfferUse.filter(offer_id=row.id).order_by("id")
    assert [(u.amount_minor, u.returned_minor, u.use_returned) for u in uses] == [
        (500, 500, True),
        (300, 0, False),
    ]
    assert await totals(a.id) == (0, 0, 0)


async def test_a_paused_offer_applies_to_nothing_until_resumed(api: Api) -> None:
    from tests.offers.factories import admin_token

    store = await make_store(percent="0")
    customer = await make_customer()
    token = await admin_token(api)
    offer = await make_offer(api, token, title="Paused", percent="10")
    pause = "mutation($id: ID!) { pauseOffer(id: $id) { userErrors { code } } }"
    resume = "mutation($id: ID!) { resumeOffer(id: $id) { userErrors { code } } }"

    assert "errors" not in await api.gql(pause, {"id": offer}, token=token)
    assert (await _buy(api, store, customer, "10.00"))["cashback"]["amount"] == "0.00"
    assert await seen_ids(api, customer) == []
    assert "errors" not in await api.gql(resume, {"id": offer}, token=token)
    assert (await _buy(api, store, customer, "10.00"))["cashback"]["amount"] == "1.00"


async def test_an_offer_scoped_to_a_merchant_and_channel_applies_only_there(api: Api) -> None:
    merchant = await make_merchant(percent="0")
    online = await make_store(merchant, channel=Channel.ONLINE)
    in_store = await make_store(merchant, channel=Channel.IN_STORE)
    elsewhere = await make_store(percent="0", channel=Channel.ONLINE)
    customer = await make_customer()
    from app.core.ids import encode_id

    await make_offer(
        api,
        title="Web only",
        percent="10",
        merchantId=encode_id("Merchant", merchant.id),
        channels=["ONLINE"],
    )

    assert (await _buy(api, online, customer, "10.00"))["cashback"]["amount"] == "1.00"
    assert (await _buy(api, in_store, customer, "10.00"))["cashback"]["amount"] == "0.00"
    assert (await _buy(api, elsewhere, customer, "10.00"))["cashback"]["amount"] == "0.00"
    standing = await OfferCustomer.get(customer_id=customer.id)
    assert standing.uses == 1
