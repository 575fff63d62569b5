"""Who sees what, as a table: every object reachable by id, every root lookup by id and
every connection of private records, asked for by its owner (who must get it, so the test
can fail) and by a second customer, a partner of another merchant and an anonymous caller
(who get nothing, the way the contract says: `node` answers null, an access failure is a
top-level UNAUTHENTICATED or FORBIDDEN, a mutation on another's object a NOT_FOUND-like
userError).

Public objects (merchants, stores, products, cashback rules, offers open to everyone) are
in the table too: everyone sees them, and the table says so. Every type implementing Node
in the schema must have a row, and every root field taking an ID must be listed, so a new
one cannot be forgotten.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import GraphQLSchema, get_named_type

from app.accounts.models import User
from app.core.ids import encode_id
from app.graphql.schema import build_schema
from app.settings import Settings
from tests.accounts.factories import CREATE_PARTNER_CLIENT, sign_up
from tests.cashback.factories import item, make_rule, purchase_input, record
from tests.catalog.factories import make_product, make_store
from tests.factories import make_admin, make_customer
from tests.offers.factories import make_offer
from tests.redemptions.factories import gid, give_credits
from tests.redemptions.operations import started
from tests.support import Api, error_codes

ALL_SCOPES = ["purchases:write", "purchases:read", "redemptions:write", "offers:read"]
NODE = "query Node($id: ID!) { node(id: $id) { __typename id } }"


@dataclass
class World:
    """Customer A and merchant M own things; customer B and merchant N are strangers."""

    api: Api
    tokens: dict[str, str | None]
    customer_a: User
    store_m: Any
    store_n: Any
    purchase: dict[str, Any]
    redemption: dict[str, Any]

    def token(self, caller: str) -> str | None:
        return self.tokens[caller]


@pytest.fixture
async def world(api: Api) -> World:
    session = await sign_up(api, email="ana@example.com")  # a real session: a Device
    customer_a = await User.get(email="ana@example.com")
    customer_b = await make_customer()
    store_m, store_n = await make_store(), await make_store()
    merchant_m = await store_m.merchant
    for sku in ("A1", "A2"):
        await make_product(merchant_m, sku=sku)
    purchase = (
        await record(
            api,
            store_m,
            purchase_input(
                store_m,
                customer_a,
                "20.00",
                external_id="ana-order-1",
                items=[item("A1", "10.00"), item("A2", "10.00")],
            ),
        )
    )["purchase"]
    await give_credits(customer_a, 5_000)
    redemption = await started(
        api, session["accessToken"], gid("Merchant", merchant_m), "5.00", key="ana-1"
    )
    tokens: dict[str, str | None] = {
        "customer A": session["accessToken"],
        "customer B": api.token_for(customer_b),
        # Client ids no client made in a test takes: a client made later with the same id
        # would have its secret rotated after these tokens were issued, ending them.
        "partner of M": api.partner_token(
            ALL_SCOPES, merchant_id=store_m.merchant_id, client_id=10_001
        ),
        "partner of N": api.partner_token(
            ALL_SCOPES, merchant_id=store_n.merchant_id, client_id=10_002
        ),
        "admin": api.token_for(await make_admin()),
        "anonymous": None,
    }
    return World(api, tokens, customer_a, store_m, store_n, purchase, redemption)


STRANGERS = ("customer B", "partner of N", "anonymous")
CALLERS = ("customer A", "partner of M", "admin", *STRANGERS)


# --- objects by id ----------------------------------------------------------------------


async def a_device(w: World) -> str:
    answer = await w.api.gql(
        "{ viewer { devices { edges { node { id } } } } }", token=w.token("customer A")
    )
    [edge] = answer["data"]["viewer"]["devices"]["edges"]
    return str(edge["node"]["id"])


async def a_partner_client(w: World) -> str:
    answer = await w.api.gql(
        CREATE_PARTNER_CLIENT,
        {"input": {"name": "M's till", "scopes": ["purchases:write"]}},
        token=w.token("admin"),
    )
    return str(answer["data"]["createPartnerClient"]["client"]["id"])


async def a_targeted_offer(w: World) -> str:
    # Reserved to a segment that includes customer A (every tier is BRONZE at first).
    return await make_offer(w.api, w.token("admin"), audience={"tiers": ["BRONZE"]})


async def a_members_only_offer(w: World) -> str:
    return await make_offer(w.api, w.token("admin"), membersOnly=True)


async def a_public_offer(w: World) -> str:
    return await make_offer(w.api, w.token("admin"))


async def a_product(w: World) -> str:
    return gid("Product", await make_product(await w.store_m.merchant, sku="P1"))


async def a_rule(w: World) -> str:
    return gid("CashbackRule", await make_rule(percent="3"))


async def the_purchase(w: World) -> str:
    return str(w.purchase["id"])


async def the_redemption(w: World) -> str:
    return str(w.redemption["id"])


async def a_notification(w: World) -> str:
    # Customer A's purchase earned cashback: their inbox says so.
    answer = await w.api.gql(
        "{ viewer { notifications(first: 1) { edges { node { id } } } } }",
        token=w.token("customer A"),
    )
    [edge] = answer["data"]["viewer"]["notifications"]["edges"]
    return str(edge["node"]["id"])


async def the_merchant(w: World) -> str:
    return gid("Merchant", await w.store_m.merchant)


async def the_store(w: World) -> str:
    return gid("Store", w.store_m)


@dataclass(frozen=True)
class Row:
    type_name: str
    make: Callable[[World], Awaitable[str]]
    # Who may see it by id; everyone else gets null.
    seen_by: tuple[str, ...]


ROWS = [
    Row("Device", a_device, ("customer A",)),
    Row("Purchase", the_purchase, ("customer A", "partner of M", "admin")),
    Row("Redemption", the_redemption, ("customer A",)),
    Row("Notification", a_notification, ("customer A",)),
    Row("PartnerClient", a_partner_client, ("admin",)),
    Row("Offer", a_targeted_offer, ("admin",)),
    Row("Offer", a_members_only_offer, ("admin",)),
    Row("Offer", a_public_offer, CALLERS),
    Row("Merchant", the_merchant, CALLERS),
    Row("Store", the_store, CALLERS),
    Row("Product", a_product, CALLERS),
    Row("CashbackRule", a_rule, CALLERS),
]


def row_id(row: Row) -> str:
    return f"{row.type_name}:{row.make.__name__}"


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(Settings(app_env="development"))._schema  # type: ignore[attr-defined]


def test_every_node_type_has_a_row(schema: GraphQLSchema) -> None:
    node = schema.get_type("Node")
    implementations = {t.name for t in schema.get_implementations(node).objects}  # type: ignore[arg-type]
    assert implementations == {row.type_name for row in ROWS}, (
        "a type implementing Node needs a row in ROWS saying who may see it"
    )


@pytest.mark.slow
@pytest.mark.parametrize("row", ROWS, ids=row_id)
@pytest.mark.parametrize("caller", CALLERS)
async def test_node_by_id_shows_an_object_to_those_allowed_and_null_to_anyone_else(
    world: World, row: Row, caller: str
) -> None:
    object_id = await row.make(world)
    answer = await world.api.gql(NODE, {"id": object_id}, token=world.token(caller))
    assert "errors" not in answer, answer
    if caller in row.seen_by:
        assert answer["data"]["node"] == {"__typename": row.type_name, "id": object_id}
    else:
        assert answer["data"]["node"] is None


# --- root lookups by id -----------------------------------------------------------------

# Every Query and Viewer field taking an ID (in an argument or an input), and the test
# that proves it shows nothing private to a stranger.
LOOKUPS = {
    "Query.node": "test_node_by_id_shows_an_object_to_those_allowed_and_null_to_anyone_else",
    "Query.purchase": "test_a_purchase_by_its_reference_is_for_its_merchants_partners",
    "Query.cashbackPreview": "test_a_preview_names_a_customer_only_for_the_merchants_partners",
    "Query.product": "public: the Product row of the node matrix",
    "Query.offers": "test_offers_for_some_customers_only_are_in_no_public_list",
    "Query.programOffers": "test_the_private_lists_are_their_owners_only",
    "Viewer.offers": "test_offers_for_some_customers_only_are_in_no_public_list",
    "Viewer.redemptionQuote": "test_a_quote_shows_the_callers_own_balance",
    "Viewer.suggestions": "test_suggestions_for_another_customers_purchase_reveal_nothing",
}


def takes_an_id(arg_type: Any, seen: frozenset[str] = frozenset()) -> bool:
    named = get_named_type(arg_type)
    fields = getattr(named, "fields", None)
    if named.name == "ID":
        return True
    if fields is None or named.name in seen or not hasattr(named, "out_type"):
        return False
    return any(takes_an_id(f.type, seen | {named.name}) for f in fields.values())


def fields_taking_an_id(schema: GraphQLSchema, type_name: str) -> set[str]:
    fields = schema.get_type(type_name).fields  # type: ignore[union-attr]
    return {
        f"{type_name}.{name}"
        for name, field in fields.items()
        if any(takes_an_id(a.type) for a in field.args.values())
    }


def test_every_lookup_by_id_is_in_the_table(schema: GraphQLSchema) -> None:
    found = fields_taking_an_id(schema, "Query") | fields_taking_an_id(schema, "Viewer")
    assert found == set(LOOKUPS), "a field taking an ID needs a row in LOOKUPS"


PURCHASE = """query P($storeId: ID!, $externalId: String!) {
  purchase(storeId: $storeId, externalId: $externalId) { id total { amount } }
}"""


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        ("partner of M", "seen"),
        ("partner of N", "STORE_NOT_ALLOWED"),
        ("customer A", "FORBIDDEN"),
        ("customer B", "FORBIDDEN"),
        ("anonymous", "UNAUTHENTICATED"),
    ],
)
async def test_a_purchase_by_its_reference_is_for_its_merchants_partners(
    world: World, caller: str, expected: str
) -> None:
    variables = {"storeId": gid("Store", world.store_m), "externalId": "ana-order-1"}
    answer = await world.api.gql(PURCHASE, variables, token=world.token(caller))
    if expected == "seen":
        assert answer["data"]["purchase"]["id"] == world.purchase["id"]
    else:
        assert error_codes(answer) == [expected]
        assert answer["data"] in (None, {"purchase": None})


PREVIEW = """query Preview($storeId: ID!, $customer: CustomerRefInput) {
  cashbackPreview(storeId: $storeId, total: {amount: "2000.00", currencyCode: "USD"},
                  customer: $customer) { cashback { amount } tier { code } }
}"""


async def test_a_preview_names_a_customer_only_for_the_merchants_partners(
    world: World,
) -> None:
    # Customer A has spent enough for SILVER: a preview naming A shows A's multiplier.
    await record(
        world.api,
        world.store_m,
        purchase_input(world.store_m, world.customer_a, "1500.00", external_id="big"),
    )
    naming_a = {
        "storeId": gid("Store", world.store_m),
        "customer": {"memberCode": world.customer_a.member_code},
    }

    async def tier_seen(caller: str) -> dict[str, Any]:
        return await world.api.gql(PREVIEW, naming_a, token=world.token(caller))

    assert (await tier_seen("partner of M"))["data"]["cashbackPreview"]["tier"]["code"] == (
        "SILVER"
    )
    # Another customer previews for themselves whoever they name.
    as_b = await tier_seen("customer B")
    assert as_b["data"]["cashbackPreview"]["tier"]["code"] == "BRONZE"
    # A partner of another merchant learns nothing about A at M's store.
    as_n = await tier_seen("partner of N")
    assert as_n["data"] is None or "SILVER" not in str(as_n["data"])
    assert error_codes(as_n)
    assert error_codes(await tier_seen("anonymous")) == ["UNAUTHENTICATED"]


async def a_segment_offer(w: World) -> str:
    """An offer for customers whose favourite category is A's (B has bought nothing)."""
    return await make_offer(
        w.api,
        w.token("admin"),
        merchantId=gid("Merchant", await w.store_m.merchant),
        audience={"favoriteCategory": "Groceries"},
    )


OFFERS = """query O($merchantId: ID) {
  offers(first: 50, merchantId: $merchantId) { edges { node { id } } }
}"""
VIEWER_OFFERS = """query V($merchantId: ID) {
  viewer { offers(first: 50, merchantId: $merchantId) { edges { node { id } } } }
}"""


async def test_offers_for_some_customers_only_are_in_no_public_list(world: World) -> None:
    targeted = await a_segment_offer(world)
    members_only = await a_members_only_offer(world)
    public = await a_public_offer(world)
    merchant = {"merchantId": gid("Merchant", await world.store_m.merchant)}

    def ids(answer: dict[str, Any], *path: str) -> set[str]:
        node = answer["data"]
        for key in path:
            node = node[key]
        return {edge["node"]["id"] for edge in node["edges"]}

    for caller in CALLERS:
        for variables in ({}, merchant):
            feed = await world.api.gql(OFFERS, variables, token=world.token(caller))
            assert targeted not in ids(feed, "offers"), caller
            assert members_only not in ids(feed, "offers"), caller
            assert public in ids(feed, "offers") or variables, caller
    mine = ids(
        await world.api.gql(VIEWER_OFFERS, {}, token=world.token("customer A")), "viewer", "offers"
    )
    theirs = ids(
        await world.api.gql(VIEWER_OFFERS, merchant, token=world.token("customer B")),
        "viewer",
        "offers",
    )
    assert {targeted, members_only} <= mine
    assert targeted not in theirs
    partner = await world.api.gql(VIEWER_OFFERS, {}, token=world.token("partner of N"))
    assert error_codes(partner) == ["FORBIDDEN"]


QUOTE = """query Q($merchantId: ID!) { viewer { redemptionQuote(merchantId: $merchantId,
  orderTotal: {amount: "1000.00", currencyCode: "USD"}) { available { amount } } } }"""


async def test_a_quote_shows_the_callers_own_balance(world: World) -> None:
    merchant = {"merchantId": gid("Merchant", await world.store_m.merchant)}

    async def available(caller: str) -> Any:
        answer = await world.api.gql(QUOTE, merchant, token=world.token(caller))
        if answer["data"] is None:
            return error_codes(answer)
        return answer["data"]["viewer"]["redemptionQuote"]["available"]["amount"]

    assert await available("customer A") == "45.00"
    assert await available("customer B") == "0.00"
    assert await available("partner of N") == ["FORBIDDEN"]
    assert await available("anonymous") == ["UNAUTHENTICATED"]


SUGGESTIONS = """query S($purchaseId: ID) {
  viewer { suggestions(first: 10, purchaseId: $purchaseId) { product { id } reason } }
}"""


async def test_suggestions_for_another_customers_purchase_reveal_nothing(world: World) -> None:
    # Another customer bought A1 with a third product: there is something to suggest.
    merchant_m = await world.store_m.merchant
    await make_product(merchant_m, sku="A3")
    other = await make_customer()
    await record(
        world.api,
        world.store_m,
        purchase_input(
            world.store_m, other, "20.00", items=[item("A1", "10.00"), item("A3", "10.00")]
        ),
    )
    with_a_purchase = {"purchaseId": world.purchase["id"]}

    owner = await world.api.gql(SUGGESTIONS, with_a_purchase, token=world.token("customer A"))
    as_b = await world.api.gql(SUGGESTIONS, with_a_purchase, token=world.token("customer B"))
    b_alone = await world.api.gql(SUGGESTIONS, {}, token=world.token("customer B"))

    assert "errors" not in owner, owner
    assert owner["data"]["viewer"]["suggestions"], owner
    unknown = await world.api.gql(
        SUGGESTIONS, {"purchaseId": encode_id("Purchase", 10**9)}, token=world.token("customer B")
    )
    if "errors" in as_b:
        # Refused exactly as a purchase that does not exist: not even its existence shows.
        assert as_b == unknown
        assert error_codes(as_b) == ["UNKNOWN_PURCHASE"]
    else:
        assert as_b == b_alone


# --- connections of private records -----------------------------------------------------

PRIVATE_LISTS = {
    "viewer.purchases": (
        "{ viewer { purchases(first: 50) { edges { node { id } } } } }",
        ("viewer", "purchases"),
        "customer A",
    ),
    "viewer.activity": (
        "{ viewer { activity(first: 50) { edges { node { id purchase { id } } } } } }",
        ("viewer", "activity"),
        "customer A",
    ),
    "viewer.redemptions": (
        "{ viewer { redemptions(first: 50) { edges { node { id } } } } }",
        ("viewer", "redemptions"),
        "customer A",
    ),
    "viewer.notifications": (
        "{ viewer { notifications(first: 50) { edges { node { id } } } } }",
        ("viewer", "notifications"),
        "customer A",
    ),
    "viewer.devices": (
        "{ viewer { devices(first: 50) { edges { node { id } } } } }",
        ("viewer", "devices"),
        "customer A",
    ),
    "partnerClients": (
        "{ partnerClients(first: 50) { edges { node { id } } } }",
        ("partnerClients",),
        "admin",
    ),
    "programOffers": (
        "{ programOffers(first: 50) { edges { node { id } } } }",
        ("programOffers",),
        "admin",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("caller", ("customer A", "admin", *STRANGERS))
@pytest.mark.parametrize("listing", list(PRIVATE_LISTS))
async def test_the_private_lists_are_their_owners_only(
    world: World, listing: str, caller: str
) -> None:
    await a_partner_client(world)
    await a_segment_offer(world)
    query, path, owner = PRIVATE_LISTS[listing]
    answer = await world.api.gql(query, token=world.token(caller))
    if caller == owner:
        node = answer["data"]
        for key in path:
            node = node[key]
        assert node["edges"], answer  # the owner does see records
    elif caller == "anonymous":
        assert error_codes(answer) == ["UNAUTHENTICATED"]
    elif answer.get("errors"):
        assert error_codes(answer) == ["FORBIDDEN"]
        assert answer["data"] is None
    else:
        # Another customer (or the admin, on a customer's list) sees only their own: none.
        node = answer["data"]
        for key in path:
            node = node[key]
        assert node["edges"] == [], answer


MARK_READ = """mutation M($ids: [ID!]!) {
  markNotificationsRead(ids: $ids) { notifications { id } userErrors { code field } }
}"""


@pytest.mark.parametrize("caller", ("customer A", *STRANGERS, "admin"))
async def test_only_its_owner_marks_a_message_read(world: World, caller: str) -> None:
    notification = await a_notification(world)
    answer = await world.api.gql(MARK_READ, {"ids": [notification]}, token=world.token(caller))
    if caller == "customer A":
        payload = answer["data"]["markNotificationsRead"]
        assert payload == {"notifications": [{"id": notification}], "userErrors": []}
    elif caller == "customer B":
        # Refused as an id of nothing: not even its existence shows.
        payload = answer["data"]["markNotificationsRead"]
        assert payload == {
            "notifications": [],
            "userErrors": [{"code": "NOT_FOUND", "field": ["ids", "0"]}],
        }
    elif caller == "anonymous":
        assert error_codes(answer) == ["UNAUTHENTICATED"]
    else:
        assert error_codes(answer) == ["FORBIDDEN"]
