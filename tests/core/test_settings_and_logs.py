import json
import logging

import pytest
from pydantic import ValidationError

from app.core.logging import JsonFormatter, request_id_var
from app.settings import Settings


def test_production_refuses_the_development_secret_and_short_ones() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET must be set"):
        Settings(app_env="production")
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(app_env="production", jwt_secret="too-short")
    assert Settings(app_env="production", jwt_secret="x" * 32).is_production


def test_cors_origins_are_read_comma_separated(monkeypatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]


def test_json_logs_carry_the_request_id() -> None:
    token = request_id_var.set("req-7")
    try:
        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "boom %s", ("x",), None)
        record.request_id = request_id_var.get()
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "boom x"
    assert line["request_id"] == "req-7"
    assert line["level"] == "ERROR"
