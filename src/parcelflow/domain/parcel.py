"""The Parcel aggregate: a parcel's whole life as immutable events.

Commands append events; nothing is ever edited or deleted. A wrong scan is voided or
amended by a correction event that points at it. Every event carries the time it
happened (`occurred_at`, device clock), the time it was recorded (`recorded_at`,
server clock), who reported it, and the SHA-256 of the event before it.

The aggregate is put together here from its parts, one module each:

    parcel_core.py   the events' base, what a parcel knows, `_emit`
    scanning.py      scans
    exceptions.py    exceptions: raised by the timeline (`reconcile`), by staff and by
                     detectors; the customer-service workflow; SLA breaches
    waiting.py       an exception waiting on the customer or a third party (clocks stop)
    complaints.py    complaints (each on its own exception)
    followups.py     the follow-up call a resolution makes due, and its outcomes
    satisfaction.py  the receiver's ratings (a low one makes a follow-up due)
    claims.py        claims and compensation
    corrections.py   voids and amendments; cancel, dispose, redirect, promised time, ETA,
                     erasure

and here: registration, and the manifest that arrives after the first scan.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from parcelflow.domain import (
    chain,
    claims,
    complaints,
    corrections,
    exceptions,
    followups,
    satisfaction,
    scanning,
    waiting,
)
from parcelflow.domain.errors import DomainError
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.manifest import Manifest
from parcelflow.domain.parcel_core import ParcelCore, ParcelEvent
from parcelflow.domain.vocabulary import Fact


class Registered(ParcelEvent, Aggregate.Created):
    tracking_no: str
    manifest: dict[str, Any]

    def on(self, parcel: ParcelCore) -> None:
        parcel._start(self.tracking_no)
        parcel._set_manifest(Manifest.from_event(self.manifest))
        parcel._add_entry(self, Fact.REGISTERED)


class SeenBeforeManifest(ParcelEvent, Aggregate.Created):
    """Created by a scan for a tracking number whose manifest has not arrived."""

    tracking_no: str

    def on(self, parcel: ParcelCore) -> None:
        parcel._start(self.tracking_no)


class ManifestAttached(ParcelEvent):
    manifest: dict[str, Any]

    def on(self, parcel: ParcelCore) -> None:
        parcel._set_manifest(Manifest.from_event(self.manifest))
        parcel._add_entry(self, Fact.MANIFEST_ATTACHED)


class Parcel(
    scanning.ScanCommands,
    satisfaction.SatisfactionCommands,
    followups.FollowUpCommands,
    complaints.ComplaintCommands,
    claims.ClaimCommands,
    corrections.CorrectionCommands,
    waiting.WaitingCommands,
    exceptions.ExceptionCommands,
    Aggregate,
):
    """One parcel, identified by its tracking number."""

    # The base of every parcel event. Named here so the library takes the events below
    # as this aggregate's own instead of redefining them; and each is an attribute of
    # Parcel, which is how their stored topics (`...parcel:Parcel.<Name>`) resolve.
    Event = ParcelEvent

    Registered = Registered
    SeenBeforeManifest = SeenBeforeManifest
    ManifestAttached = ManifestAttached

    ScanRecorded = scanning.ScanRecorded

    ExceptionRaised = exceptions.ExceptionRaised
    ExceptionAcknowledged = exceptions.ExceptionAcknowledged
    ExceptionResolved = exceptions.ExceptionResolved
    ExceptionReopened = exceptions.ExceptionReopened
    ExceptionHandedOver = exceptions.ExceptionHandedOver
    CustomerContacted = exceptions.CustomerContacted
    ExceptionEscalated = exceptions.ExceptionEscalated
    SlaBreached = exceptions.SlaBreached
    ConditionEnded = exceptions.ConditionEnded
    ExceptionAwaiting = waiting.ExceptionAwaiting
    ExceptionResumed = waiting.ExceptionResumed

    ComplaintFiled = complaints.ComplaintFiled
    ComplaintClosed = complaints.ComplaintClosed
    ComplaintReopened = followups.ComplaintReopened
    FollowUpDue = followups.FollowUpDue
    FollowUpRecorded = followups.FollowUpRecorded
    SatisfactionRated = satisfaction.SatisfactionRated

    ClaimFiled = claims.ClaimFiled
    ClaimAssessed = claims.ClaimAssessed
    ClaimApproved = claims.ClaimApproved
    ClaimRejected = claims.ClaimRejected
    ClaimPaid = claims.ClaimPaid

    EventVoided = corrections.EventVoided
    ScanAmended = corrections.ScanAmended
    Cancelled = corrections.Cancelled
    Disposed = corrections.Disposed
    ReceiverRedirected = corrections.ReceiverRedirected
    PromisedTimeChanged = corrections.PromisedTimeChanged
    EtaRevised = corrections.EtaRevised
    PersonalDataErased = corrections.PersonalDataErased

    @staticmethod
    def create_id(tracking_no: str) -> UUID:
        return parcel_id(tracking_no)

    @classmethod
    def register(cls, manifest: Manifest, *, recorded_at: datetime,
                 operator_id: str | None = None) -> Parcel:
        return cls._begin(Registered, manifest.tracking_no, recorded_at=recorded_at,
                          operator_id=operator_id, manifest=manifest.to_event())

    @classmethod
    def seen_before_manifest(cls, tracking_no: str, *, recorded_at: datetime) -> Parcel:
        return cls._begin(SeenBeforeManifest, tracking_no, recorded_at=recorded_at)

    @classmethod
    def _begin(cls, event_class: type[ParcelEvent], tracking_no: str, *,
               recorded_at: datetime, operator_id: str | None = None,
               **payload: Any) -> Parcel:
        """A parcel's first event: the start of its hash chain, under the id its
        tracking number maps to."""
        return cls._create(
            event_class,  # type: ignore[arg-type]
            id=parcel_id(tracking_no),
            timestamp=recorded_at,
            occurred_at=recorded_at,
            recorded_at=recorded_at,
            device_id=None,
            operator_id=operator_id,
            previous_hash=chain.GENESIS,
            event_hash="",
            tracking_no=tracking_no,
            **payload,
        )

    def attach_manifest(self, manifest: Manifest, *, recorded_at: datetime,
                        operator_id: str | None = None) -> None:
        if self.manifest is not None:
            raise DomainError(f"{self.tracking_no} already has a manifest")
        self._emit(ManifestAttached, recorded_at=recorded_at, operator_id=operator_id,
                   manifest=manifest.to_event())
        self.reconcile(recorded_at)


__all__ = ["Parcel"]
