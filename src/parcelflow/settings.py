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


@lru_cache
def get_settings() -> Settings:
    return Settings()
