"""The read models by name, and how to build their runners on a service's database."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from parcelflow.application.service import ParcelService
from parcelflow.application.sharding import ShardedParcelService
from parcelflow.projections.base import ParcelProjection, Replica, ViewStore, view_store
from parcelflow.projections.cases import Cases
from parcelflow.projections.daily_stats import DailyStats
from parcelflow.projections.exception_queue import ExceptionQueue
from parcelflow.projections.runner import Runner
from parcelflow.projections.sharded import ShardedRunner
from parcelflow.projections.tracking_view import TrackingView
from parcelflow.settings import get_settings

PROJECTIONS: dict[str, type[ParcelProjection]] = {
    "tracking": TrackingView,
    "exceptions": ExceptionQueue,
    "stats": DailyStats,
    "cases": Cases,
}
# The names as a type, for the command line's choices.
ProjectionName = StrEnum(  # type: ignore[misc]
    "ProjectionName", {name.upper(): name for name in PROJECTIONS})


def open_view(service: ParcelService, name: str) -> ViewStore:
    """A read model's store, on the same database as the events."""
    return view_store(PROJECTIONS[name].store, service.factory.datastore)  # type: ignore[attr-defined]


def runner(service: ParcelService, name: str, *, batch_size: int = 1000,
           replica_size: int | None = None) -> Runner:
    """`replica_size`: parcels kept in memory (default: PARCELFLOW_PROJECTION_CACHE_SIZE)."""
    if name not in PROJECTIONS:
        raise KeyError(f"no projection {name!r}; known: {', '.join(PROJECTIONS)}")
    size = replica_size or get_settings().projection_cache_size
    projection = PROJECTIONS[name](open_view(service, name), Replica(service, size))
    if isinstance(service, ShardedParcelService):  # one view fed by every shard's log
        return ShardedRunner(projection, service, batch_size=batch_size)  # type: ignore[return-value]
    return Runner(projection, service, batch_size=batch_size)


def runners(service: ParcelService, names: Sequence[str] = (), **kwargs: int) -> list[Runner]:
    return [runner(service, name, **kwargs) for name in (names or PROJECTIONS)]
