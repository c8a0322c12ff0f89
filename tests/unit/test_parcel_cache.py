"""The ingest cache keeps the most recently used parcels, up to its size."""

from __future__ import annotations

from uuid import uuid4

from parcelflow.application.unit_of_work import ParcelCache


def test_the_least_recently_used_parcel_is_dropped_first():
    cache = ParcelCache(2)
    a, b, c = uuid4(), uuid4(), uuid4()
    cache.put(a, "parcel a")  # type: ignore[arg-type]
    cache.put(b, "parcel b")  # type: ignore[arg-type]
    assert cache.get(a) == "parcel a"  # now b is the least recently used
    cache.put(c, "parcel c")  # type: ignore[arg-type]
    assert cache.get(b) is None and cache.get(a) == "parcel a" and cache.get(c) == "parcel c"
    assert len(cache) == 2


def test_an_evicted_parcel_is_gone_and_evicting_an_unknown_one_is_harmless():
    cache = ParcelCache(10)
    a = uuid4()
    cache.put(a, "parcel a")  # type: ignore[arg-type]
    cache.evict(a)
    cache.evict(uuid4())
    assert cache.get(a) is None and len(cache) == 0
    cache.put(a, "again")  # type: ignore[arg-type]
    cache.put(a, "newer")  # type: ignore[arg-type]
    assert cache.get(a) == "newer" and len(cache) == 1
