"""Redemptions appear in the wallet's activity, with their merchant, as they go."""

from __future__ import annotations

from datetime import timedelta

from app.core import clock
from tests.factories import make_customer
from tests.redemptions.factories import gid, give_credits, make_merchant, make_store
from tests.redemptions.operations import CANCEL, capture, started
from tests.support import Api

ACTIVITY = """
query Activity($first: Int!, $after: String) {
  viewer {
    activity(first: $first, after: $after) {
      edges { node { kind status amount { amount currencyCode } merchant { id name } } }
    }
  }
}
"""


async def _redemption_lines(api: Api, token: str) -> list[tuple[str, str, str | None]]:
    answer = await api.gql(ACTIVITY, {"first": 50}, token=token)
    assert "errors" not in answer, answer
    nodes = [edge["node"] for edge in answer["data"]["viewer"]["activity"]["edges"]]
    return [
        (n["status"], n["amount"]["amount"], n["merchant"]["name"] if n["merchant"] else None)
        for n in nodes
        if n["kind"] == "REDEMPTION"
    ]


async def test_each_redemption_shows_in_the_activity_with_how_it_ended(api: Api) -> None:
    customer = await make_customer()
    merchant = await make_merchant(name="Corner Bakery")
    store = await make_store(merchant)
    await give_credits(customer, 5000)
    token = api.token_for(customer)
    merchant_id = gid("Merchant", merchant)

    expiring = await started(api, token, merchant_id, "1.00", key="a")
    clock.advance(timedelta(minutes=11))
    token = api.token_for(customer)
    captured = await started(api, token, merchant_id, "2.00", key="b")
    await capture(
        api,
        api.partner_token(["redemptions:write"], merchant_id=merchant.id),
        storeId=gid("Store", store),
        code=captured["code"],
        orderReference="o-1",
    )
    cancelled = await started(api, token, merchant_id, "3.00", key="c")
    await api.gql(CANCEL, {"id": cancelled["id"]}, token=token)
    await started(api, token, merchant_id, "4.00", key="d")

    assert expiring["status"] == "RESERVED"
    assert await _redemption_lines(api, token) == [
        ("RESERVED", "4.00", "Corner Bakery"),
        ("RELEASED", "3.00", "Corner Bakery"),
        ("COMPLETED", "2.00", "Corner Bakery"),
        ("EXPIRED", "1.00", "Corner Bakery"),
    ]
