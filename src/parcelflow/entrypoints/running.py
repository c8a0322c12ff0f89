"""What every long-running command (`ingest-worker`, `relay`, `notify`, `project
--follow`, `detect --every`) does on start: stop cleanly on SIGINT/SIGTERM, and serve its
own Prometheus metrics when `PARCELFLOW_METRICS_PORT` is set.

Each process counts what it did itself (scans ingested, events relayed, notifications
sent and failed, dead letters, detector passes), so each is scraped on its own port; the
API's `/metrics` adds the gauges read from the database (read-model and relay lag, open
exceptions).
"""

from __future__ import annotations

import signal
import threading

import structlog
from prometheus_client import start_http_server

from parcelflow import metrics
from parcelflow.settings import Settings

log = structlog.get_logger(__name__)


def until_signalled(settings: Settings, command: str, *, metrics_served: bool = True
                    ) -> threading.Event:
    """An event set by SIGINT or SIGTERM; the metrics endpoint started if configured
    (and `metrics_served`: `dev` leaves the port to the workers it starts)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if settings.metrics_port and metrics_served:
        start_http_server(settings.metrics_port, addr=settings.metrics_host,
                          registry=metrics.REGISTRY)
        log.info("metrics.serving", command=command, host=settings.metrics_host,
                 port=settings.metrics_port)
    return stop
