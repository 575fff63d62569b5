"""programMetrics over the story of tests/insights/story.py: every figure of both periods
equals what the story works out by hand."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise

from app import ledger
from tests.insights.factories import CONTRACT_QUERY, metrics, usd
from tests.insights.story import Story, tell
from tests.support import Api


def _month(moment: datetime) -> str:
    return date(moment.year, moment.month, 1).isoformat()


async def test_the_contract_figures_of_the_current_period(api: Api) -> None:
    story = await tell(api)
    found = await metrics(
        api, api.token_for(story.admin), story.day(30), story.day(60), query=CONTRACT_QUERY
    )
    assert found == {
        # Alice, Bob and Carol bought; Dave never did.
        "activeCustomers": 3,
        # Alice (a2, a4, a5) and Bob (b2, b3) bought again; Carol once. a3 was refunded.
        "repurchaseRate": 2 / 3,
        # Alice and Bob were active in P0; both are again.
        "retentionRate": 1.0,
        # Alice online and in store; Bob in store and redeemed online; Carol online only.
        "omnichannelRate": 2 / 3,
        # 200 + 50 + 20 + 30 + 100 + 40 = 440.00 over 6 purchases.
        "averageTicket": usd("73.33"),
        # a4 (15.00 redeemed for it) and a5 (creditsUsed): (50 + 20) / 2.
        "averageTicketWithRedemption": usd("35.00"),
        # a2, b2, c1, b3: (200 + 30 + 100 + 40) / 4.
        "averageTicketWithoutRedemption": usd("92.50"),
        # 590.00 spent before day 60 (a1 100, b1 50 and the 440.00) over 4 customers.
        "lifetimeValue": usd("147.50"),
        # a2 25.00, a3 6.00, b2 3.00, c1 12.00, a4 3.50, a5 1.50, b3 4.00.
        "cashbackIssued": usd("55.00"),
        # Bob's 3.00 and Alice's 15.00; the 10.00 released and the open 2.00 are not.
        "cashbackRedeemed": usd("18.00"),
        # b1 5.00 on day 41; a2's 10.00 and c1's 10.00 on day 52; a4's 3.50 on day 60.
        "cashbackExpired": usd("28.50"),
        # b3 4.00 pending, Alice's 0.50 available and 1.00 reserved.
        "outstandingLiability": usd("5.50"),
    }


async def test_the_additions_of_the_current_period(api: Api) -> None:
    story = await tell(api)
    found = await metrics(
        api, api.token_for(story.admin), story.day(30), story.day(60), interval="DAY"
    )
    assert found["purchaseCount"] == 6
    assert found["sales"] == usd("440.00")
    assert found["finance"] == {
        "pending": usd("4.00"),
        "available": usd("0.50"),
        "reserved": usd("1.00"),
        "outstanding": usd("5.50"),
        "issued": usd("55.00"),
        "redeemed": usd("18.00"),
        "expired": usd("28.50"),
        # a3's 6.00 and c1's 2.00, both from pending.
        "reversed": usd("8.00"),
        "clawedBack": usd("0.00"),
        "forfeited": usd("0.00"),
    }
    assert found["byChannel"] == [
        {
            "channel": "ONLINE",
            "activeCustomers": 3,  # Alice and Carol bought, Bob redeemed
            "purchaseCount": 3,  # a2, a4, c1
            "sales": usd("350.00"),
            "averageTicket": usd("116.67"),
            "redemptionCount": 2,
            "redeemed": usd("18.00"),
        },
        {
            "channel": "IN_STORE",
            "activeCustomers": 2,
            "purchaseCount": 3,  # a5, b2, b3
            "sales": usd("90.00"),
            "averageTicket": usd("30.00"),
            "redemptionCount": 0,
            "redeemed": usd("0.00"),
        },
    ]
    bronze = {"activeCustomers": 3, "purchaseCount": 6, "sales": usd("440.00")}
    empty = {"activeCustomers": 0, "purchaseCount": 0, "sales": usd("0.00")}
    assert found["bySegment"] == [
        {
            "kind": "TIER",
            "key": "BRONZE",
            "name": "Bronze",
            **bronze,
            "averageTicket": usd("73.33"),
        },
        {"kind": "TIER", "key": "SILVER", "name": "Silver", **empty, "averageTicket": None},
        {"kind": "TIER", "key": "GOLD", "name": "Gold", **empty, "averageTicket": None},
        {
            "kind": "LIFECYCLE",
            "key": "NEW",
            "name": "New customers",
            "activeCustomers": 1,  # Carol
            "purchaseCount": 1,
            "sales": usd("100.00"),
            "averageTicket": usd("100.00"),
        },
        {
            "kind": "LIFECYCLE",
            "key": "RETURNING",
            "name": "Returning customers",
            "activeCustomers": 2,
            "purchaseCount": 5,
            "sales": usd("340.00"),
            "averageTicket": usd("68.00"),
        },
    ]
    assert found["cohorts"] == [
        {
            "signUpMonth": _month(story.day(0.5)),
            "customers": 2,
            "activeCustomers": 2,
            "retentionRate": 1.0,
        },
        {
            "signUpMonth": _month(story.day(35.5)),
            "customers": 2,
            "activeCustomers": 1,
            "retentionRate": 0.5,
        },
    ]
    assert found["topOffers"] == [
        {
            "offerId": story.offers["O"],
            "title": "Bonus online",
            "activations": 1,
            "purchaseCount": 1,
            "cashbackIssued": usd("5.00"),
        },
        {
            "offerId": story.offers["P"],
            "title": "In store boost",
            "activations": 1,
            "purchaseCount": 0,
            "cashbackIssued": usd("0.00"),
        },
    ]


async def test_a_daily_series_of_the_current_period(api: Api) -> None:
    story = await tell(api)
    found = await metrics(
        api, api.token_for(story.admin), story.day(30), story.day(60), interval="DAY"
    )
    points = found["series"]
    assert [p["from"] for p in points] == [story.day(d).isoformat() for d in range(30, 60)]
    assert [p["to"] for p in points] == [story.day(d).isoformat() for d in range(31, 61)]
    by_day = {30 + i: p for i, p in enumerate(points)}
    assert {d: p["purchaseCount"] for d, p in by_day.items() if p["purchaseCount"]} == {
        32: 1,
        34: 1,
        35: 1,
        42: 1,
        52: 1,
        55: 1,
    }
    assert by_day[32]["sales"] == usd("200.00") and by_day[35]["sales"] == usd("100.00")
    # Active: day 41 Bob (redeemed), day 42 Alice (a4 and its redemption).
    assert [by_day[d]["activeCustomers"] for d in (40, 41, 42, 43)] == [0, 1, 1, 0]
    assert [by_day[d]["retentionRate"] for d in (41, 42, 43)] == [None, 0.0, 0.0]
    assert by_day[42]["repurchaseRate"] == 0.0 and by_day[40]["repurchaseRate"] is None
    # The liability at each day's end: 5.00 (b1) until a2 adds 25.00 on day 32, ...
    liability = {d: p["outstandingLiability"]["amount"] for d, p in by_day.items()}
    assert [liability[d] for d in (30, 31, 32, 33, 34, 35, 36)] == [
        "5.00",
        "5.00",
        "30.00",
        "36.00",
        "39.00",
        "51.00",
        "43.00",
    ]
    # day 41: b1's 5.00 expired, Bob spent 3.00; day 42: Alice spent 15.00, a4 3.50;
    # day 52: 20.00 expired, a5 1.50; day 55: b3 4.00; day 59: a4's 3.50 expired.
    assert [liability[d] for d in (41, 42, 43, 52, 55, 59)] == [
        "35.00",
        "23.50",
        "23.50",
        "5.00",
        "9.00",
        "5.50",
    ]


async def test_a_monthly_and_a_weekly_series_add_up_to_the_period(api: Api) -> None:
    story = await tell(api)
    for interval in ("MONTH", "WEEK"):
        found = await metrics(
            api, api.token_for(story.admin), story.day(30), story.day(60), interval=interval
        )
        points = found["series"]
        assert points[0]["from"] == story.day(30).isoformat()
        assert points[-1]["to"] == story.day(60).isoformat()
        assert all(a["to"] == b["from"] for a, b in pairwise(points))
        assert sum(p["purchaseCount"] for p in points) == 6
        assert sum(float(p["sales"]["amount"]) for p in points) == 440.0
        assert points[-1]["outstandingLiability"] == usd("5.50")


async def test_the_previous_period_is_read_as_of_its_end(api: Api) -> None:
    story = await tell(api)
    found = await metrics(api, api.token_for(story.admin), story.day(0), story.day(30))
    assert {k: found[k] for k in CONTRACT_FIELDS} == {
        "activeCustomers": 2,  # Alice bought and redeemed in store; Bob bought online
        "repurchaseRate": 0.0,
        "retentionRate": None,  # nobody was active in the 30 days before
        "omnichannelRate": 0.0,
        "averageTicket": usd("75.00"),
        "averageTicketWithRedemption": None,
        "averageTicketWithoutRedemption": usd("75.00"),
        "lifetimeValue": usd("75.00"),  # 150.00 over Alice and Bob
        "cashbackIssued": usd("15.00"),
        "cashbackRedeemed": usd("4.00"),
        "cashbackExpired": usd("6.00"),
        "outstandingLiability": usd("5.00"),
    }
    # On day 30 Bob's 5.00 was still pending: it matured when day 31 was settled.
    assert found["finance"]["pending"] == usd("5.00")
    assert found["finance"]["available"] == usd("0.00")
    assert found["cohorts"] == [
        {
            "signUpMonth": _month(story.day(0.5)),
            "customers": 2,
            "activeCustomers": 2,
            "retentionRate": 1.0,
        },
    ]
    assert [s["key"] for s in found["bySegment"] if s["activeCustomers"]] == ["BRONZE", "NEW"]


CONTRACT_FIELDS = [
    "activeCustomers",
    "repurchaseRate",
    "retentionRate",
    "omnichannelRate",
    "averageTicket",
    "averageTicketWithRedemption",
    "averageTicketWithoutRedemption",
    "lifetimeValue",
    "cashbackIssued",
    "cashbackRedeemed",
    "cashbackExpired",
    "outstandingLiability",
]


async def test_the_finance_view_agrees_with_the_ledger_to_the_cent(api: Api) -> None:
    story = await tell(api)
    start, end = story.day(30), story.day(60)
    books = (await metrics(api, api.token_for(story.admin), start, end))["finance"]
    # Balances: every customer's wallet, as the ledger reads it now.
    balances = [
        await ledger.get_balance(customer_id=c.id, currency="USD") for c in story.customers.values()
    ]
    assert books["pending"] == usd(_amount(sum(b.pending for b in balances)))
    assert books["available"] == usd(_amount(sum(b.available for b in balances)))
    assert books["reserved"] == usd(_amount(sum(b.reserved for b in balances)))
    # Movements: the ledger's own program totals for the period.
    totals = await ledger.program_totals(currency="USD", start=start, end=end)
    assert books["issued"] == usd(_amount(totals.issued))
    assert books["redeemed"] == usd(_amount(totals.redeemed))
    assert books["expired"] == usd(_amount(totals.expired))
    assert books["clawedBack"] == usd(_amount(totals.clawed_back))
    assert books["reversed"] == usd(_amount(totals.taken_back - totals.clawed_back))
    # And the books balance: what was owed at the start, plus what came in, less what
    # went out, is what is owed at the end.
    before = (await metrics(api, api.token_for(story.admin), story.day(0), start))["finance"]
    owed = (
        _minor(before["outstanding"])
        + _minor(books["issued"])
        - sum(_minor(books[k]) for k in ("redeemed", "expired", "reversed", "forfeited"))
    )
    assert owed == _minor(books["outstanding"])


def _amount(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def _minor(money: dict[str, str]) -> int:
    whole, cents = money["amount"].split(".")
    return int(whole) * 100 + int(cents)


async def test_a_period_after_the_story_is_empty_but_owes_what_is_outstanding(
    api: Api,
) -> None:
    story = await tell(api)
    found = await metrics(
        api, api.token_for(story.admin), story.day(60) + timedelta(days=30), story.day(120)
    )
    assert found["activeCustomers"] == 0
    assert found["repurchaseRate"] is None and found["averageTicket"] is None
    assert found["retentionRate"] is None  # nobody active in [day 60, day 90)
    assert found["outstandingLiability"] == usd("5.50")
    assert found["lifetimeValue"] == usd("147.50")


__all__ = ["Story"]
