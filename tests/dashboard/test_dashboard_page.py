"""The dashboard's page and assets through the ASGI app: what is served, with which
headers and cache rules, and that nothing in it reaches outside its own origin."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.dashboard.routes import CSP, PREFIX, served_assets
from app.main import create_app
from tests.conftest import make_settings
from tests.support import Api

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "app" / "dashboard" / "static"
UPLOT = STATIC / "vendor" / "uplot"
EXPECTED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
# A URL with a scheme, or protocol-relative where something is loaded from.
EXTERNAL = re.compile(
    r"[a-z][a-z0-9+.-]*://|(?:src|href|action)\s*=\s*[\"']?//|url\(\s*[\"']?//", re.I
)
# A license banner at the head of a vendored file names its home; it loads nothing.
BANNER = re.compile(r"\A/\*!.*?\*/", re.S)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # The page and its files need no database: the app is never started.
    app = create_app(make_settings("sqlite://:memory:"), manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _asset_urls(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/dashboard/static/[^"]+)"', page)


def _assert_dashboard_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == EXPECTED_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


async def test_the_page_is_served_with_a_policy_that_allows_only_itself(client) -> None:
    response = await client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    _assert_dashboard_headers(response)
    # Always revalidated, so a new release's asset versions are seen at once.
    assert response.headers["cache-control"] == "no-cache"
    assert CSP == EXPECTED_CSP
    assert "<h1>Program dashboard</h1>" in response.text
    assert 'id="sign-in-form"' in response.text


async def test_each_asset_the_page_names_is_served_versioned_and_cacheable(client) -> None:
    page = (await client.get("/dashboard")).text
    urls = _asset_urls(page)
    assert len(urls) == 8  # two stylesheets, six scripts (one of them made at start-up)
    assets = served_assets()
    for url in urls:
        path, _, version = url.removeprefix(PREFIX).partition("?v=")
        assert version == assets[path].version, url
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.content == assets[path].body
        expected_type = "text/css" if path.endswith(".css") else "text/javascript"
        assert response.headers["content-type"] == f"{expected_type}; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        _assert_dashboard_headers(response)


async def test_an_asset_without_its_current_version_is_revalidated(client) -> None:
    for url in ("/dashboard/static/dashboard.js", "/dashboard/static/dashboard.js?v=0ld"):
        response = await client.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"


async def test_an_unchanged_file_answers_304_without_a_body(client) -> None:
    for url in ("/dashboard", "/dashboard/static/format.js"):
        first = await client.get(url)
        again = await client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == first.headers["etag"]
        other = await client.get(url, headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200
        assert other.content == first.content


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/static/missing.js",
        "/dashboard/static/index.html",  # the page is served at /dashboard only
        "/dashboard/static/vendor/uplot/LICENSE",  # not a web asset
        "/dashboard/static/%2e%2e/routes.py",
        "/dashboard/static/..%2froutes.py",
        "/dashboard/static/vendor/../../routes.py",
    ],
)
async def test_anything_else_under_the_dashboard_is_not_found(client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "import" not in response.text


def test_no_served_file_reaches_outside_the_origin() -> None:
    served = {"/dashboard": (STATIC / "index.html").read_text()}
    served |= {name: asset.body.decode() for name, asset in served_assets().items()}
    for name, text in served.items():
        found = EXTERNAL.findall(BANNER.sub("", text, count=1))
        assert found == [], f"{name}: {found}"
    # The check itself sees a URL, including one after a banner.
    assert EXTERNAL.findall(BANNER.sub("", "/*! x */ a('https://cdn.example/u.js')", count=1))
    assert EXTERNAL.findall('<script src="//cdn.example/u.js">')


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    page = (STATIC / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts and all(re.search(r'\bsrc="/dashboard/static/', s) for s in scripts)
    assert re.findall(r"<script\b[^>]*>\s*[^<\s]", page) == []  # no script with a body
    assert "<style" not in page
    assert re.findall(r"\sstyle\s*=", page) == []
    assert re.findall(r"\son[a-z]+\s*=", page) == []


def test_the_vendored_chart_library_is_the_one_the_script_fetches() -> None:
    script = (ROOT / "scripts" / "vendor-dashboard").read_text()
    pinned = re.search(r'VERSION="\$\{1:-([0-9.]+)\}"', script)
    integrity = re.search(r'INTEGRITY="(sha512-[^"]+)"', script)
    assert pinned and integrity
    name, digest = (UPLOT / "VERSION").read_text().split("\n")[:2]
    assert name == f"uplot {pinned.group(1)}"
    assert digest == integrity.group(1)
    banner = (UPLOT / "uPlot.iife.min.js").read_text()[:80]
    assert f"(v{pinned.group(1)})" in banner
    assert "MIT License" in (UPLOT / "LICENSE").read_text()


async def test_the_graphql_endpoint_answers_the_pages_fetch(api: Api) -> None:
    # As the page sends it: same origin, JSON, no cookies. A wrong password is data.
    response = await api.client.post(
        "/graphql",
        json={
            "query": "mutation SignIn($input: SignInInput!) { signIn(input: $input) {"
            " session { accessToken } userErrors { code } } }",
            "variables": {"input": {"email": "nobody@example.com", "password": "x" * 12}},
        },
        headers={"Origin": "http://testserver", "Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "data": {"signIn": {"session": None, "userErrors": [{"code": "INVALID_CREDENTIALS"}]}}
    }
