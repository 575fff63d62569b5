"""`viewer.balance` through HTTP, as the app's home screen asks for it."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.core import clock
from tests.factories import make_customer
from tests.ledger.factories import give_credit, reserve
from tests.support import error_codes

BALANCE = """
query Balance {
  viewer {
    balance {
      available { amount currencyCode }
      pending { amount currencyCode }
      reserved { amount currencyCode }
      lifetimeEarned { amount currencyCode }
      nextExpiry { amount { amount currencyCode } expiresAt }
    }
  }
}
"""


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "USD"}


async def test_a_customer_sees_their_balance(api) -> None:
    customer = await make_customer()
    someone_else = await make_customer()
    await give_credit(customer.id, 1250)
    await give_credit(customer.id, 300, pending=timedelta(days=30))
    await reserve(customer.id, 250, "home")
    await give_credit(someone_else.id, 99_999)

    answer = await api.gql(BALANCE, token=api.token_for(customer))

    assert "errors" not in answer, answer
    balance = answer["data"]["viewer"]["balance"]
    assert balance["available"] == usd("10.00")
    assert balance["pending"] == usd("3.00")
    assert balance["reserved"] == usd("2.50")
    assert balance["lifetimeEarned"] == usd("15.50")
    assert balance["nextExpiry"]["amount"] == usd("12.50")
    expires_at = datetime.fromisoformat(balance["nextExpiry"]["expiresAt"])
    assert abs(expires_at - (clock.now() + timedelta(days=365))) < timedelta(minutes=1)


async def test_a_new_customer_has_zero_and_nothing_expiring(api) -> None:
    customer = await make_customer()
    answer = await api.gql(BALANCE, token=api.token_for(customer))
    balance = answer["data"]["viewer"]["balance"]
    assert balance["available"] == usd("0.00")
    assert balance["lifetimeEarned"] == usd("0.00")
    assert balance["nextExpiry"] is None


async def test_the_balance_follows_the_clock_without_any_job(api) -> None:
    customer = await make_customer()
    await give_credit(customer.id, 500, pending=timedelta(days=30), validity=timedelta(days=365))

    async def seen() -> dict:
        # A fresh token each time: access tokens last minutes, the clock moves by days.
        answer = await api.gql(BALANCE, token=api.token_for(customer))
        return answer["data"]["viewer"]["balance"]

    before = await seen()
    clock.advance(timedelta(days=31))
    matured = await seen()
    clock.advance(timedelta(days=365))
    expired = await seen()

    assert (before["available"], before["pending"]) == (usd("0.00"), usd("5.00"))
    assert (matured["available"], matured["pending"]) == (usd("5.00"), usd("0.00"))
    assert (expired["available"], expired["pending"]) == (usd("0.00"), usd("0.00"))
    assert expired["lifetimeEarned"] == usd("5.00")


async def test_only_a_signed_in_customer_has_a_balance(api) -> None:
    anonymous = await api.gql(BALANCE)
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    assert anonymous["data"] is None

    partner = await api.gql(BALANCE, token=api.partner_token(["purchases:write"]))
    assert error_codes(partner) == ["FORBIDDEN"]
