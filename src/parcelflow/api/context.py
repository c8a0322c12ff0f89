"""What the API's routes share: the service, the settings and the API's own stores."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request

from parcelflow.adapters.credentials import CredentialCache, CredentialStore
from parcelflow.adapters.positions import PositionStore
from parcelflow.adapters.request_log import RequestLog
from parcelflow.api.group_commit import GroupCommit
from parcelflow.api.problems import Problem
from parcelflow.api.ratelimit import LookupLimits
from parcelflow.api.tracking import PhoneProofs, TrackingRows
from parcelflow.application.service import ParcelService
from parcelflow.settings import Settings


T = TypeVar("T")


class Recent:
    """The last answer of a computation, reused for `seconds`. A flood of scrapes or
    probes then costs the database one read per interval, not one per request; the lock
    makes concurrent callers wait for the one computing instead of all computing."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._value: Any = None

    def get(self, compute: Callable[[], T]) -> T:
        with self._lock:
            now = time.monotonic()
            if now - self._at >= self.seconds:
                self._value = compute()
                self._at = time.monotonic()
            return self._value  # type: ignore[no-any-return]


@dataclass
class ApiContext:
    settings: Settings
    service: ParcelService
    credentials: CredentialStore
    requests: RequestLog
    limits: LookupLimits
    proofs: PhoneProofs
    tracking: TrackingRows  # the tracking view's rows (projections)
    exceptions: Any  # the exception queue's store (projections)
    stats: Any  # the daily statistics' store (projections)
    lag_runners: list[Any]  # read models /readyz watches (never run here: lag only)
    cases: Any = None  # the cases read model's store: complaints, claims, follow-ups
    surveys: Any = None  # application/surveys.py; None without PARCELFLOW_SURVEY_SECRET
    positions: list[PositionStore] | None = None  # each shard relay's position (with Kafka)
    recent_readiness: Recent = field(default_factory=lambda: Recent(1.0))
    recent_gauges: Recent = field(default_factory=lambda: Recent(1.0))
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    # Verified bearer tokens, reused for a few seconds (adapters/credentials.py).
    credential_cache: CredentialCache | None = None
    scan_writes: GroupCommit = field(init=False)

    def __post_init__(self) -> None:
        # Concurrent scan batches, written together under `write_lock` (api/group_commit.py).
        self.scan_writes = GroupCommit(self.write_lock, self.service.limits.max_batch,
                                       self.settings.api_scan_group_wait.total_seconds())
        if self.credential_cache is None:
            self.credential_cache = CredentialCache(
                self.credentials, self.settings.api_credential_cache_seconds)

    def check_tracking_no(self, value: str, field: str) -> str:
        """`value` if it is in one of the configured formats; else a 422 problem."""
        problem = self.service.limits.tracking_numbers.problem(value)
        if problem:
            raise Problem(422, "validation", "the request does not match the API's schema",
                          errors=[{"field": field, "reason": problem}])
        return value

    def write(self, change: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a change through the service, one at a time in this process.

        The service keeps parcels in memory between batches (its ingest cache), and a
        cached parcel is a mutable object: two requests changing it on two threads at
        once would corrupt it. Writers are serialised by the store's table lock
        anyway, so this lock costs little; another process writing the same parcel
        makes a cached copy stale, which the store refuses as a conflict and the
        service reloads.
        """
        with self.write_lock:
            return change(*args, **kwargs)

    def ingest(self, items: list[Any]) -> Any:
        """Record a batch of scans, grouped with other requests' (api/group_commit.py)."""
        return self.scan_writes.ingest(self.service.ingest, items)


def context(request: Request) -> ApiContext:
    return request.app.state.ctx  # type: ignore[no-any-return]
