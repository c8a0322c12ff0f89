"""Wires adapters into the application: the one place a ParcelService is built.

From the settings: the event store (SQLite or PostgreSQL), the key store and its master
key, the facility registry, the service-level policy, the scan limits, the ingest
cache. Every process gets its service here. What belongs to one entry point alone is
wired there from the same settings object: the API's credential store and request log
(`api/app.py`), the workers' Kafka clients, SMTP and webhooks (`consumers/`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from parcelflow.adapters.keystore import keystore_for
from parcelflow.adapters.sealing import KeyWrap
from parcelflow.adapters.store import schema_lock, store_env
from parcelflow.application.service import ParcelService, utcnow
from parcelflow.domain.network import Network
from parcelflow.settings import Settings, get_settings
from parcelflow.wire.scans import ScanLimits


@lru_cache(maxsize=8)  # read once per process: staff screens ask it for every time shown
def load_network(path: Path | None = None) -> Network:
    """The facility registry: the given file, or the bundled demo network."""
    text = path.read_text() if path else (files("parcelflow") / "data" / "network.json").read_text()
    return Network.from_dict(json.loads(text))


def build_service(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    cache_size: int | None = None,
) -> ParcelService:
    settings = settings or get_settings()
    master = settings.pii_master_key.get_secret_value() if settings.pii_master_key else None
    wrap = KeyWrap.from_setting(master)
    with schema_lock(settings.database_url):  # the service creates its tables
        return ParcelService(
            store_env(settings.database_url),
            keys=lambda datastore: keystore_for(datastore, wrap),
            network=load_network(settings.network_file),
            policy=settings.policy.build(),
            limits=ScanLimits(settings.scan_max_future, settings.scan_max_age,
                              settings.max_batch, settings.tracking_numbers()),
            clock=clock,
            cache_size=settings.ingest_cache_size if cache_size is None else cache_size,
        )
