"""The fakes beside the application's ports keep the same contracts as the real
adapters (tests/integration/test_store_contract.py runs these on SQLite and PostgreSQL)."""

from __future__ import annotations

from parcelflow.application.ports import InMemoryKeyStore, InMemoryParcelRecorder
from tests.support.contracts import check_key_store, check_parcel_recorder
from tests.support.in_memory import in_memory_service


def test_the_in_memory_key_store_keeps_the_key_store_contract():
    check_key_store(InMemoryKeyStore())


def test_the_in_memory_recorder_keeps_the_recorder_contract():
    service = in_memory_service()
    assert isinstance(service.recorder, InMemoryParcelRecorder)
    check_parcel_recorder(service)
