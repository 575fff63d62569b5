"""The dashboard in a real browser (headless Chromium) against a real server process on
the demo program: an admin signs in, chooses a period and sees the API's numbers; a
customer is told the page is for admins; the console shows no error and no CSP report.
The server runs as production may, with only trusted documents: the page's own are
built in, and the documents these tests send themselves are registered first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from app import cache
from app.accounts.demo import DEMO_PASSWORD
from app.accounts.models import Role, User
from app.accounts.partners import create_partner_client
from app.catalog.models import Store
from app.core import clock
from app.demo import seed_demo
from app.graphql.schema import build_schema
from app.settings import Settings
from app.trusted_documents import service as trusted_documents
from tests.cashback.factories import RECORD, purchase_input
from tests.conftest import IN_CI, truncate_tables
from tests.dashboard.browser import console_problems, install_problem, start_chromium
from tests.servers import one_server

ADMIN = "admin@demo.example"
BROWSER_OFFSET = timezone(timedelta(hours=-3))  # tests/dashboard/browser.py's TIMEZONE
WAIT = 20.0
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "BRL": "R$"}  # as en-US writes them
MONEY = "{ amount currencyCode }"
METRICS = f"""query Metrics($from: DateTime!, $to: DateTime!, $interval: MetricsInterval!) {{
  programMetrics(from: $from, to: $to) {{
    activeCustomers purchaseCount sales {MONEY}
    repurchaseRate retentionRate omnichannelRate
    averageTicket {MONEY} averageTicketWithRedemption {MONEY}
    averageTicketWithoutRedemption {MONEY} lifetimeValue {MONEY}
    cashbackIssued {MONEY} cashbackRedeemed {MONEY} cashbackExpired {MONEY}
    outstandingLiability {MONEY}
    finance {{ pending {MONEY} available {MONEY} reserved {MONEY} outstanding {MONEY}
      issued {MONEY} redeemed {MONEY} expired {MONEY} reversed {MONEY} clawedBack {MONEY}
      forfeited {MONEY} }}
    series(interval: $interval) {{ from repurchaseRate retentionRate }}
    byChannel {{ channel purchaseCount sales {MONEY} }}
    topOffers(first: 5) {{ title activations cashbackIssued {MONEY} }}
  }}
}}"""
TILES = {
    "Active customers": "activeCustomers",
    "Purchases": "purchaseCount",
    "Sales": "sales",
    "Repurchase rate": "repurchaseRate",
    "Retention rate": "retentionRate",
    "Omnichannel rate": "omnichannelRate",
    "Average ticket": "averageTicket",
    "Average ticket with redemption": "averageTicketWithRedemption",
    "Average ticket without redemption": "averageTicketWithoutRedemption",
    "Lifetime value": "lifetimeValue",
    "Cashback issued": "cashbackIssued",
    "Cashback redeemed": "cashbackRedeemed",
    "Cashback expired": "cashbackExpired",
    "Outstanding liability": "outstandingLiability",
}
SIGN_IN = """mutation SignIn($input: SignInInput!) {
  signIn(input: $input) { session { accessToken } userErrors { code } } }"""
SIGN_UP = """mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) { session { accessToken } userErrors { code } } }"""


@pytest.fixture(scope="module")
def chromium() -> None:
    problem = install_problem()
    if problem and IN_CI:
        pytest.fail(f"{problem}; under CI=true the browser tests must run")
    if problem:
        pytest.skip(f"the dashboard's browser tests need Chromium: {problem}")


@pytest.fixture(scope="module")
async def server(chromium: None, database: Settings) -> AsyncIterator[str]:
    """A server process on the demo program (seeded here, through the services), with
    one purchase today through a partner's till: the demo's offers start after its
    purchases, and this one uses an offer, so top offers has a row."""
    await truncate_tables()
    await cache.changed_everything()
    clock.reset()
    await seed_demo(force=True)
    await _trust_the_tests_own_documents(database)
    # As operators run it: production mode (no introspection, no suggestions), and only
    # trusted documents.
    async with one_server(database, APP_ENV="production", TRUSTED_DOCUMENTS_ONLY="true") as url:
        async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
            untrusted = await client.post("/graphql", json={"query": "{ __typename }"})
        assert untrusted.json()["errors"][0]["extensions"]["code"] == "DOCUMENT_NOT_TRUSTED"
        await _purchase_with_an_offer(url)
        yield url
    await truncate_tables()


async def _trust_the_tests_own_documents(settings: Settings) -> None:
    schema = build_schema(settings)._schema
    for name, document in (
        ("Metrics", METRICS),
        ("SignIn", SIGN_IN),
        ("SignUp", SIGN_UP),
        ("RecordPurchase", RECORD),
    ):
        await trusted_documents.register(
            name=name, document=document, schema=schema, max_bytes=settings.max_document_bytes
        )


async def _purchase_with_an_offer(url: str) -> None:
    store = await Store.all().order_by("id").first()
    customer = await User.filter(role=Role.CUSTOMER).order_by("id").first()
    assert store and customer
    till = await create_partner_client(
        name="Dashboard test till", scopes=["purchases:write"], merchant_id=store.merchant_id
    )
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
        granted = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(till.client_id, till.client_secret),
        )
    assert granted.status_code == 200, granted.text
    data = purchase_input(store, customer, "80.00")
    answer = await _call(url, RECORD, {"input": data}, granted.json()["access_token"])
    recorded = answer["recordPurchase"]
    assert recorded["userErrors"] == [], recorded


@pytest.fixture
def browser(chromium: None) -> Iterator[WebDriver]:
    chrome = start_chromium()
    try:
        yield chrome
    finally:
        chrome.quit()


# --- the API's side ------------------------------------------------------------------
async def _call(url: str, query: str, variables: dict[str, Any], token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def _admin_token(url: str) -> str:
    data = await _call(url, SIGN_IN, {"input": {"email": ADMIN, "password": DEMO_PASSWORD}})
    return data["signIn"]["session"]["accessToken"]


def _interval(period: tuple[str, str]) -> str:
    """The series' interval the page asks for a period of this many days."""
    days = (datetime.fromisoformat(period[1]) - datetime.fromisoformat(period[0])).days
    return "DAY" if days <= 62 else "WEEK" if days <= 366 else "MONTH"


async def _api_metrics(url: str, period: tuple[str, str]) -> dict[str, Any]:
    variables = {"from": period[0], "to": period[1], "interval": _interval(period)}
    return (await _call(url, METRICS, variables, await _admin_token(url)))["programMetrics"]


# --- what en-US shows ----------------------------------------------------------------
def _shown(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, dict):  # Money
        return f"{SYMBOLS[value['currencyCode']]}{Decimal(value['amount']):,}"
    if isinstance(value, int):
        return f"{value:,}"
    # A share, rounded half up from the float's exact value, as Intl does.
    percent = (Decimal(value) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{percent}%"


def _day(moment: str) -> str:
    """A moment's day in the browser's time zone, as en-US writes it (medium)."""
    day = datetime.fromisoformat(moment).astimezone(BROWSER_OFFSET)
    return f"{day:%b} {day.day}, {day.year}"


# --- the page's side -----------------------------------------------------------------
def _wait(browser: WebDriver, what: str, ready: Any) -> Any:
    try:
        return WebDriverWait(browser, WAIT).until(lambda _: ready())
    except TimeoutException:
        alert = browser.find_element(By.ID, "alert").get_attribute("textContent")
        raise AssertionError(f"waited for {what}; the page's alert says {alert!r}") from None


def _labelled(browser: WebDriver, label: str) -> WebElement:
    """The form control whose <label> reads `label`."""
    found = browser.find_element(By.XPATH, f"//label[normalize-space()='{label}']")
    return browser.find_element(By.ID, found.get_attribute("for"))


def _button(browser: WebDriver, name: str) -> WebElement:
    return browser.find_element(By.XPATH, f"//button[normalize-space()='{name}']")


def _sign_in(browser: WebDriver, email: str, password: str) -> None:
    _labelled(browser, "Email").send_keys(email)
    _labelled(browser, "Password").send_keys(password)
    _button(browser, "Sign in").click()


def _alert(browser: WebDriver) -> str:
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]")
    return alert.text if alert.is_displayed() else ""


def _period_shown(browser: WebDriver, previous: str | None = None) -> tuple[str, str]:
    """The period whose numbers the page shows, once they are in (and not `previous`)."""
    view = browser.find_element(By.ID, "metrics-view")

    def loaded() -> tuple[str, str] | None:
        start, end = view.get_attribute("data-from"), view.get_attribute("data-to")
        if not start or view.get_attribute("aria-busy") or start == previous:
            return None
        return start, end

    return _wait(browser, "the period's numbers", loaded)


def _tiles(browser: WebDriver) -> dict[str, str]:
    """Each tile's accessible name and the text it shows."""
    tiles = browser.find_elements(By.CSS_SELECTOR, "#tiles dd")
    return {tile.accessible_name: tile.text for tile in tiles}


def _table(browser: WebDriver, table_id: str) -> list[list[str]]:
    rows = browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [
        [cell.get_attribute("textContent") for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in rows
    ]


def _assert_shows(browser: WebDriver, api: dict[str, Any]) -> None:
    assert _tiles(browser) == {label: _shown(api[key]) for label, key in TILES.items()}
    finance = _table(browser, "table-finance")
    keys = ["pending", "available", "reserved", "outstanding", "issued", "redeemed"]
    keys += ["expired", "reversed", "clawedBack", "forfeited"]
    assert [row[1] for row in finance] == [_shown(api["finance"][key]) for key in keys]
    assert [row[1:] for row in _table(browser, "table-rates")] == [
        [_shown(p["repurchaseRate"]), _shown(p["retentionRate"])] for p in api["series"]
    ]
    assert [row[0] for row in _table(browser, "table-rates")] == [
        _day(p["from"]) for p in api["series"]
    ]
    channels = _table(browser, "table-channels")
    names = {"ONLINE": "Online", "IN_STORE": "In store"}
    assert [(row[0], row[2], row[3]) for row in channels] == [
        (names[c["channel"]], _shown(c["purchaseCount"]), _shown(c["sales"]))
        for c in api["byChannel"]
    ]
    offers = _table(browser, "table-offers")
    assert [(row[0], row[1], row[3]) for row in offers] == [
        (o["title"], _shown(o["activations"]), _shown(o["cashbackIssued"]))
        for o in api["topOffers"]
    ]
    # Each chart drew (a canvas), or says there is nothing to draw.
    for chart in ("chart-rates", "chart-liability", "chart-channels", "chart-offers"):
        drawn = browser.find_elements(By.CSS_SELECTOR, f"#{chart} canvas")
        said = browser.find_elements(By.CSS_SELECTOR, f"#{chart} .empty")
        assert len(drawn) + len(said) == 1, chart


def _type_date(field: WebElement, day: date) -> None:
    # A date input in en-US takes month, day and year as typed digits.
    field.send_keys(day.strftime("%m%d%Y"))


def _midnight(day: date) -> str:
    return datetime.combine(day, datetime.min.time(), BROWSER_OFFSET).isoformat()


# --- the stories ---------------------------------------------------------------------
async def test_an_admin_chooses_a_period_and_sees_the_apis_numbers(
    server: str, browser: WebDriver
) -> None:
    browser.get(f"{server}/dashboard")
    _sign_in(browser, ADMIN, DEMO_PASSWORD)

    # Signed in, the page shows the last 30 days at once.
    today = datetime.now(BROWSER_OFFSET).date()
    shown = _period_shown(browser)
    assert shown == (_midnight(today - timedelta(days=29)), _midnight(today + timedelta(days=1)))
    assert _button(browser, "Last 30 days").get_attribute("aria-pressed") == "true"
    api = await _api_metrics(server, shown)
    assert api["topOffers"], "no offer was used: the chart of top offers would stay empty"
    _assert_shows(browser, api)
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-offers canvas")
    assert browser.find_element(By.ID, "signed-in").text.startswith(f"Signed in as {ADMIN}")

    # A period of the operator's choosing: its first and last days included.
    first, last = today - timedelta(days=150), today - timedelta(days=3)
    _type_date(_labelled(browser, "From"), first)
    _type_date(_labelled(browser, "To (inclusive)"), last)
    _button(browser, "Show").click()
    shown = _period_shown(browser, previous=shown[0])
    assert shown == (_midnight(first), _midnight(last + timedelta(days=1)))
    api = await _api_metrics(server, shown)
    assert api["purchaseCount"] > 0, "the demo program bought nothing in the period"
    _assert_shows(browser, api)
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-rates canvas")

    # A period that ends before it starts is refused; the numbers shown stay.
    _type_date(_labelled(browser, "From"), last)
    _type_date(_labelled(browser, "To (inclusive)"), first)
    _button(browser, "Show").click()
    _wait(browser, "the refusal", lambda: "ends before it starts" in _alert(browser))
    view = browser.find_element(By.ID, "metrics-view")
    assert view.get_attribute("data-from") == shown[0]
    _assert_shows(browser, api)

    # Longer than the API allows: its refusal is shown with its code.
    _type_date(_labelled(browser, "From"), date(today.year - 6, 1, 1))
    _type_date(_labelled(browser, "To (inclusive)"), last)
    _button(browser, "Show").click()
    _wait(browser, "the refusal", lambda: "(INVALID_INPUT)" in _alert(browser))
    assert "5 years" in _alert(browser)
    assert view.get_attribute("data-from") == shown[0]

    # A preset.
    _button(browser, "This year").click()
    shown = _period_shown(browser, previous=shown[0])
    assert shown[0] == _midnight(date(today.year, 1, 1))
    _assert_shows(browser, await _api_metrics(server, shown))
    assert _alert(browser) == ""  # the refusal went with the new period
    assert console_problems(browser) == []


async def test_a_customer_is_told_the_dashboard_is_for_admins_only(
    server: str, browser: WebDriver
) -> None:
    email = "dashboard.visitor@example.com"
    await _call(
        server,
        SIGN_UP,
        {
            "input": {
                "email": email,
                "password": DEMO_PASSWORD,
                "displayName": "Visitor",
                "acceptTerms": True,
            }
        },
    )
    browser.get(f"{server}/dashboard")

    # A wrong password first: the refusal is shown, the form stays.
    _sign_in(browser, email, "not-the-password-1")
    _wait(browser, "the refusal", lambda: _alert(browser))
    assert "(INVALID_CREDENTIALS)" in _alert(browser)
    assert _labelled(browser, "Email").is_displayed()

    _labelled(browser, "Email").clear()
    _labelled(browser, "Password").clear()
    _sign_in(browser, email, DEMO_PASSWORD)
    _wait(browser, "the refusal", lambda: "admins only" in _alert(browser))
    assert not browser.find_element(By.ID, "metrics-view").is_displayed()
    assert {text for text in _tiles(browser).values()} == {""}  # hidden, never filled

    # Signing out leads back to the form.
    _button(browser, "Sign out").click()
    _wait(browser, "the sign-in form", lambda: _labelled(browser, "Email").is_displayed())
    assert browser.execute_script("return sessionStorage.length") == 0
    assert console_problems(browser) == []


async def test_an_expired_access_token_is_refreshed_and_an_ended_session_asks_again(
    server: str, browser: WebDriver
) -> None:
    key = "cashback.dashboard.session"
    browser.get(f"{server}/dashboard")
    _sign_in(browser, ADMIN, DEMO_PASSWORD)
    shown = _period_shown(browser)
    before = browser.execute_script(f"return JSON.parse(sessionStorage.getItem('{key}'))")

    # The access token has (as far as the page knows) expired: it is refreshed first.
    browser.execute_script(
        f"const s = JSON.parse(sessionStorage.getItem('{key}'));"
        "s.accessTokenExpiresAt = '2000-01-01T00:00:00Z';"
        f"sessionStorage.setItem('{key}', JSON.stringify(s));"
    )
    _button(browser, "Last 90 days").click()
    shown = _period_shown(browser, previous=shown[0])
    after = browser.execute_script(f"return JSON.parse(sessionStorage.getItem('{key}'))")
    assert after["accessToken"] != before["accessToken"]
    assert after["refreshToken"] != before["refreshToken"]  # rotated
    _assert_shows(browser, await _api_metrics(server, shown))

    # The refresh token is refused (here: already rotated): the page asks to sign in.
    browser.execute_script(
        f"const s = JSON.parse(sessionStorage.getItem('{key}'));"
        "s.accessTokenExpiresAt = '2000-01-01T00:00:00Z';"
        f"s.refreshToken = '{before['refreshToken']}';"
        f"sessionStorage.setItem('{key}', JSON.stringify(s));"
    )
    _button(browser, "Last 30 days").click()
    _wait(browser, "the sign-in form", lambda: _labelled(browser, "Email").is_displayed())
    assert "sign in again" in _alert(browser)
    assert console_problems(browser) == []


async def test_the_policy_is_enforced_and_its_reports_are_seen(
    server: str, browser: WebDriver
) -> None:
    # What the other stories' console checks rely on: a load from elsewhere is refused
    # and reported in the console.
    browser.get(f"{server}/dashboard")
    _wait(browser, "the page", lambda: _labelled(browser, "Email").is_displayed())
    assert console_problems(browser) == []
    browser.execute_script(
        "const img = document.createElement('img');"
        "img.src = 'https://elsewhere.example/pixel.png';"
        "document.body.append(img);"
    )
    reports = _wait(browser, "a CSP report", lambda: console_problems(browser))
    assert any("Content Security Policy" in entry["message"] for entry in reports), reports
