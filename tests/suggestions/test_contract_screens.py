"""The shipped operations, exactly as the clients send them: the mobile app's Home and
post-purchase screens and a partner app's product page."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import print_ast

from tests.offers.factories import make_offer
from tests.suggestions.factories import customers, make_shop
from tests.support import Api
from tests.test_contract import CONTRACT_DIR, _operations

pytestmark = pytest.mark.skipif(
    not CONTRACT_DIR.is_dir(), reason=f"no contract folder at {CONTRACT_DIR}"
)


def _document(name: str) -> str:
    [document] = [print_ast(doc) for _, op, doc in _operations() if op == name]
    return document


async def _run(api: Api, name: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    answer = await api.gql(_document(name), variables, token=token)
    assert "errors" not in answer, answer
    return answer["data"]


async def test_home_the_post_purchase_screen_and_a_product_page(api: Api) -> None:
    shop = await make_shop({"phone": "Phones", "case": "Cases", "charger": "Chargers"})
    for buyer in await customers(2):
        await shop.buy(api, buyer, "phone", "case", "charger")
    await make_offer(api, title="Case week", percent="10", category="Cases")
    [customer] = await customers(1, consent_personalization=True)
    purchase = await shop.buy(api, customer, "phone")
    token = api.token_for(customer)

    home = (await _run(api, "Home", {}, token))["viewer"]
    assert home["balance"]["pending"] == {"amount": "0.20", "currencyCode": "USD"}
    assert [edge["node"]["title"] for edge in home["offers"]["edges"]] == ["Case week"]
    assert [(s["product"]["sku"], s["reason"]) for s in home["suggestions"]] == [
        ("case", "Often bought with Product phone"),
        ("charger", "Often bought with Product phone"),
    ]
    case = home["suggestions"][0]
    assert case["estimatedCashback"] == {"amount": "1.00", "currencyCode": "USD"}
    assert case["product"]["cashbackPercent"] == "2"  # before the offer and the tier
    assert case["product"]["merchant"]["name"] == shop.merchant.name

    after = await _run(api, "PostPurchaseSuggestions", {"purchaseId": purchase["id"]}, token)
    assert [s["product"]["sku"] for s in after["viewer"]["suggestions"]] == ["case", "charger"]

    partner = api.partner_token(["offers:read"])
    page = await _run(api, "RelatedProducts", {"productId": shop.gid("case"), "first": 1}, partner)
    assert page["product"]["name"] == "Product case"
    assert [p["sku"] for p in page["product"]["related"]] == ["charger"]
