"""The demo program: a customer of each demo segment sees the offers made for it."""

from __future__ import annotations

from app.accounts.models import Role, User
from app.demo import seed_demo
from tests.offers.factories import PUBLIC_OFFERS, viewer_offers
from tests.support import Api

FOR_ALL = "Double cashback week"


async def _titles(api: Api, customer: User) -> set[str]:
    return {offer["title"] for offer in await viewer_offers(api, customer)}


async def _demo_customer(index: int) -> User:
    return await User.get(email__endswith=f".{index}@demo.example", role=Role.CUSTOMER)


async def test_each_demo_segment_sees_its_offers(api: Api) -> None:
    summary = await seed_demo(force=True)
    assert summary["offers"] == 10
    birthday, lapsed, new = [await _demo_customer(i) for i in (0, 1, 24)]

    assert {"Happy birthday", FOR_ALL} <= await _titles(api, birthday)
    lapsed_sees = await _titles(api, lapsed)
    assert {"We miss you", FOR_ALL} <= lapsed_sees and "Welcome bonus" not in lapsed_sees
    new_sees = await _titles(api, new)
    assert {"Welcome bonus", FOR_ALL} <= new_sees
    assert not new_sees & {"We miss you", "Online and in store", "Thank you, top customers"}
    # Most demo customers shop in both channels: the omnichannel exclusive reaches some.
    everyone = await User.filter(role=Role.CUSTOMER)
    reached = [c for c in everyone if "Online and in store" in await _titles(api, c)]
    assert 0 < len(reached) < len(everyone)

    public = await api.gql(PUBLIC_OFFERS, {"first": 50})
    assert [e["node"]["title"] for e in public["data"]["offers"]["edges"]] == [FOR_ALL]
