"""Every setting of the service, read once from the environment (see README)."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEVELOPMENT_JWT_SECRET = "development-secret-change-me-0123456789abcdef"


class Settings(BaseSettings):
    # A refused setting is named, never echoed: SMTP_URL and secrets carry passwords.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    app_env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite://var/app.db"
    db_pool_min: int = Field(default=1, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    db_statement_timeout_ms: int = Field(default=5_000, ge=0)
    redis_url: str | None = None

    jwt_secret: str = DEVELOPMENT_JWT_SECRET
    jwt_issuer: str = "cashback"
    jwt_audience: str = "cashback-api"
    jwt_private_key_file: str | None = None
    jwt_public_key_file: str | None = None
    # Keys the lookup digest and the encryption of in-store redemption codes (the JWT
    # secret when unset). Same value on every process, never stored in the database.
    redemption_code_secret: str | None = None
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=60)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=3600)
    partner_token_ttl_seconds: int = Field(default=3600, ge=60)

    # Comma-separated in the environment: CORS_ORIGINS=https://a.example,https://b.example
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_query_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2_000
    max_page_size: int = 100
    max_body_bytes: int = Field(default=1_000_000, ge=1_024)
    # The worst-case number of objects a document may ask for, counted before it runs:
    # each list multiplies what is under it by its `first` (or default page size).
    max_query_cost: int = Field(default=20_000, ge=1)
    # A GraphQL document's own size (variables excluded), counted in UTF-8 bytes.
    max_document_bytes: int = Field(default=20_000, ge=512)
    # Only trusted documents run (the contract's, the dashboard's and those admins
    # registered; app/graphql/trusted.py): any other is refused before parsing.
    trusted_documents_only: bool = False
    # Trusted documents with an executor of their own (app/graphql/compiled: the contract's
    # `Home`) run by it; false runs every document through standard execution.
    compiled_documents: bool = True
    # What the automatic persisted-query cache may hold, in bytes of documents.
    persisted_query_cache_bytes: int = Field(default=5_000_000, ge=0)
    # Any string a client sends; narrower per field where a column is narrower.
    max_string_length: int = Field(default=10_000, ge=64)
    # A request's deadline: past it the operation stops and the client gets an error.
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    # How often an open WebSocket re-checks that its session still stands.
    ws_liveness_check_seconds: float = Field(default=30.0, gt=0)
    # The server pings each WebSocket this often (graphql-transport-ws `ping`, and the
    # WebSocket protocol's own ping); a client that has not answered within the timeout
    # is dropped.
    ws_ping_interval_seconds: float = Field(default=20.0, gt=0)
    ws_ping_timeout_seconds: float = Field(default=20.0, gt=0)
    # While this process cannot listen for balance changes (PostgreSQL connection lost),
    # each balanceChanged subscriber re-reads its wallet this often instead.
    live_fallback_poll_seconds: float = Field(default=5.0, gt=0)
    # When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`.
    metrics_token: str | None = None
    # Proxies whose X-Forwarded-For is believed (uvicorn's forwarded_allow_ips): unset,
    # the client address is the socket's peer. Comma-separated IPs or "*".
    forwarded_allow_ips: str | None = None

    # Outgoing mail (app.mail): unset SMTP_URL, mail is only logged (development).
    # smtp://user:password@host:587 or smtps://user:password@host:465 (TLS from the start).
    smtp_url: str | None = None
    # STARTTLS on smtp://: `auto` when the server offers it, `require` or `off`.
    smtp_starttls: Literal["auto", "require", "off"] = "auto"
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    mail_from: str = "Cashback <no-reply@cashback.invalid>"
    # The outbox (app.outbox): tries before a message is given up (DEAD), and the delay
    # before the first retry, doubled at each further one (with jitter), at most a day.
    outbox_max_attempts: int = Field(default=10, ge=1, le=50)
    outbox_retry_seconds: float = Field(default=30.0, gt=0)

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "INFO"

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("smtp_url", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @model_validator(mode="after")
    def _refuse_weak_secret_in_production(self) -> Settings:
        if self.is_production and not self.jwt_private_key_file:
            if self.jwt_secret == DEVELOPMENT_JWT_SECRET:
                raise ValueError("JWT_SECRET must be set in production (the default is public)")
            if len(self.jwt_secret.encode()) < 32:
                raise ValueError("JWT_SECRET must be at least 32 bytes in production")
        if self.is_production and self.jwt_private_key_file and not self.redemption_code_secret:
            # With a key pair, JWT_SECRET may be left at its public default.
            raise ValueError("REDEMPTION_CODE_SECRET must be set in production with a key pair")
        if self.redemption_code_secret is not None and len(self.redemption_code_secret) < 32:
            raise ValueError("REDEMPTION_CODE_SECRET must be at least 32 bytes")
        if self.smtp_url is not None and not self.smtp_url.startswith(("smtp://", "smtps://")):
            raise ValueError("SMTP_URL must start with smtp:// or smtps://")
        if self.db_pool_min > self.db_pool_max:
            raise ValueError("DB_POOL_MIN must not exceed DB_POOL_MAX")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
