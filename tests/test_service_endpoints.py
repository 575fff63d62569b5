"""The service around the GraphQL endpoint: health, readiness, metrics, headers, CORS."""

from __future__ import annotations

from app import db as app_db
from app.main import create_app
from tests.conftest import make_settings
from tests.factories import make_customer
from tests.ledger.statements import count_statements
from tests.support import Api


async def test_healthz_answers_without_touching_the_database(api: Api, monkeypatch) -> None:
    async def broken() -> None:
        raise ConnectionRefusedError("database down")

    monkeypatch.setattr(app_db, "ping", broken)
    with count_statements() as sent:
        response = await api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert sent == []


async def test_readyz_answers_when_the_database_does(api: Api) -> None:
    response = await api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_readyz_is_503_when_the_database_does_not_answer(api: Api, monkeypatch) -> None:
    async def broken() -> None:
        raise ConnectionRefusedError("database down")

    monkeypatch.setattr(app_db, "ping", broken)
    response = await api.client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


async def test_metrics_count_operations_by_name(api: Api) -> None:
    customer = await make_customer()
    await api.gql("query Profile { viewer { id } }", token=api.token_for(customer))
    body = (await api.client.get("/metrics")).text
    assert 'graphql_operations_total{operation="Profile",outcome="ok"}' in body
    assert 'graphql_operation_duration_seconds_bucket{le="0.01",operation="Profile"}' in body


async def test_every_response_has_a_request_id_and_security_headers(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert len(response.headers["x-request-id"]) == 32
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    given = await api.client.get("/healthz", headers={"X-Request-Id": "client-abc.123"})
    assert given.headers["x-request-id"] == "client-abc.123"
    unsafe = await api.client.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"


async def test_cors_allows_only_the_configured_origins(db) -> None:
    import httpx

    settings = make_settings(db.database_url, cors_origins="https://app.example")
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = await client.options(
            "/graphql", headers={"Origin": "https://app.example", **preflight}
        )
        refused = await client.options(
            "/graphql", headers={"Origin": "https://evil.example", **preflight}
        )
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in refused.headers


async def test_cors_answers_browsers_by_origin_and_every_answer_varies_by_it(db) -> None:
    import httpx

    settings = make_settings(db.database_url, cors_origins="https://app.example")
    app = create_app(settings, manage_db=False)
    transport = httpx.ASGITransport(app=app)
    query = {"query": "{ __typename }"}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        from_app = await client.post("/graphql", json=query)
        from_page = await client.post(
            "/graphql", json=query, headers={"Origin": "https://app.example"}
        )
        from_elsewhere = await client.post(
            "/graphql", json=query, headers={"Origin": "https://evil.example"}
        )
    for answer in (from_app, from_page, from_elsewhere):
        assert answer.json() == {"data": {"__typename": "Query"}}
        assert "Origin" in answer.headers.get_list("vary")
    assert "access-control-allow-origin" not in from_app.headers
    assert from_page.headers["access-control-allow-origin"] == "https://app.example"
    assert from_page.headers["access-control-expose-headers"] == "X-Request-Id"
    assert "access-control-allow-origin" not in from_elsewhere.headers
