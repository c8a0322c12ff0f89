"""Settings for a test that runs Kafka workers on the test broker: topics and groups of
its own, idempotence off (the broker refuses kafka-python's InitProducerId), short
session timeouts (faster group joins), quick retries."""

from __future__ import annotations

import json
from typing import Any

from parcelflow.settings import Settings
from tests.support.kafka_broker import unique_name


def kafka_test_settings(database_url: str, bootstrap: str, **overrides: Any) -> Settings:
    name = unique_name("pf")
    values: dict[str, Any] = dict(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        kafka_idempotence=False,
        kafka_partitions=4,
        kafka_session_timeout_ms=6000,
        kafka_heartbeat_interval_ms=1000,
        kafka_scans_topic=f"{name}.scans",
        kafka_scans_dlq_topic=f"{name}.scans.dlq",
        kafka_events_topic=f"{name}.parcel-events",
        kafka_notifications_dlq_topic=f"{name}.notifications.dlq",
        kafka_ingest_group=f"{name}-ingest",
        kafka_notify_group=f"{name}-notify",
        kafka_send_timeout=5.0,
        notify_retry_seconds=0.05,
        notify_max_attempts=3,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as PARCELFLOW_* variables, for a worker in a child process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        raw = getattr(settings, name)
        if hasattr(raw, "get_secret_value"):
            value = raw.get_secret_value()
        if name == "merchant_webhooks":
            value = json.dumps({k: {"url": v["url"],
                                    "secret": settings.merchant_webhooks[k].secret.get_secret_value()}
                                for k, v in value.items()})
        elif isinstance(value, (dict, list)):
            value = json.dumps(value)
        env[f"PARCELFLOW_{name.upper()}"] = str(value)
    return env
