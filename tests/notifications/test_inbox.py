"""A customer reads their inbox page by page (all of it or only the unread), sees how
many are unread, and marks messages read. Only their own: another customer's message,
an id of another type or no id at all is NOT_FOUND, and then nothing is marked."""

from __future__ import annotations

from typing import Any

from app.core.ids import encode_id
from app.notifications import triggers
from app.settings import Settings
from tests.factories import make_customer
from tests.ledger.statements import count_statements
from tests.notifications.inbox import MARK, inbox, messages
from tests.support import Api

NODE = "query ($id: ID!) { node(id: $id) { id ... on Notification { kind title } } }"


async def _messages(customer: Any, count: int) -> None:
    for n in range(count):
        await triggers.redemption_captured(
            customer_id=customer.id,
            redemption_id=n + 1,
            amount_minor=100 * (n + 1),
            currency="USD",
            merchant_name="Shop",
        )


async def mark(api: Api, token: str, ids: list[str]) -> dict[str, Any]:
    answer = await api.gql(MARK, {"ids": ids}, token=token)
    assert "errors" not in answer, answer
    return answer["data"]["markNotificationsRead"]


async def test_the_inbox_pages_newest_first_and_marks_read(api: Api) -> None:
    customer = await make_customer()
    await _messages(customer, 5)
    token = api.token_for(customer)

    first = await inbox(api, token, first=2)
    page = first["notifications"]
    assert first["unreadNotificationCount"] == 5
    assert [e["node"]["title"] for e in page["edges"]] == [
        "You paid 5.00 USD with credits",
        "You paid 4.00 USD with credits",
    ]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await inbox(api, token, first=10, after=page["pageInfo"]["endCursor"])
    assert [e["node"]["title"][9:13] for e in rest["notifications"]["edges"]] == [
        "3.00",
        "2.00",
        "1.00",
    ]
    assert rest["notifications"]["pageInfo"]["hasNextPage"] is False

    read = [e["node"]["id"] for e in page["edges"]]
    payload = await mark(api, token, read)

    assert payload["userErrors"] == []
    assert {n["id"] for n in payload["notifications"]} == set(read)
    assert all(n["readAt"] for n in payload["notifications"])
    unread = await inbox(api, token, first=2, unread_only=True)
    assert unread["unreadNotificationCount"] == 3
    edges = unread["notifications"]["edges"]
    assert [e["node"]["title"][9:13] for e in edges] == ["3.00", "2.00"]
    end = unread["notifications"]["pageInfo"]["endCursor"]
    last = await inbox(api, token, first=2, unread_only=True, after=end)
    assert [e["node"]["title"][9:13] for e in last["notifications"]["edges"]] == ["1.00"]


async def test_marking_again_keeps_the_first_time(api: Api) -> None:
    customer = await make_customer()
    await _messages(customer, 1)
    token = api.token_for(customer)
    [message] = await messages(api, token)

    first = await mark(api, token, [message["id"]])
    again = await mark(api, token, [message["id"], message["id"]])

    assert again["userErrors"] == []
    assert again["notifications"][0]["readAt"] == first["notifications"][0]["readAt"]


async def test_another_customers_message_or_another_id_is_refused_and_nothing_is_marked(
    api: Api,
) -> None:
    owner, other = await make_customer(), await make_customer()
    await _messages(owner, 1)
    await _messages(other, 1)
    mine = (await messages(api, api.token_for(owner)))[0]["id"]
    theirs = (await messages(api, api.token_for(other)))[0]["id"]
    token = api.token_for(owner)

    nobody = encode_id("Notification", 10**9)
    payload = await mark(
        api, token, [mine, theirs, encode_id("Customer", owner.id), "not-an-id", nobody]
    )

    assert payload["notifications"] == []
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", ["ids", "2"]),
        ("NOT_FOUND", ["ids", "3"]),
        ("NOT_FOUND", ["ids", "1"]),
        ("NOT_FOUND", ["ids", "4"]),
    ]
    # Another customer's message reads exactly like one that does not exist.
    messages_of = {e["field"][1]: e["message"] for e in payload["userErrors"]}
    assert messages_of["1"] == messages_of["4"]
    assert (await inbox(api, token))["unreadNotificationCount"] == 1
    assert (await inbox(api, api.token_for(other)))["unreadNotificationCount"] == 1


async def test_too_many_ids_at_once_are_refused(api: Api) -> None:
    customer = await make_customer()
    payload = await mark(api, api.token_for(customer), ["x"] * 101)
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID_INPUT", ["ids"])]


async def test_a_message_is_seen_by_id_only_by_its_owner(api: Api) -> None:
    owner, other = await make_customer(), await make_customer()
    await _messages(owner, 1)
    [message] = await messages(api, api.token_for(owner))

    mine = await api.gql(NODE, {"id": message["id"]}, token=api.token_for(owner))
    theirs = await api.gql(NODE, {"id": message["id"]}, token=api.token_for(other))
    anonymous = await api.gql(NODE, {"id": message["id"]})

    assert mine["data"]["node"]["kind"] == "REDEMPTION_CAPTURED"
    assert theirs["data"]["node"] is None
    assert anonymous["data"]["node"] is None


async def test_a_forged_cursor_is_a_clean_refusal(api: Api) -> None:
    customer = await make_customer()
    answer = await api.gql(
        '{ viewer { notifications(first: 5, after: "eyJ4Ijp7fX0") { edges { cursor } } } }',
        token=api.token_for(customer),
    )
    assert answer["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_the_inbox_reads_the_same_statements_for_any_page_size(
    api: Api, db: Settings
) -> None:
    customer = await make_customer()
    await _messages(customer, 30)
    token = api.token_for(customer)
    counts = []
    for first in (1, 25):
        with count_statements() as sent:
            await inbox(api, token, first=first)
        counts.append(len(sent))
    assert counts[0] == counts[1]
