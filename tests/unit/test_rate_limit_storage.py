"""The in-process rate-limit counters: the same limits as the library's `memory://`,
without its expiry thread, and still bounded: expired keys are dropped as counting goes on."""

from __future__ import annotations

import threading
import time

import pytest

from parcelflow.api.problems import Problem
from parcelflow.api.ratelimit import LookupLimits, SweptMemoryStorage, open_storage


def test_memory_urls_count_in_the_swept_storage():
    assert isinstance(open_storage("memory://"), SweptMemoryStorage)


def test_the_limit_still_refuses_past_its_rate_and_names_a_wait():
    limits = LookupLimits("3/minute", "100/minute", "5/hour")
    for _ in range(3):
        limits.per_address.hit("198.51.100.7")
    with pytest.raises(Problem) as refused:
        limits.per_address.hit("198.51.100.7")
    assert refused.value.status == 429
    assert int(refused.value.headers["Retry-After"]) >= 1
    limits.per_address.hit("198.51.100.8")  # another client is not held back


def test_counting_starts_no_thread():
    limits = LookupLimits("1000/minute", "1000/minute", "5/hour")
    before = set(threading.enumerate())
    for n in range(2000):
        limits.per_parcel.hit(f"PF{n:012d}")
    assert set(threading.enumerate()) - before == set()


def test_keys_nobody_counts_again_are_dropped_once_expired():
    limits = LookupLimits("1000/second", "1000/second", "5/hour")
    storage = limits.per_parcel._limiter.storage
    for n in range(500):
        limits.per_parcel.hit(f"PF{n:012d}")
    assert len(storage.storage) >= 500
    time.sleep(2.1)  # past both windows a sliding-window counter keeps
    for _ in range(600):  # counting on one other key sweeps the rest in turn
        limits.per_address.hit("198.51.100.7")
    assert len(storage.storage) <= 10
