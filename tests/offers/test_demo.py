"""The demo program: a customer of each demo segment sees the offers made for it."""

from __future__ import annotations

from app.accounts.models import Role, User
from app.core.ids import encode_id
from app.demo import seed_demo
from app.offers.models import Offer
from tests.offers.factories import PUBLIC_OFFERS, viewer_offers
from tests.support import Api

FOR_ALL = "Double cashback week"


async def _titles(api: Api, customer: User) -> set[str]:
    """The offers the customer sees, by their titles as written (the answer is in the
    customer's language)."""
    written = {encode_id("Offer", o.id): o.title for o in await Offer.all()}
    return {written[offer["id"]] for offer in await viewer_offers(api, customer)}


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
    # The week's offer is translated: a French customer reads it in French.
    french = await User.filter(locale="fr-FR").first()
    assert french is not None
    titles = {o["title"] for o in await viewer_offers(api, french)}
    assert "Semaine du cashback doublé" in titles and FOR_ALL not in titles
