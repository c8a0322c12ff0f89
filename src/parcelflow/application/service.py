"""ParcelService: the parcels' application — the event store, the unit of work every
write runs in, personal data, and the batch use cases.

    ingest, register       batches of scans and manifests (application/ingest.py,
                           application/registration.py), one unit of work each
    get, as_of, stored_events
                           reads, always from the store

Every other use case is an application service of its own, built on this one and
used alike by the CLI, the API and the web pages: the exception workflow
(`application/exceptions.py`), complaints, claims, corrections, parcel administration,
erasure, the detectors, the audit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from parcelflow.application.errors import ParcelNotFound
from parcelflow.application.ingest import ingest_scans
from parcelflow.application.personal_data import PersonalData
from parcelflow.application.ports import KeyStore, ParcelRecorder
from parcelflow.application.registration import register_manifests
from parcelflow.application.results import BatchReport, Written
from parcelflow.application.unit_of_work import UnitOfWork, replay
from parcelflow.domain.errors import DomainError
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.network import Network
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.policy import Policy
from parcelflow.wire.scans import ScanLimits

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ParcelService(Application[UUID]):
    name = "parcelflow"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        keys: KeyStore | Callable[[Any], KeyStore],
        network: Network,
        policy: Policy | None = None,
        limits: ScanLimits | None = None,
        clock: Callable[[], datetime] = utcnow,
        cache_size: int = 0,
    ):
        super().__init__(env)
        self.recorder: ParcelRecorder  # type: ignore[assignment]
        self.network = network
        self.policy = policy or Policy()
        self.limits = limits or ScanLimits()
        self.clock = clock
        store = keys if isinstance(keys, KeyStore) else keys(self.factory.datastore)  # type: ignore[attr-defined]
        self.personal = PersonalData(store)
        # `cache_size`: parcels the ingest path keeps in memory between batches (see
        # application/unit_of_work.py for what keeps that safe).
        self.work = UnitOfWork(self, cache_size=cache_size)

    # ---- writes --------------------------------------------------------------------

    def ingest(self, items: Sequence[Any], *, now: datetime | None = None) -> BatchReport:
        """Record a batch of scans (wire format v1): one result per item, in order."""
        return ingest_scans(self.work, items, network=self.network, limits=self.limits,
                            personal=self.personal, now=now or self.clock())

    def register(self, items: Sequence[Any], *, by: str | None = None) -> BatchReport:
        """Register parcels from manifests (wire format v1): one result per item."""
        return register_manifests(self.work, items, personal=self.personal, now=self.clock(),
                                  tracking_numbers=self.limits.tracking_numbers,
                                  cities=self.network.cities, by=by)

    def command(self, tracking_no: str, action: Callable[[Parcel], T]) -> Written[T]:
        """Run one command on one parcel and save what it did: its answer and the log
        position it reached (the use-case services are built on this)."""
        return self.work.command(tracking_no, action)

    def command_many(self, actions: dict[str, Callable[[Parcel], T]]
                     ) -> dict[str, T | DomainError | ParcelNotFound]:
        """A command on each of many parcels in one unit of work (the detectors')."""
        return self.work.command_many(actions)

    def load_many(self, ids: Collection[UUID], *, use_cache: bool = True) -> dict[UUID, Parcel]:
        """Parcels by id, from the ingest cache or in one query; unknown ids are left out."""
        return self.work.load_many(ids, use_cache=use_cache)

    # ---- reads ---------------------------------------------------------------------

    def get(self, tracking_no: str) -> Parcel:
        """The parcel as stored now (never from the ingest cache)."""
        try:
            parcel = self.repository.get(parcel_id(tracking_no))
        except AggregateNotFoundError:
            raise ParcelNotFound(tracking_no) from None
        assert isinstance(parcel, Parcel)
        return parcel

    def stored_events(self, tracking_no: str) -> list[Parcel.Event]:
        """A parcel's events in order, as stored."""
        events: list[Parcel.Event] = list(self.events.get(parcel_id(tracking_no)))  # type: ignore[arg-type]
        if not events:
            raise ParcelNotFound(tracking_no)
        return events

    def as_of(self, tracking_no: str, moment: datetime) -> Parcel:
        """The parcel as the system knew it at `moment` (events recorded by then)."""
        known = [e for e in self.stored_events(tracking_no) if e.recorded_at <= moment]
        if not known:
            raise ParcelNotFound(tracking_no)
        return replay(known)
