"""After a purchase, a customer with marketing consent hears of an offer of a segment they
are now in (once per offer) and of the products bought with what they bought (once per
purchase); without consent, of neither."""

from __future__ import annotations

from typing import Any

from app.notifications.rules import run_scheduled_rules
from tests.cashback.factories import item, purchase_input, record
from tests.catalog.factories import make_merchant, make_product, make_store
from tests.factories import make_customer
from tests.notifications.inbox import stored
from tests.offers.factories import make_offer
from tests.support import Api


async def marketing(customer: Any) -> list[dict[str, Any]]:
    return [row for row in await stored(customer.id) if row["marketing"]]


async def test_a_purchase_brings_a_segment_offer_and_suggestions(api: Api) -> None:
    merchant = await make_merchant(percent="2")
    store = await make_store(merchant)
    await make_product(merchant, sku="TEA")
    await make_product(merchant, sku="CUP")
    offer = await make_offer(api, title="Bronze week", audience={"tiers": ["BRONZE"]})
    await make_offer(api, title="For everyone")  # not a segment's: never announced
    someone = await make_customer()
    await record(
        api,
        store,
        purchase_input(store, someone, "20.00", items=[item("TEA", "10.00"), item("CUP", "10.00")]),
    )
    fan = await make_customer(consent_marketing=True)
    private = await make_customer(consent_marketing=False)
    for customer in (fan, private):
        await record(
            api, store, purchase_input(store, customer, "10.00", items=[item("TEA", "10.00")])
        )

    first = await run_scheduled_rules()
    await record(api, store, purchase_input(store, fan, "5.00"))
    second = await run_scheduled_rules()

    assert first["after_purchases"] == 2
    sent = await marketing(fan)
    assert [(row["kind"], row["body"]) for row in sent] == [
        ("SEGMENT_OFFER", "Bronze week: have a look before it ends."),
        ("POST_PURCHASE", "Picked for you after your purchase: Product CUP."),
    ]
    assert sent[0]["target"] == f"app://offers/{offer}"
    assert sent[1]["target"].startswith("app://purchases/")
    # The next purchase: the offer was told already, and without items nothing to suggest.
    assert second["after_purchases"] == 0
    assert await marketing(private) == []
