"""A ParcelService on the application's fakes (application/ports.py): for unit tests
that isolate a use case; the integration tests run the same on real databases."""

from __future__ import annotations

from typing import Any

from parcelflow.application.ports import IN_MEMORY, InMemoryKeyStore
from parcelflow.application.service import ParcelService
from parcelflow.bootstrap import load_network
from tests.support.builders import Clock


def in_memory_service(clock: Clock | None = None, **kwargs: Any) -> ParcelService:
    """Events and keys in memory, the bundled network, a clock the test moves."""
    return ParcelService(IN_MEMORY, keys=InMemoryKeyStore(), network=load_network(),
                         clock=clock or Clock(), **kwargs)
