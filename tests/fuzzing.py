"""What the fuzz test (tests/test_fuzz.py) needs: a seeded program with its three callers
signed in on a real server, value strategies that reach real rows, and the checks every
answer must pass."""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from traceback import format_exception
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.graphql import nodes
from schemathesis.specs.graphql import scalars
from schemathesis.specs.graphql.schemas import GraphQLSchema

from app.catalog.values import Channel
from app.core import clock
from app.core.errors import ErrorCode
from app.core.ids import encode_id
from app.graphql.errors import INTERNAL, PRE_EXECUTION_CODES
from app.settings import Settings
from tests.accounts.factories import SIGN_IN, make_partner_client
from tests.cashback.factories import RECORD, item, make_rule, purchase_input
from tests.catalog.factories import make_merchant, make_product, make_store
from tests.factories import PASSWORD, make_admin, make_customer
from tests.offers.factories import make_offer
from tests.redemptions.factories import give_credits
from tests.redemptions.operations import started
from tests.support import Api

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"
EXAMPLES = 100  # per root field and caller

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same documents on every run
    database=None,
    deadline=timedelta(seconds=15),  # past the server's own 10 s request timeout
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
    report_multiple_bugs=False,
)

PARTNER_SCOPES = ["purchases:write", "purchases:read", "redemptions:write", "offers:read"]
CALLERS = ("customer", "partner", "admin")
# Amounts at the edges: zero, a cent, the program's maximum and past it, negative, too
# precise; and text a decimal parser might read its own way (exponent, NaN, underscores,
# other digits), which must be refused before anything runs.
AMOUNTS = ("0", "0.01", "0.10", "1", "5.00", "12.50", "40.00", "99999.99", "100000")
WRONG_AMOUNTS = ("100000.01", "-1", "-0", "1.001", "-0.01")
ODD_AMOUNTS = ("1e3", "NaN", "Infinity", "", " 1", "1_000", "\u0663", "0x10", "1,5", ".5")

_MONEY = [
    *("total", "orderTotal", "items.[*].unitPrice", "input.total", "input.amount"),
    *("input.creditsUsed", "input.orderTotal", "input.items.[*].unitPrice", "inputs.[*].total"),
    *("inputs.[*].creditsUsed", "inputs.[*].items.[*].unitPrice", "input.minimumSpend"),
    *("input.budget", "input.bonus", "input.maxCashbackPerPurchase", "input.minimumRedemption"),
    *("input.maxPurchaseTotal", "input.maxRedemptionAmount"),
]
# Where Schemathesis puts a seeded row's value, by argument name (`<Type>.<field>.<path>`,
# `*` any): the store of a purchase, the currency of an amount, the code of a redemption...
ARGUMENT_PATHS = {
    "storeId": ["*.*.storeId", "*.*.input.storeId", "*.*.inputs.[*].storeId"],
    "merchantId": ["*.*.merchantId", "*.*.input.merchantId", "*.*.filter.merchantId"],
    "offerId": ["*.*.offerId"],
    "id": ["*.*.id"],
    "purchaseId": ["*.*.purchaseId"],
    "redemptionId": ["*.*.input.redemptionId"],
    "externalId": ["*.*.externalId", "*.*.input.externalId", "*.*.inputs.[*].externalId"],
    "memberCode": [f"*.*.{prefix}customer.memberCode" for prefix in ("", "input.", "inputs.[*].")],
    "code": ["*.*.input.code"],
    "sku": ["*.*.items.[*].sku", "*.*.input.items.[*].sku", "*.*.products.[*].sku"],
    "currencyCode": [f"*.*.{money}.currencyCode" for money in _MONEY],
}

# Codes a top-level error may carry: access, refusal before execution, and the domain's own.
TOP_LEVEL_CODES = frozenset(
    {"UNAUTHENTICATED", "FORBIDDEN", "RATE_LIMITED", "BAD_REQUEST", *PRE_EXECUTION_CODES}
    | {code.value for code in ErrorCode}
)
USER_ERROR_CODES = frozenset(code.value for code in ErrorCode)

# What an answer must never show: a server's insides (exception names, source files, SQL,
# the database driver or the ORM).
INTERNALS = re.compile(
    r"Traceback|File \"|\.py\b|site-packages|asyncpg|tortoise|psycopg|sqlite"
    r"|\b(?:SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b"
    r"|\b(?:Value|Type|Key|Attribute|Index|Assertion|Runtime|ZeroDivision|Overflow|Recursion"
    r"|Lookup|Name|NotImplemented|UnicodeDecode|UnicodeEncode|Integrity|Operational"
    r"|Programming|Data|Interface|Database|Transaction|Validation|Config)Error\b"
    r"|\b(?:InvalidOperation|DecimalException|DoesNotExist|MultipleObjectsReturned"
    r"|StopIteration|CancelledError|Exception)\b",
)


@dataclass
class Seeded:
    """A program with real rows, and each caller's Authorization header."""

    headers: dict[str, dict[str, str]]
    ids: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    # Real values for the arguments of these names (see ARGUMENT_PATHS).
    arguments: dict[str, list[str]] = field(default_factory=dict)


async def _token(client: httpx.AsyncClient, client_id: str, secret: str) -> str:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {pair}"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def _signed_in(server: Api, email: str) -> str:
    answer = await server.gql(SIGN_IN, {"input": {"email": email, "password": PASSWORD}})
    payload = answer["data"]["signIn"]
    assert payload["userErrors"] == [], payload
    return str(payload["session"]["accessToken"])


async def seed(settings: Settings, url: str) -> Seeded:
    """A merchant with two stores, products, a rule and an offer; a customer with credits,
    a purchase and two open redemptions; a partner client of that merchant; an admin. The
    customer and the admin sign in and the partner gets its token on the server at `url`."""
    merchant = await make_merchant(name="Fuzz Mart", percent="3")
    in_store = await make_store(merchant, channel=Channel.IN_STORE, name="Fuzz Mart Downtown")
    online = await make_store(merchant, channel=Channel.ONLINE, name="Fuzz Mart Online")
    products = [
        await make_product(merchant, sku="FZ-1", category="Electronics", price="25.00"),
        await make_product(merchant, sku="FZ-2", category="Groceries", price="4.50"),
    ]
    rule = await make_rule(percent="5", category="Electronics")
    customer = await make_customer(email="fuzz.customer@example.com")
    admin = await make_admin(email="fuzz.admin@example.com")
    await give_credits(customer, 50_00)
    issued = await make_partner_client(PARTNER_SCOPES, merchant_id=merchant.id, name="Fuzz till")

    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        server = Api(client, settings)
        admin_token = await _signed_in(server, admin.email)
        customer_token = await _signed_in(server, customer.email)
        other_device = await _signed_in(server, customer.email)
        partner_token = await _token(client, issued.client_id, issued.client_secret)

        offer = await make_offer(server, admin_token, title="Fuzz boost", percent="10")
        order = purchase_input(in_store, customer, "40.00", external_id="fuzz-order-1")
        order["items"] = [item("FZ-1", "25.00"), item("FZ-2", "5.00", quantity=3)]
        recorded = await server.gql(RECORD, {"input": order}, token=partner_token)
        assert recorded["data"]["recordPurchase"]["userErrors"] == [], recorded
        merchant_id = encode_id("Merchant", merchant.id)
        online_redemption = await started(
            server, customer_token, merchant_id, "5.00", channel="ONLINE", key="fuzz-online"
        )
        in_store_redemption = await started(
            server, customer_token, merchant_id, "5.00", channel="IN_STORE", key="fuzz-in-store"
        )
        devices = await server.gql(
            "{ viewer { devices { edges { node { id current } } } } }", token=other_device
        )
        device_ids = [
            edge["node"]["id"]
            for edge in devices["data"]["viewer"]["devices"]["edges"]
            if edge["node"]["current"]  # the second session: signing it out is a real path
        ]

    seeded = Seeded(
        headers={
            caller: {"Authorization": f"Bearer {token}"}
            for caller, token in zip(
                CALLERS, (customer_token, partner_token, admin_token), strict=True
            )
        },
        ids=[
            # Stores and their merchant are what most operations name: drawn more often.
            *[merchant_id] * 2,
            *[encode_id("Store", in_store.id), encode_id("Store", online.id)] * 3,
            *(encode_id("Product", p.id) for p in products),
            encode_id("CashbackRule", rule.id),
            offer,
            recorded["data"]["recordPurchase"]["purchase"]["id"],
            online_redemption["id"],
            in_store_redemption["id"],
            encode_id("PartnerClient", issued.client.id),
            encode_id("Customer", customer.id),
            *device_ids,
        ],
        arguments={
            "storeId": [encode_id("Store", in_store.id), encode_id("Store", online.id)],
            "merchantId": [merchant_id],
            "offerId": [offer],
            "purchaseId": [recorded["data"]["recordPurchase"]["purchase"]["id"]],
            "redemptionId": [online_redemption["id"]],
            "externalId": ["fuzz-order-1"],
            "memberCode": [customer.member_code],
            "code": [in_store_redemption["code"]],
            "sku": ["FZ-1", "FZ-2"],
            "currencyCode": ["USD"],
        },
        strings=[
            customer.email,
            customer.member_code,
            "fuzz-order-1",
            "FZ-1",
            "FZ-2",
            "Electronics",
            "Groceries",
            "USD",
            "EUR",
            PASSWORD,
            in_store_redemption["code"],
            issued.client_id,
            *PARTNER_SCOPES,
            "en",
            "fr-CA",
        ],
    )
    seeded.arguments["id"] = list(dict.fromkeys(seeded.ids))
    return seeded


def _mostly(plausible: st.SearchStrategy[Any], anything: st.SearchStrategy[Any]) -> Any:
    """Mostly `plausible`: an operation has several arguments and one malformed value
    refuses the whole document, so nearly all must be well formed for most documents to
    run; the rest is anything, for the refusals."""
    return st.one_of(*[plausible] * 15, anything)


@contextmanager
def scalars_reaching(seeded: Seeded) -> Iterator[None]:
    """While inside, generated ids, strings, amounts and times are often the seeded rows'
    own (or near them), so operations get past "not found" into the code behind."""
    now = clock.now()
    near_now = [
        (now + timedelta(**shift)).isoformat()
        for shift in ({"minutes": -5}, {"days": -1}, {"days": 3}, {"days": 30}, {"hours": 1})
    ]
    printable = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=40)
    amounts = st.one_of(
        st.sampled_from(AMOUNTS),
        st.sampled_from(WRONG_AMOUNTS),
        st.decimals(min_value=0, max_value=10_000, places=2).map(str),
    )
    times = st.one_of(
        st.sampled_from(near_now),
        st.datetimes(timezones=st.just(now.tzinfo)).map(lambda d: d.isoformat()),
    )
    counts = st.one_of(
        st.integers(0, 12), st.integers(0, 400), st.sampled_from([-1, 101, 2**31 - 1, -(2**31)])
    )
    strategies = {
        "ID": _mostly(
            st.sampled_from(seeded.ids).map(nodes.String),
            st.one_of(st.text().map(nodes.String), st.integers().map(nodes.Int)),
        ),
        "String": _mostly(st.one_of(st.sampled_from(seeded.strings), printable), st.text()).map(
            nodes.String
        ),
        "Int": _mostly(counts, st.integers(-(2**31), 2**31 - 1)).map(nodes.Int),
        "Decimal": _mostly(
            amounts.map(nodes.String),
            st.one_of(
                st.one_of(st.sampled_from(ODD_AMOUNTS), st.text(max_size=12)).map(nodes.String),
                st.integers().map(nodes.Int),
                st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
            ),
        ),
        "DateTime": _mostly(times, st.text(max_size=30)).map(nodes.String),
    }
    saved = dict(scalars.CUSTOM_SCALARS)
    scalars.CUSTOM_SCALARS.update(strategies)
    try:
        yield
    finally:
        scalars.CUSTOM_SCALARS.clear()
        scalars.CUSTOM_SCALARS.update(saved)


def _user_errors(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "userErrors" and isinstance(inner, list):
                yield from (e for e in inner if isinstance(e, dict))
            else:
                yield from _user_errors(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _user_errors(inner)


def problems_with(status: int, text: str) -> list[str]:
    """Why this answer is not one a client should ever get (empty when it is fine)."""
    problems: list[str] = []
    if status >= 500:
        problems.append(f"HTTP {status}")
    if leaked := INTERNALS.search(text):
        problems.append(f"internals in the answer: {leaked.group(0)!r}")
    try:
        body = json.loads(text)
    except ValueError:
        return [*problems, "the answer is not JSON"]
    if status not in (200, 400) or not isinstance(body, dict):
        return [*problems, f"unexpected HTTP {status}"]
    errors = body.get("errors") or []
    codes = [(e.get("extensions") or {}).get("code") for e in errors]
    if INTERNAL in codes:
        problems.append("INTERNAL_SERVER_ERROR")
    if unknown := [c for c in codes if c not in TOP_LEVEL_CODES and c != INTERNAL]:
        problems.append(f"errors without a known code: {unknown}")
    if status == 400:
        if body.get("data") is not None or not errors:
            problems.append("a 400 must carry errors and no data")
        if refused := [c for c in codes if c not in PRE_EXECUTION_CODES | {"BAD_REQUEST"}]:
            problems.append(f"400 with codes of execution: {refused}")
    for error in _user_errors(body.get("data")):
        if "code" in error and error["code"] not in USER_ERROR_CODES:
            problems.append(f"userError without a known code: {error}")
    return problems


class LogWatch:
    """What a server process wrote to its log since the last look."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = log.stat().st_size

    def tracebacks_of(self, request_id: str) -> list[str]:
        """The log lines of this request that hold a traceback."""
        return [
            line
            for line in self.new_text().splitlines()
            if f'"request_id": "{request_id}"' in line and "Traceback" in line
        ]

    def new_text(self) -> str:
        with self.log.open("rb") as file:
            file.seek(self.offset)
            written = file.read()
        self.offset += len(written)
        return written.decode("utf-8", "replace")


def _schema(seeded: Seeded) -> GraphQLSchema:
    """The committed schema, with the seeded rows' values as Schemathesis dictionaries."""
    config = SchemathesisConfig.from_dict(
        {
            "dictionaries": {
                name: {"values": values} for name, values in seeded.arguments.items() if values
            },
            "parameters": {
                path: {"dictionary": name, "probability": 0.5}
                for name, paths in ARGUMENT_PATHS.items()
                if seeded.arguments.get(name)
                for path in paths
            },
        }
    )
    return schemathesis.graphql.from_path(SCHEMA_FILE, config=config)


def fuzz_as(field: str, caller: str, seeded: Seeded, url: str, log: Path) -> str | None:
    """Hypothesis's run of one root field ("Query.node") as one caller, in a process of its
    own: None when every answer was clean, else the report of the first bad one."""
    root, name = field.split(".")
    operation = _schema(seeded)[root][name]
    watch = LogWatch(log)
    numbers = itertools.count(1)
    headers = seeded.headers[caller]
    with (
        scalars_reaching(seeded),
        httpx.Client(base_url=url, headers=headers, timeout=30) as client,
    ):

        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def answers_cleanly(case: schemathesis.Case) -> None:
            # Our own request id finds this request's log lines among the other callers'.
            request_id = f"fuzz-{caller}-{next(numbers)}"
            response = client.post(
                "/graphql", json={"query": case.body}, headers={"X-Request-Id": request_id}
            )
            problems = problems_with(response.status_code, response.text)
            problems += [f"the server logged:\n{line}" for line in watch.tracebacks_of(request_id)]
            assert not problems, (
                f"as the {caller}: {problems}\n--- document:\n{case.body}\n--- answer "
                f"(HTTP {response.status_code}):\n{response.text[:2000]}"
            )

        try:
            answers_cleanly()
        except Exception as error:  # reported in the test's process, with Hypothesis's notes
            return "".join(format_exception(error))
    return None
