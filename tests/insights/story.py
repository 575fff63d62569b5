"""A program's first two months, told day by day through the real API, with every figure
of the two periods worked out by hand below.

The clock starts at the next UTC midnight T; day d is T + d days, and each event happens
at noon of its day. Program: pending 5 days, credit valid 10 days after; the merchant gives
10 %. Offer O: a 5.00 bonus online from 100.00, on activation; offer P: 15 % in store, on
activation. The worker settles wallets after every move of the clock.

    day  0  Alice and Bob sign up (cohort of T's month); offers O and P are made
    day  1  a1  Alice, in store, 100.00 -> 10.00 (available day 6, expires day 16)
    day  8      Alice redeems 4.00 in store (captured; order r1 has no purchase)
    day 17      Alice's 6.00 left expired (expiry day 16)
    day 25  b1  Bob, online, 50.00 -> 5.00 (available day 30, expires day 40)
   ---- previous period P0 = [day 0, day 30): as of day 30 Bob's 5.00 is still pending
    day 31      b1 matures; Alice activates O
    day 32  a2  Alice, online, 200.00 -> 20.00 + the 5.00 bonus of O (expires day 47)
    day 33  a3  Alice, in store, 60.00 -> 6.00
    day 34  b2  Bob, in store, 30.00 -> 3.00 (expires day 49)
    day 35      Carol and Dave sign up (a later month); c1 Carol, online, 120.00 -> 12.00
    day 36      a3 refunded in full (6.00 taken back from pending); c1 refunded 20.00
                (2.00 taken back): c1 counts 100.00
    day 41      b1's 5.00 expired (day 40); Bob redeems 3.00 online (captured)
    day 42      Alice starts 10.00 in store (released); redeems 15.00 online for order a4
            a4  Alice, online, 50.00 for order a4: 15.00 paid with credits -> 3.50
                (available day 47, expires day 57)
    day 52      a2's 10.00 left and c1's 10.00 expired
            a5  Alice, in store, 20.00 with 5.00 of creditsUsed -> 1.50 (available day 57)
    day 55  b3  Bob, in store, 40.00 -> 4.00 (available day 60)
    day 56      Bob activates P
    day 60 - 10 minutes: a4's 3.50 expired, a5 matured; Alice starts 1.00 online (open)
   ---- period P1 = [day 30, day 60), read at day 60 - 10 minutes
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app import ledger
from app.catalog.models import Store
from app.catalog.values import Channel
from app.core import clock
from app.program.service import update_program
from tests.cashback.factories import purchase_input, record, refund
from tests.catalog.factories import gid, make_merchant, make_store
from tests.factories import make_admin, make_customer
from tests.offers.factories import activate, create_offer
from tests.redemptions.operations import RELEASE, capture, started
from tests.support import Api

REDEEM = ["redemptions:write"]


@dataclass
class Story:
    start: datetime  # T: day 0, midnight UTC
    admin: Any  # sign a token with api.token_for when reading: the clock moved
    customers: dict[str, Any]
    offers: dict[str, str]  # name -> global id

    def day(self, d: float) -> datetime:
        return self.start + timedelta(days=d)


async def _to(story_start: datetime, d: float, *, hour: float = 12) -> None:
    """Move the clock to day `d` at `hour`, and settle every due wallet."""
    target = story_start + timedelta(days=d, hours=hour)
    clock.advance(target - clock.now())
    await ledger.settle_due_wallets(limit=1000)


def _usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "USD"}


async def _buy(
    api: Api, store: Store, customer: Any, total: str, external_id: str, **extra: Any
) -> None:
    payload = await record(
        api, store, purchase_input(store, customer, total, external_id=external_id, **extra)
    )
    assert payload["userErrors"] == [], payload


async def _redeem(
    api: Api, customer: Any, store: Store, amount: str, order: str, *, key: str
) -> None:
    channel = "ONLINE" if store.channel == Channel.ONLINE else "IN_STORE"
    redemption = await started(
        api,
        api.token_for(customer),
        gid("Merchant", store.merchant_id),
        amount,
        channel=channel,
        key=key,
    )
    fields: dict[str, Any] = {"storeId": gid("Store", store.id), "orderReference": order}
    if channel == "IN_STORE":
        fields["code"] = redemption["code"]
    else:
        fields["redemptionId"] = redemption["id"]
    answer = await capture(api, api.partner_token(REDEEM, merchant_id=store.merchant_id), **fields)
    assert answer["data"]["captureRedemption"]["userErrors"] == [], answer


async def tell(api: Api) -> Story:
    now = clock.now()
    start = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    await _to(start, 0)
    await update_program(pending_days=5, credit_validity_days=10)
    admin = await make_admin()
    token = api.token_for(admin)
    alice, bob = await make_customer(), await make_customer()
    merchant = await make_merchant(name="Shop", percent="10")
    online = await make_store(merchant, channel=Channel.ONLINE)
    shop = await make_store(merchant, channel=Channel.IN_STORE)
    window = {
        "merchantId": gid("Merchant", merchant.id),
        "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(days=90)).isoformat(),
        "requiresActivation": True,
    }
    made_o = await create_offer(
        api,
        token,
        title="Bonus online",
        kind="BONUS_CREDITS",
        percent=None,
        bonus=_usd("5.00"),
        minimumSpend=_usd("100.00"),
        channels=["ONLINE"],
        **window,
    )
    made_p = await create_offer(
        api, token, title="In store boost", percent="15", channels=["IN_STORE"], **window
    )
    assert made_o["userErrors"] == [] and made_p["userErrors"] == [], (made_o, made_p)
    offers = {"O": made_o["offer"]["id"], "P": made_p["offer"]["id"]}

    await _to(start, 1)
    await _buy(api, shop, alice, "100.00", "a1")
    await _to(start, 8)
    await _redeem(api, alice, shop, "4.00", "r1", key="r1")
    await _to(start, 17)
    await _to(start, 25)
    await _buy(api, online, bob, "50.00", "b1")

    await _to(start, 31)
    assert (await activate(api, alice, offers["O"]))["userErrors"] == []
    await _to(start, 32)
    await _buy(api, online, alice, "200.00", "a2")
    await _to(start, 33)
    await _buy(api, shop, alice, "60.00", "a3")
    await _to(start, 34)
    await _buy(api, shop, bob, "30.00", "b2")
    await _to(start, 35)
    carol, dave = await make_customer(), await make_customer()
    await _buy(api, online, carol, "120.00", "c1")
    await _to(start, 36)
    assert (await refund(api, shop, "a3", "60.00", "refund-a3"))["userErrors"] == []
    assert (await refund(api, online, "c1", "20.00", "refund-c1"))["userErrors"] == []
    await _to(start, 41)
    await _redeem(api, bob, online, "3.00", "r2", key="r2")
    await _to(start, 42)
    released = await started(
        api, api.token_for(alice), gid("Merchant", merchant.id), "10.00", key="r3"
    )
    answer = await api.gql(
        RELEASE,
        {"input": {"storeId": gid("Store", shop.id), "code": released["code"]}},
        token=api.partner_token(REDEEM, merchant_id=merchant.id),
    )
    assert answer["data"]["releaseRedemption"]["userErrors"] == [], answer
    await _redeem(api, alice, online, "15.00", "a4", key="r4")
    await _buy(api, online, alice, "50.00", "a4")
    await _to(start, 52)
    await _buy(api, shop, alice, "20.00", "a5", credits_used="5.00")
    await _to(start, 55)
    await _buy(api, shop, bob, "40.00", "b3")
    await _to(start, 56)
    assert (await activate(api, bob, offers["P"]))["userErrors"] == []
    await _to(start, 60, hour=-1 / 6)
    await started(
        api,
        api.token_for(alice),
        gid("Merchant", merchant.id),
        "1.00",
        channel="ONLINE",
        key="r5",
    )
    return Story(
        start=start,
        admin=admin,
        customers={"alice": alice, "bob": bob, "carol": carol, "dave": dave},
        offers=offers,
    )
