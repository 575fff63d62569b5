from __future__ import annotations

from tests.cashback.factories import purchase_input, record
from tests.catalog.factories import make_store
from tests.factories import make_customer
from tests.offers.factories import activate, make_offer, viewer_offers
from tests.support import Api


async def test_smoke(api: Api) -> None:
    store = await make_store(percent="2")
    customer = await make_customer()
    offer = await make_offer(
        api, requiresActivation=True, budget={"amount": "100.00", "currencyCode": "USD"}
    )
    seen = await viewer_offers(api, customer)
    assert [o["id"] for o in seen] == [offer]
    assert seen[0]["activated"] is False
    result = await activate(api, customer, offer)
    assert result["userErrors"] == []
    assert result["offer"]["activated"] is True
    done = await record(api, store, purchase_input(store, customer, "50.00"))
    print(done)
    assert done["purchase"]["cashback"]["amount"] == "5.00"
