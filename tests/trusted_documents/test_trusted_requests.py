"""Trusted documents over HTTP: a trusted document's hash alone runs it on the first try;
with TRUSTED_DOCUMENTS_ONLY nothing else runs, whether sent as text, by hash or as an
automatic persisted query's registration."""

from __future__ import annotations

from app.accounts.models import User
from app.dashboard.routes import document_hashes
from app.graphql.trusted import digest
from tests.factories import PASSWORD, make_admin, make_customer
from tests.support import Api, error_codes
from tests.trusted_documents.support import (
    bearer,
    built_in,
    by_hash,
    by_text,
    client_of,
    registering,
)

UNTRUSTED = "query Mine { viewer { email } }"
SIGN_UP = """mutation Join($input: SignUpInput!) {
  signUp(input: $input) { session { accessToken } userErrors { code } }
}"""
SIGN_UP_INPUT = {
    "input": {
        "email": "sneaky@example.com",
        "password": "a long enough password 42",
        "displayName": "Sneaky",
        "acceptTerms": True,
    }
}


async def test_a_contract_documents_hash_alone_runs_on_the_first_try(api: Api) -> None:
    customer = await make_customer(display_name="Ada")
    sha256, _ = built_in("Home")

    response = await api.client.post(
        "/graphql", json=by_hash(sha256), headers=bearer(api.token_for(customer))
    )

    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["viewer"]["displayName"] == "Ada"


async def test_without_the_option_other_documents_run_and_unknown_hashes_are_asked_for(
    api: Api,
) -> None:
    customer = await make_customer(email="free@example.com")
    headers = bearer(api.token_for(customer))

    as_text = await api.client.post("/graphql", json=by_text(UNTRUSTED), headers=headers)
    unknown = await api.client.post("/graphql", json=by_hash(digest(UNTRUSTED)), headers=headers)

    assert as_text.json() == {"data": {"viewer": {"email": "free@example.com"}}}
    assert error_codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_with_the_option_an_untrusted_document_is_refused_before_anything_runs(
    api: Api,
) -> None:
    async with client_of(api, trusted_documents_only=True) as client:
        query = await client.post("/graphql", json=by_text("{ program { currencyCode } }"))
        mutation = await client.post("/graphql", json=by_text(SIGN_UP, SIGN_UP_INPUT))

    for response in (query, mutation):
        assert response.status_code == 400
        assert response.json()["data"] is None
        assert error_codes(response.json()) == ["DOCUMENT_NOT_TRUSTED"]
    # The sign-up did not happen.
    assert not await User.filter(email="sneaky@example.com").exists()


async def test_with_the_option_an_untrusted_hash_or_registration_is_refused(api: Api) -> None:
    customer = await make_customer()
    headers = bearer(api.token_for(customer))
    # Known to the process's persisted-query cache before the option is on elsewhere.
    assert (await api.client.post("/graphql", json=registering(UNTRUSTED), headers=headers)).json()[
        "data"
    ]

    async with client_of(api, trusted_documents_only=True) as client:
        registration = await client.post("/graphql", json=registering(UNTRUSTED), headers=headers)
        hash_alone = await client.post("/graphql", json=by_hash(digest(UNTRUSTED)), headers=headers)
        again = await client.post("/graphql", json=by_hash(digest(UNTRUSTED)), headers=headers)

    for response in (registration, hash_alone, again):
        assert response.status_code == 400
        assert response.json() == {
            "data": None,
            "errors": [
                {
                    "message": response.json()["errors"][0]["message"],
                    "extensions": {"code": "DOCUMENT_NOT_TRUSTED"},
                }
            ],
        }


async def test_with_the_option_the_contracts_home_runs_by_text_and_by_hash(api: Api) -> None:
    customer = await make_customer(display_name="Grace")
    headers = bearer(api.token_for(customer))
    sha256, home = built_in("Home")

    async with client_of(api, trusted_documents_only=True) as client:
        as_text = await client.post("/graphql", json=by_text(home), headers=headers)
        as_hash = await client.post("/graphql", json=by_hash(sha256), headers=headers)
        registered = await client.post("/graphql", json=registering(home), headers=headers)

    for response in (as_text, as_hash, registered):
        assert response.status_code == 200
        assert "errors" not in response.json(), response.json()
        assert response.json()["data"]["viewer"]["displayName"] == "Grace"
    assert as_text.json() == as_hash.json()


async def test_with_the_option_the_dashboards_documents_run_as_its_page_sends_them(
    api: Api,
) -> None:
    admin = await make_admin(email="operator@example.com")
    hashes = document_hashes()
    variables = {"from": "2026-01-01T00:00:00+00:00", "to": "2026-02-01T00:00:00+00:00"}

    async with client_of(api, trusted_documents_only=True) as client:
        # The hashes the page is served with.
        script = (await client.get("/dashboard/static/documents.js")).text
        assert all(f'"{sha256}"' in script for sha256 in hashes.values())
        signed_in = await client.post(
            "/graphql",
            json={
                "operationName": "SignIn",
                **by_hash(
                    hashes["SignIn"],
                    {"input": {"email": "operator@example.com", "password": PASSWORD}},
                ),
            },
        )
        session = signed_in.json()["data"]["signIn"]["session"]
        metrics = await client.post(
            "/graphql",
            json={
                "operationName": "DashboardMetrics",
                **by_hash(hashes["DashboardMetrics"], {**variables, "interval": "WEEK"}),
            },
            headers=bearer(session["accessToken"]),
        )
        refreshed = await client.post(
            "/graphql",
            json=by_hash(hashes["RefreshSession"], {"refreshToken": session["refreshToken"]}),
        )
    assert signed_in.json()["data"]["signIn"]["userErrors"] == []
    assert admin.email == "operator@example.com"
    assert "errors" not in metrics.json(), metrics.json()
    assert metrics.json()["data"]["programMetrics"]["sales"]["currencyCode"]
    assert refreshed.json()["data"]["refreshSession"]["userErrors"] == []
