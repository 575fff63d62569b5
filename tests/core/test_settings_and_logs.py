import json
import logging

import pytest
from pydantic import ValidationError

from app.core.logging import configure_logging, request_id_var
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


def test_json_logs_carry_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    log = logging.getLogger("app.test")
    try:
        # The logging the service configures: its handler stamps each line with the id.
        configure_logging(json_logs=True)
        token = request_id_var.set("req-7")
        try:
            log.error("boom %s", "x")
        finally:
            request_id_var.reset(token)
        log.warning("outside a request")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert inside["message"] == "boom x"
    assert inside["request_id"] == "req-7"
    assert inside["level"] == "ERROR"
    assert outside["request_id"] == "-"
