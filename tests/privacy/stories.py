"""A customer with a history of every kind, made through the real API and services, and
the contract's privacy operations."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from app import ledger
from app.accounts.models import User
from app.catalog.models import Store
from app.core.ids import encode_id
from tests.accounts.factories import SIGN_IN, SIGN_UP, UPDATE_CONSENTS
from tests.cashback.factories import item, purchase_input, record, refund
from tests.catalog.factories import make_product, make_store
from tests.offers.factories import activate, make_offer
from tests.redemptions.factories import give_credits
from tests.redemptions.operations import CANCEL, started
from tests.support import Api

EXPORT = """
mutation ExportMyData {
  exportMyData {
    export
    userErrors { code field message }
  }
}
"""

DELETE = """
mutation DeleteAccount($password: String!) {
  deleteAccount(password: $password) {
    userErrors { code field message }
  }
}
"""

PASSWORD = "larch-meadow-quince-7"
_numbers = itertools.count(1)


@dataclass
class Member:
    """A signed-up customer with purchases, a refund, credits, redemptions (one open), an
    activated offer, consent changes and two sessions."""

    user: User
    email: str
    display_name: str
    access_token: str
    refresh_token: str
    store: Store
    external_ids: list[str] = field(default_factory=list)
    open_redemption: str = ""

    @property
    def member_code(self) -> str:
        return self.user.member_code

    @property
    def personal(self) -> list[str]:
        """The values no row may keep once the account is deleted."""
        return [self.email, self.display_name, self.member_code]


async def make_member(api: Api, first_name: str) -> Member:
    n = next(_numbers)
    email = f"{first_name.lower()}.q{n}x@example.com"
    display_name = f"{first_name} Quillfeather{n}"
    signed_up = await api.gql(
        SIGN_UP,
        {
            "input": {
                "email": email,
                "password": PASSWORD,
                "displayName": display_name,
                "birthDate": "1990-05-17",
                "locale": "pt-BR",
                "acceptTerms": True,
                "consents": {"personalization": True, "marketing": False},
            }
        },
    )
    assert signed_up["data"]["signUp"]["userErrors"] == [], signed_up
    signed_in = await api.gql(SIGN_IN, {"input": {"email": email, "password": PASSWORD}})
    session = signed_in["data"]["signIn"]["session"]
    token = session["accessToken"]
    changed = await api.gql(
        UPDATE_CONSENTS, {"input": {"personalization": True, "marketing": True}}, token=token
    )
    assert changed["data"]["updateConsents"]["userErrors"] == [], changed
    user = await User.get(email=email)

    store = await make_store(percent="5")
    merchant = await store.merchant
    await make_product(merchant, sku=f"SKU-{n}", category="Groceries", price="10.00")
    member = Member(user, email, display_name, token, session["refreshToken"], store)

    # Two purchases (one with an item named after the customer, as a gift-wrap line may
    # be), and a partial refund whose reason names them.
    line = {**item(f"SKU-{n}", "10.00", 2, "Groceries"), "name": f"Gift for {display_name}"}
    first = purchase_input(store, user, "20.00", items=[line])
    second = purchase_input(store, user, "50.00")
    for data in (first, second):
        assert (await record(api, store, data))["userErrors"] == []
        member.external_ids.append(data["externalId"])
    reason = f"Returned by {display_name}"
    refunded = await refund(api, store, first["externalId"], "10.00", f"refund-{n}", reason=reason)
    assert refunded["userErrors"] == []

    # Available credit, one redemption cancelled and one left open.
    await give_credits(user, 1_500)
    merchant_id = encode_id("Merchant", merchant.id)
    cancelled = await started(api, token, merchant_id, "2.00", channel="ONLINE", key=f"a{n}")
    answer = await api.gql(CANCEL, {"id": cancelled["id"]}, token=token)
    assert answer["data"]["cancelRedemption"]["userErrors"] == [], answer
    opened = await started(api, token, merchant_id, "3.00", channel="ONLINE", key=f"b{n}")
    member.open_redemption = opened["id"]

    offer_id = await make_offer(api, requiresActivation=True, merchantId=merchant_id)
    assert (await activate(api, user, offer_id))["userErrors"] == []
    return member


async def held(member: Member) -> int:
    """What the customer's wallet holds: pending + available + reserved, in minor units."""
    balance = await ledger.get_balance(customer_id=member.user.id, currency="USD")
    return balance.pending + balance.available + balance.reserved


async def export_of(api: Api, token: str) -> dict[str, Any]:
    answer = await api.gql(EXPORT, token=token)
    assert "errors" not in answer, answer
    payload = answer["data"]["exportMyData"]
    assert payload["userErrors"] == [], payload
    return payload["export"]


async def delete(api: Api, token: str, password: str = PASSWORD) -> dict[str, Any]:
    """The DeleteAccount answer (data and errors)."""
    return await api.gql(DELETE, {"password": password}, token=token)
