"""What every long-running command (`serve`, `ingest-worker`, `relay`, `notify`, `project
--follow`, `detect --every`, `checkpoint --every`) does on start: refuse to run in
production without its master keys, stop cleanly on SIGINT/SIGTERM, and serve its own
Prometheus metrics when `PARCELFLOW_METRICS_PORT` is set.

Each process counts what it did itself (scans ingested, events relayed, notifications
sent and failed, dead letters, detector passes), so each is scraped on its own port; the
API's `/metrics` adds the gauges read from the database (read-model and relay lag, open
exceptions).
"""

from __future__ import annotations

import signal
import sys
import threading

import structlog
from prometheus_client import start_http_server

from parcelflow import metrics
from parcelflow.adapters.store import is_postgres
from parcelflow.settings import Settings

log = structlog.get_logger(__name__)


class MissingMasterKeys(SystemExit):
    pass


def require_master_keys(settings: Settings, command: str) -> None:
    """On PostgreSQL (production), refuse to start without the master keys that wrap the
    per-parcel data keys and the API keys' signing secrets: without them those would be
    stored in the clear, readable from any backup. A development run says so."""
    if settings.development or not is_postgres(settings.database_url):
        return
    missing = [name for name, value in (
        ("PARCELFLOW_PII_MASTER_KEY", settings.pii_master_key),
        ("PARCELFLOW_CREDENTIALS_MASTER_KEY", settings.credentials_master_key)) if not value]
    if missing:
        log.error("startup.master_keys_missing", command=command, missing=missing)
        sys.stderr.write(
            f"error: parcelflow {command} will not run on PostgreSQL without "
            f"{' and '.join(missing)} (base64 32-byte keys: openssl rand -base64 32); "
            "set PARCELFLOW_DEVELOPMENT=true for a development run\n")
        raise MissingMasterKeys(2)


def until_signalled(settings: Settings, command: str, *, metrics_served: bool = True
                    ) -> threading.Event:
    """An event set by SIGINT or SIGTERM; the metrics endpoint started if configured
    (and `metrics_served`: `dev` leaves the port to the workers it starts). Refuses to
    start without the master keys in production (`require_master_keys`)."""
    require_master_keys(settings, command)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if settings.metrics_port and metrics_served:
        try:
            start_http_server(settings.metrics_port, addr=settings.metrics_host,
                              registry=metrics.REGISTRY)
        except OSError as e:  # the port is taken, or the host is not this machine's
            log.error("metrics.unavailable", command=command, host=settings.metrics_host,
                      port=settings.metrics_port, error=e.strerror)
            sys.stderr.write(
                f"error: parcelflow {command} cannot serve its metrics on "
                f"{settings.metrics_host}:{settings.metrics_port} (PARCELFLOW_METRICS_HOST, "
                f"PARCELFLOW_METRICS_PORT): {e.strerror}\n")
            raise SystemExit(1) from None
        log.info("metrics.serving", command=command, host=settings.metrics_host,
                 port=settings.metrics_port)
    return stop
