"""A customer sees and acts on only their own objects, through every path: the viewer,
an id argument and `node(id:)`."""

from __future__ import annotations

from app.accounts.models import Session
from app.core.ids import encode_id
from tests.accounts.factories import CREATE_PARTNER_CLIENT, refresh, sign_in, sign_up
from tests.factories import make_admin
from tests.support import Api, error_codes

DEVICES = "query Devices { viewer { devices { edges { node { id current userAgent } } } } }"
NODE = "query N($id: ID!) { node(id: $id) { __typename id ... on Device { current } } }"
SIGN_OUT_DEVICE = """
mutation SignOutDevice($id: ID!) {
  signOutDevice(id: $id) { userErrors { code field message } }
}
"""


async def devices_of(api: Api, token: str) -> list[dict]:
    answer = await api.gql(DEVICES, token=token)
    return [edge["node"] for edge in answer["data"]["viewer"]["devices"]["edges"]]


async def test_the_viewer_lists_only_the_customers_own_devices(api: Api) -> None:
    phone = await sign_up(api, email="xi@example.com")
    laptop = (await sign_in(api, "xi@example.com"))["data"]["signIn"]["session"]
    await sign_up(api, email="yara@example.com")

    devices = await devices_of(api, phone["accessToken"])
    assert len(devices) == 2
    assert [d["current"] for d in devices].count(True) == 1
    own_ids = {encode_id("Device", pk) for pk in await Session.all().values_list("id", flat=True)}
    assert {d["id"] for d in devices} < own_ids
    assert len(await devices_of(api, laptop["accessToken"])) == 2


async def test_node_shows_a_device_to_its_owner_only(api: Api) -> None:
    owner = await sign_up(api, email="zoe@example.com")
    other = await sign_up(api, email="abe@example.com")
    device_id = (await devices_of(api, owner["accessToken"]))[0]["id"]

    mine = await api.gql(NODE, {"id": device_id}, token=owner["accessToken"])
    assert mine["data"]["node"] == {"__typename": "Device", "id": device_id, "current": True}

    theirs = await api.gql(NODE, {"id": device_id}, token=other["accessToken"])
    assert theirs["data"]["node"] is None
    assert "errors" not in theirs
    anonymous = await api.gql(NODE, {"id": device_id})
    assert anonymous["data"]["node"] is None
    admin = await make_admin()
    assert (await api.gql(NODE, {"id": device_id}, token=api.token_for(admin)))["data"][
        "node"
    ] is None
    partner = api.partner_token(["purchases:read"])
    assert (await api.gql(NODE, {"id": device_id}, token=partner))["data"]["node"] is None


async def test_a_customer_cannot_sign_out_another_customers_device_by_id(api: Api) -> None:
    owner = await sign_up(api, email="bea@example.com")
    other = await sign_up(api, email="cal@example.com")
    device_id = (await devices_of(api, owner["accessToken"]))[0]["id"]

    answer = await api.gql(SIGN_OUT_DEVICE, {"id": device_id}, token=other["accessToken"])
    errors = answer["data"]["signOutDevice"]["userErrors"]
    assert [(e["code"], e["field"]) for e in errors] == [("NOT_FOUND", ["id"])]
    # Nothing happened to the owner's session.
    assert len(await devices_of(api, owner["accessToken"])) == 1
    assert (await refresh(api, owner["refreshToken"]))["session"] is not None


async def test_a_customer_signs_out_their_own_other_device(api: Api) -> None:
    phone = await sign_up(api, email="dee@example.com")
    lost = (await sign_in(api, "dee@example.com"))["data"]["signIn"]["session"]
    lost_id = next(
        d["id"] for d in await devices_of(api, lost["accessToken"]) if d["current"] is True
    )

    answer = await api.gql(SIGN_OUT_DEVICE, {"id": lost_id}, token=phone["accessToken"])
    assert answer["data"]["signOutDevice"]["userErrors"] == []
    signed_out = await api.gql(
        "mutation C { updateConsents(input: {personalization: true, marketing: true}) "
        "{ userErrors { code } } }",
        token=lost["accessToken"],
    )
    assert error_codes(signed_out) == ["UNAUTHENTICATED"]
    assert (await refresh(api, lost["refreshToken"]))["session"] is None
    assert len(await devices_of(api, phone["accessToken"])) == 1
    again = await api.gql(SIGN_OUT_DEVICE, {"id": lost_id}, token=phone["accessToken"])
    assert [e["code"] for e in again["data"]["signOutDevice"]["userErrors"]] == ["NOT_FOUND"]


async def test_an_id_of_another_type_is_not_found(api: Api) -> None:
    session = await sign_up(api)
    customer_id = encode_id("Customer", 1)
    answer = await api.gql(SIGN_OUT_DEVICE, {"id": customer_id}, token=session["accessToken"])
    assert [e["code"] for e in answer["data"]["signOutDevice"]["userErrors"]] == ["NOT_FOUND"]
    assert (await api.gql(NODE, {"id": "not-an-id"}, token=session["accessToken"]))["data"][
        "node"
    ] is None


async def test_partner_clients_are_seen_by_admins_only(api: Api) -> None:
    admin = await make_admin()
    created = await api.gql(
        CREATE_PARTNER_CLIENT,
        {"input": {"name": "Online shop", "scopes": ["purchases:write"]}},
        token=api.token_for(admin),
    )
    client_id = created["data"]["createPartnerClient"]["client"]["id"]
    query = "query N($id: ID!) { node(id: $id) { id ... on PartnerClient { name clientId } } }"

    seen = await api.gql(query, {"id": client_id}, token=api.token_for(admin))
    assert seen["data"]["node"]["name"] == "Online shop"
    customer = await sign_up(api)
    hidden = await api.gql(query, {"id": client_id}, token=customer["accessToken"])
    assert hidden["data"]["node"] is None
    partner = api.partner_token(["purchases:write"])
    assert (await api.gql(query, {"id": client_id}, token=partner))["data"]["node"] is None
