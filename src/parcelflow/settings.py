"""All configuration, in one object, from `PARCELFLOW_*` environment variables."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///parcelflow.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARCELFLOW_", env_file=".env", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="sqlite:///path (the embedded default) or postgresql://user@host:port/db",
    )
    kafka_bootstrap_servers: str | None = Field(
        None, description="host:port[,host:port]; absent: consumers follow the store directly"
    )
    smtp_url: str | None = Field(None, description="smtp://host:port for customer emails")
    network_file: Path | None = Field(
        None, description="facility registry (JSON); absent: the bundled demo network"
    )
    pii_master_key: SecretStr | None = Field(
        None,
        description="base64 32-byte key that wraps the per-parcel data keys; "
        "absent: data keys are stored unwrapped (development only)",
    )
    scan_max_future: timedelta = Field(
        timedelta(minutes=5), description="how far ahead of the server clock a scan may be"
    )
    scan_max_age: timedelta = Field(timedelta(days=30), description="how old a scan may be")
    max_batch: int = Field(1000, ge=1, le=10_000, description="items per ingest batch")
    ingest_cache_size: int = Field(
        100_000, ge=0, description="parcels an ingest process keeps in memory between batches"
    )
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    # ---- the HTTP API (`parcelflow serve`) ----
    api_host: str = Field("127.0.0.1", description="address `parcelflow serve` listens on")
    api_port: int = Field(8000, ge=1, le=65535, description="port `parcelflow serve` listens on")
    api_workers: int = Field(1, ge=1, le=64, description="API worker processes")
    api_trusted_proxies: str = Field(
        "127.0.0.1",
        description="addresses whose X-Forwarded-For is believed (comma-separated, or *); "
        "the client address is what the per-address rate limit counts",
    )
    api_max_body_bytes: int = Field(
        1_048_576, ge=1024, description="largest request body accepted (413 above it)"
    )
    api_lookup_limit_per_address: str = Field(
        "120/minute", description="public lookups per client address (limits syntax: N/period)"
    )
    api_lookup_limit_per_parcel: str = Field(
        "60/minute", description="public lookups per tracking number"
    )
    api_proof_failure_limit: str = Field(
        "10/hour",
        description="lookups with a phone_last4 that did not match, per tracking number, "
        "before proof attempts for it are refused (stops guessing the 10,000 combinations)",
    )
    api_signature_tolerance: timedelta = Field(
        timedelta(minutes=5), description="how far a signed request's timestamp may be off"
    )
    api_idempotency_ttl: timedelta = Field(
        timedelta(hours=24), description="how long an Idempotency-Key's answer is kept"
    )
    api_ready_max_lag: timedelta = Field(
        timedelta(seconds=60),
        description="/readyz fails when a read model is further behind the log than this",
    )
    api_ready_projections: list[str] = Field(
        ["tracking", "exceptions"], description="read models /readyz checks (JSON list)"
    )
    credentials_master_key: SecretStr | None = Field(
        None,
        description="base64 32-byte key that wraps the API keys' request-signing secrets; "
        "absent: stored unwrapped (development only)",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
