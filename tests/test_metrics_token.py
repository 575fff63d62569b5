"""/metrics is open unless METRICS_TOKEN is set; then it needs `Bearer <token>`."""

from __future__ import annotations

import httpx

from app.main import create_app
from tests.conftest import make_settings
from tests.support import Api

# --- /metrics -------------------------------------------------------------------------------


async def test_given_a_metrics_token_then_metrics_need_it(db) -> None:
    settings = make_settings(db.database_url, metrics_token="metrics-token-0123456789")
    transport = httpx.ASGITransport(app=create_app(settings, manage_db=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer guess"})
        right = await client.get(
            "/metrics", headers={"Authorization": "Bearer metrics-token-0123456789"}
        )
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert "graphql_operations" not in anonymous.text
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "graphql_operations_total" in right.text


async def test_given_no_metrics_token_then_metrics_stay_open(api: Api) -> None:
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert "graphql_operations_total" in response.text
