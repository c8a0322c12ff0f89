"""What the API's routes share: the service, the settings and the API's own stores."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request

from parcelflow.adapters.credentials import CredentialStore
from parcelflow.adapters.positions import PositionStore
from parcelflow.adapters.request_log import RequestLog
from parcelflow.api.ratelimit import LookupLimits
from parcelflow.api.tracking import PhoneProofs, TrackingRows
from parcelflow.application.service import ParcelService
from parcelflow.settings import Settings


T = TypeVar("T")


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
    lag_runners: list[Any]  # read models /readyz watches (never run here: lag only)
    positions: PositionStore | None = None  # the relay's saved position (with Kafka)
    write_lock: threading.Lock = field(default_factory=threading.Lock)

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


def context(request: Request) -> ApiContext:
    return request.app.state.ctx  # type: ignore[no-any-return]
