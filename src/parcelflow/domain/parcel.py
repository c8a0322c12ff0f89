"""The Parcel aggregate: a parcel's whole life as immutable events.

Commands append events; nothing is ever edited or deleted. A wrong scan is voided or
amended by a correction event that points at it. Every event carries the time it
happened (`occurred_at`, device clock), the time it was recorded (`recorded_at`,
server clock), who reported it, and the SHA-256 of the event before it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from parcelflow.domain import chain
from parcelflow.domain.ids import exception_id, parcel_id
from parcelflow.domain.manifest import Manifest
from parcelflow.domain.timeline import Entry, ParcelState, Scan, Timeline
from parcelflow.domain.vocabulary import (
    ATTEMPT_REASONS,
    EXCEPTION_RULES,
    Actor,
    ExceptionCode,
    TERMINAL_STATUSES,
    ExceptionStatus,
    FacilityKind,
    Flag,
    Outcome,
    ScanType,
    Severity,
    Status,
)

SYSTEM = "system"  # the actor for what the domain does on its own

_SCAN_TYPES: dict[str, ScanType] = {str(t): t for t in ScanType}
_CODES: dict[str | None, ExceptionCode] = {str(c): c for c in ExceptionCode}
_KINDS: dict[str | None, FacilityKind] = {str(k): k for k in FacilityKind}


class DomainError(Exception):
    """A command that the parcel's current state does not allow."""


@dataclass(frozen=True)
class ExceptionRecord:
    exception_id: str
    code: ExceptionCode
    severity: Severity
    owner: Actor  # who must act
    customer_facing: bool
    cause: str  # the scan id (or other key) that caused it
    auto: bool  # derived from the timeline (and cleared by it), not raised by a person
    detail: str
    occurred_at: datetime
    raised_at: datetime
    raised_by: str
    status: ExceptionStatus = ExceptionStatus.OPEN
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    outcome: Outcome | None = None
    note: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status != ExceptionStatus.RESOLVED


class Parcel(Aggregate):
    """One parcel, identified by its tracking number."""

    class Event(Aggregate.Event):
        occurred_at: datetime
        recorded_at: datetime
        device_id: str | None
        operator_id: str | None
        previous_hash: str
        event_hash: str

        def __post_init__(self) -> None:
            super().__post_init__()
            # Computed once, when the event is first made. Events read back from the
            # store keep the hash they were stored with, which is what `verify` checks.
            if not self.event_hash:
                object.__setattr__(
                    self, "event_hash", chain.digest(get_topic(type(self)), vars(self))
                )

        def apply(self, aggregate: Parcel) -> None:
            self.on(aggregate)
            aggregate.head_hash = self.event_hash
            aggregate._derived = None

        def on(self, parcel: Parcel) -> None:
            """How this event changes the parcel."""

    class Registered(Event, Aggregate.Created):
        tracking_no: str
        manifest: dict[str, Any]

        def on(self, parcel: Parcel) -> None:
            parcel._start(self.tracking_no)
            parcel._set_manifest(Manifest.from_event(self.manifest))
            parcel._add_entry(self, "registered")

    class SeenBeforeManifest(Event, Aggregate.Created):
        """Created by a scan for a tracking number whose manifest has not arrived."""

        tracking_no: str

        def on(self, parcel: Parcel) -> None:
            parcel._start(self.tracking_no)

    class ManifestAttached(Event):
        manifest: dict[str, Any]

        def on(self, parcel: Parcel) -> None:
            parcel._set_manifest(Manifest.from_event(self.manifest))
            parcel._add_entry(self, "manifest_attached")

    class ScanRecorded(Event):
        scan_id: str
        scan_type: str
        facility: str
        facility_kind: str | None
        next_facility: str | None
        exception_code: str | None
        attempt_reason: str | None
        signed_by: str | None
        note: str | None

        def on(self, parcel: Parcel) -> None:
            scan = self.to_scan()
            late = parcel.latest_scan_at is not None and scan.occurred_at < parcel.latest_scan_at
            if parcel.latest_scan_at is None or scan.occurred_at > parcel.latest_scan_at:
                parcel.latest_scan_at = scan.occurred_at
            parcel.scan_versions[self.scan_id] = self.originator_version
            parcel._add_entry(self, self.scan_type, scan=scan, late=late)

        def to_scan(self) -> Scan:
            # Plain dict lookups: Enum(value) calls cost more than the rest of this.
            return Scan(
                scan_id=self.scan_id,
                scan_type=_SCAN_TYPES[self.scan_type],
                occurred_at=self.occurred_at,
                facility=self.facility,
                device_id=self.device_id or "",
                operator_id=self.operator_id,
                next_facility=self.next_facility,
                exception_code=_CODES.get(self.exception_code),  # type: ignore[arg-type]
                attempt_reason=_CODES.get(self.attempt_reason),  # type: ignore[arg-type]
                signed_by=self.signed_by,
                note=self.note,
                facility_kind=_KINDS.get(self.facility_kind),  # type: ignore[arg-type]
            )

    class ExceptionRaised(Event):
        exception_id: str
        code: str
        severity: str
        owner: str
        customer_facing: bool
        cause: str
        auto: bool
        detail: str

        def on(self, parcel: Parcel) -> None:
            parcel.exceptions[self.exception_id] = ExceptionRecord(
                exception_id=self.exception_id,
                code=ExceptionCode(self.code),
                severity=Severity(self.severity),
                owner=Actor(self.owner),
                customer_facing=self.customer_facing,
                cause=self.cause,
                auto=self.auto,
                detail=self.detail,
                occurred_at=self.occurred_at,
                raised_at=self.recorded_at,
                raised_by=self.operator_id or SYSTEM,
            )
            parcel._add_entry(self, "exception_raised", code=self.code, detail=self.detail)

    class ExceptionAcknowledged(Event):
        exception_id: str

        def on(self, parcel: Parcel) -> None:
            parcel._update_exception(
                self.exception_id,
                status=ExceptionStatus.ACKNOWLEDGED,
                acknowledged_by=self.operator_id,
                acknowledged_at=self.recorded_at,
            )

    class ExceptionResolved(Event):
        exception_id: str
        outcome: str
        note: str | None

        def on(self, parcel: Parcel) -> None:
            record = parcel._update_exception(
                self.exception_id,
                status=ExceptionStatus.RESOLVED,
                resolved_by=self.operator_id or SYSTEM,
                resolved_at=self.recorded_at,
                outcome=Outcome(self.outcome),
                note=self.note,
            )
            parcel._add_entry(
                self, "exception_resolved", code=record.code, outcome=self.outcome, note=self.note
            )

    class ExceptionReopened(Event):
        exception_id: str
        reason: str

        def on(self, parcel: Parcel) -> None:
            record = parcel._update_exception(
                self.exception_id,
                status=ExceptionStatus.OPEN,
                resolved_by=None,
                resolved_at=None,
                outcome=None,
                note=self.reason,
            )
            parcel._add_entry(self, "exception_reopened", code=record.code, reason=self.reason)

    class EventVoided(Event):
        """A correction: the scan recorded by `target_version` did not happen."""

        target_version: int
        reason: str

        def on(self, parcel: Parcel) -> None:
            target = parcel.entries[self.target_version]
            parcel.entries.replace(replace(target, voided=True))
            parcel._add_entry(self, "correction", target_version=self.target_version,
                              reason=self.reason, action="voided")

    class ScanAmended(Event):
        """A correction: the scan recorded by `target_version` said something else."""

        target_version: int
        changes: dict[str, Any]
        reason: str

        def on(self, parcel: Parcel) -> None:
            target = parcel.entries[self.target_version]
            assert target.scan is not None
            scan = replace(target.scan, **_scan_changes(self.changes))
            parcel.entries.replace(replace(
                target, scan=scan, kind=str(scan.scan_type), occurred_at=scan.occurred_at,
                amended=True,
            ))
            parcel._add_entry(self, "correction", target_version=self.target_version,
                              reason=self.reason, action="amended",
                              changes=sorted(self.changes))

    class Cancelled(Event):
        reason: str

        def on(self, parcel: Parcel) -> None:
            parcel._add_entry(self, "cancelled", reason=self.reason)

    class Disposed(Event):
        reason: str

        def on(self, parcel: Parcel) -> None:
            parcel._add_entry(self, "disposed", reason=self.reason)

    class ReceiverRedirected(Event):
        receiver_sealed: str
        reason: str

        def on(self, parcel: Parcel) -> None:
            parcel.receiver_sealed = self.receiver_sealed
            parcel._add_entry(self, "receiver_redirected", reason=self.reason)

    class PromisedTimeChanged(Event):
        promised_by: datetime
        reason: str

        def on(self, parcel: Parcel) -> None:
            parcel.promised_by = self.promised_by
            parcel._add_entry(self, "promised_time_changed", promised_by=self.promised_by,
                              reason=self.reason)

    class EtaRevised(Event):
        eta: datetime
        reason: str

        def on(self, parcel: Parcel) -> None:
            parcel.eta = self.eta
            parcel._add_entry(self, "eta_revised", eta=self.eta, reason=self.reason)

    class PersonalDataErased(Event):
        """The parcel's data key was destroyed: its personal data is gone for good."""

        reason: str

        def on(self, parcel: Parcel) -> None:
            parcel.erased = True
            parcel._add_entry(self, "personal_data_erased", reason=self.reason)

    # ---- state -------------------------------------------------------------------

    def _start(self, tracking_no: str) -> None:
        self.tracking_no = tracking_no
        self.manifest: Manifest | None = None
        self.receiver_sealed: str | None = None
        self.promised_by: datetime | None = None
        self.eta: datetime | None = None
        self.entries = Timeline()
        self.scan_versions: dict[str, int] = {}
        self.exceptions: dict[str, ExceptionRecord] = {}
        self.latest_scan_at: datetime | None = None
        self.head_hash = chain.GENESIS
        self.erased = False
        self._derived: ParcelState | None = None

    def _set_manifest(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.receiver_sealed = manifest.receiver_sealed
        self.promised_by = manifest.promised_by

    def _add_entry(self, event: Parcel.Event, kind: str, scan: Scan | None = None,
                   late: bool = False, **detail: Any) -> None:
        self.entries.add(Entry(
            version=event.originator_version,
            kind=kind,
            occurred_at=event.occurred_at,
            recorded_at=event.recorded_at,
            scan=scan,
            detail=detail,
            late=late,
        ))

    def _update_exception(self, exc_id: str, **changes: Any) -> ExceptionRecord:
        record = replace(self.exceptions[exc_id], **changes)
        self.exceptions[exc_id] = record
        return record

    @property
    def state(self) -> ParcelState:
        """Status, flags, location and problems, as the timeline tells them."""
        if self._derived is None:
            open_flags = frozenset(
                rule_flag
                for r in self.exceptions.values()
                if r.is_open and not r.auto
                and (rule_flag := EXCEPTION_RULES[r.code].flag) is not None
            )
            self._derived = self.entries.state(
                manifested=self.manifest is not None, open_flags=open_flags
            )
        return self._derived

    @property
    def open_exceptions(self) -> list[ExceptionRecord]:
        return [r for r in self.exceptions.values() if r.is_open]

    def has_scan(self, scan_id: str) -> bool:
        return scan_id in self.scan_versions

    # ---- commands ----------------------------------------------------------------

    @staticmethod
    def create_id(tracking_no: str) -> UUID:
        return parcel_id(tracking_no)

    def _emit(self, event_class: type[Parcel.Event], *, recorded_at: datetime,
              occurred_at: datetime | None = None, device_id: str | None = None,
              operator_id: str | None = None, **payload: Any) -> None:
        self.trigger_event(
            event_class,
            timestamp=recorded_at,
            occurred_at=occurred_at or recorded_at,
            recorded_at=recorded_at,
            device_id=device_id,
            operator_id=operator_id,
            previous_hash=self.head_hash,
            event_hash="",
            **payload,
        )

    @classmethod
    def register(cls, manifest: Manifest, *, recorded_at: datetime,
                 operator_id: str | None = None) -> Parcel:
        parcel = cls._create(
            cls.Registered,
            id=parcel_id(manifest.tracking_no),
            timestamp=recorded_at,
            occurred_at=recorded_at,
            recorded_at=recorded_at,
            device_id=None,
            operator_id=operator_id,
            previous_hash=chain.GENESIS,
            event_hash="",
            tracking_no=manifest.tracking_no,
            manifest=manifest.to_event(),
        )
        return parcel

    @classmethod
    def seen_before_manifest(cls, tracking_no: str, *, recorded_at: datetime) -> Parcel:
        return cls._create(
            cls.SeenBeforeManifest,
            id=parcel_id(tracking_no),
            timestamp=recorded_at,
            occurred_at=recorded_at,
            recorded_at=recorded_at,
            device_id=None,
            operator_id=None,
            previous_hash=chain.GENESIS,
            event_hash="",
            tracking_no=tracking_no,
        )

    def attach_manifest(self, manifest: Manifest, *, recorded_at: datetime,
                        operator_id: str | None = None) -> None:
        if self.manifest is not None:
            raise DomainError(f"{self.tracking_no} already has a manifest")
        self._emit(self.ManifestAttached, recorded_at=recorded_at, operator_id=operator_id,
                   manifest=manifest.to_event())
        self.reconcile(recorded_at)

    def record_scans(self, scans: list[Scan], *, recorded_at: datetime) -> list[bool]:
        """Record scans; a scan id already recorded is a duplicate and changes nothing.

        Returns, per scan, whether it was recorded (False: duplicate).
        """
        recorded = []
        for scan in scans:
            if self.has_scan(scan.scan_id):
                recorded.append(False)
                continue
            self._emit(
                self.ScanRecorded,
                recorded_at=recorded_at,
                occurred_at=scan.occurred_at,
                device_id=scan.device_id,
                operator_id=scan.operator_id,
                scan_id=scan.scan_id,
                scan_type=str(scan.scan_type),
                facility=scan.facility,
                facility_kind=str(scan.facility_kind) if scan.facility_kind else None,
                next_facility=scan.next_facility,
                exception_code=str(scan.exception_code) if scan.exception_code else None,
                attempt_reason=str(scan.attempt_reason) if scan.attempt_reason else None,
                signed_by=scan.signed_by,
                note=scan.note,
            )
            recorded.append(True)
        if any(recorded):
            self.reconcile(recorded_at)
        return recorded

    def raise_exception(self, code: ExceptionCode, *, recorded_at: datetime, by: str,
                        detail: str = "", occurred_at: datetime | None = None) -> str:
        """Raise an exception by hand (staff) or by a detector.

        Idempotent per code: while an exception of this code is open, raising it again
        returns the open one instead of raising a second.
        """
        for record in self.open_exceptions:
            if record.code == code:
                return record.exception_id
        exc_id = exception_id(self.id, code, f"raised@{self.version + 1}")
        self._raise(exc_id, code, cause=f"raised@{self.version + 1}", auto=False, detail=detail,
                    recorded_at=recorded_at, occurred_at=occurred_at, by=by)
        self.reconcile(recorded_at)
        return exc_id

    def _raise(self, exc_id: str, code: ExceptionCode, *, cause: str, auto: bool, detail: str,
               recorded_at: datetime, occurred_at: datetime | None, by: str | None) -> None:
        rule = EXCEPTION_RULES[code]
        self._emit(
            self.ExceptionRaised,
            recorded_at=recorded_at,
            occurred_at=occurred_at,
            operator_id=by,
            exception_id=exc_id,
            code=str(code),
            severity=str(rule.severity),
            owner=str(rule.owner),
            customer_facing=rule.customer_facing,
            cause=cause,
            auto=auto,
            detail=detail or rule.description,
        )

    def _exception(self, exc_id: str) -> ExceptionRecord:
        try:
            return self.exceptions[exc_id]
        except KeyError:
            raise DomainError(f"{self.tracking_no} has no exception {exc_id}") from None

    def acknowledge_exception(self, exc_id: str, *, by: str, recorded_at: datetime) -> None:
        record = self._exception(exc_id)
        if record.status != ExceptionStatus.OPEN:
            raise DomainError(f"exception {exc_id} is {record.status}, not open")
        self._emit(self.ExceptionAcknowledged, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id)

    def resolve_exception(self, exc_id: str, outcome: Outcome, *, by: str,
                          recorded_at: datetime, note: str | None = None) -> None:
        record = self._exception(exc_id)
        if not record.is_open:
            raise DomainError(f"exception {exc_id} is already resolved")
        self._emit(self.ExceptionResolved, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id, outcome=str(outcome), note=note)

    def void(self, target_version: int, *, reason: str, by: str, recorded_at: datetime) -> None:
        target = self._correctable(target_version)
        if target.voided:
            raise DomainError(f"event {target_version} is already voided")
        self._emit(self.EventVoided, recorded_at=recorded_at, operator_id=by,
                   target_version=target_version, reason=reason)
        self.reconcile(recorded_at)

    def amend_scan(self, target_version: int, changes: dict[str, Any], *, reason: str, by: str,
                   recorded_at: datetime) -> None:
        target = self._correctable(target_version)
        if target.voided:
            raise DomainError(f"event {target_version} is voided; it cannot be amended")
        unknown = set(changes) - Scan.AMENDABLE
        if unknown:
            raise DomainError(f"cannot amend {', '.join(sorted(unknown))} of a scan")
        _scan_changes(changes)  # fails here, before anything is recorded, if a value is bad
        self._emit(self.ScanAmended, recorded_at=recorded_at, operator_id=by,
                   target_version=target_version, changes=dict(changes), reason=reason)
        self.reconcile(recorded_at)

    def _correctable(self, target_version: int) -> Entry:
        entry = self.entries.get(target_version)
        if entry is None or entry.scan is None:
            raise DomainError(
                f"event {target_version} of {self.tracking_no} is not a scan; only scans are "
                "corrected (other facts have their own commands)"
            )
        return entry

    def cancel(self, *, reason: str, by: str, recorded_at: datetime) -> None:
        if self.state.status in TERMINAL_STATUSES:
            raise DomainError(f"{self.tracking_no} is {self.state.status}; it cannot be cancelled")
        self._emit(self.Cancelled, recorded_at=recorded_at, operator_id=by, reason=reason)
        self.reconcile(recorded_at)

    def dispose(self, *, reason: str, by: str, recorded_at: datetime) -> None:
        if self.state.status == Status.DISPOSED:
            raise DomainError(f"{self.tracking_no} is already disposed")
        self._emit(self.Disposed, recorded_at=recorded_at, operator_id=by, reason=reason)

    def redirect_receiver(self, receiver_sealed: str, *, reason: str, by: str,
                          recorded_at: datetime) -> None:
        if self.state.status in TERMINAL_STATUSES:
            raise DomainError(f"{self.tracking_no} is {self.state.status}; it cannot be redirected")
        self._emit(self.ReceiverRedirected, recorded_at=recorded_at, operator_id=by,
                   receiver_sealed=receiver_sealed, reason=reason)

    def change_promised_time(self, promised_by: datetime, *, reason: str, by: str,
                             recorded_at: datetime) -> None:
        self._emit(self.PromisedTimeChanged, recorded_at=recorded_at, operator_id=by,
                   promised_by=promised_by, reason=reason)

    def revise_eta(self, eta: datetime, *, reason: str, by: str, recorded_at: datetime) -> None:
        if eta == self.eta:
            return
        self._emit(self.EtaRevised, recorded_at=recorded_at, operator_id=by, eta=eta,
                   reason=reason)

    def record_erasure(self, *, reason: str, by: str, recorded_at: datetime) -> None:
        if not self.erased:
            self._emit(self.PersonalDataErased, recorded_at=recorded_at, operator_id=by,
                       reason=reason)

    def reconcile(self, recorded_at: datetime) -> None:
        """Make the open exceptions agree with what the timeline shows.

        Raises what the timeline newly shows (misdirection, anomalies, reported
        problems); closes what it no longer shows (a late scan explains it, a scan was
        voided, the manifest arrived, the parcel is back on its route or delivered); and
        reopens what the system closed but shows again. Exceptions raised by people or
        detectors are closed only where their rule says a later scan (lost, stalled) or
        the delivery (delays, failed attempts) settles them.
        """
        state = self.state
        for (code, cause), issue in state.issues.items():
            exc_id = exception_id(self.id, code, cause)
            record = self.exceptions.get(exc_id)
            if record is None:
                self._raise(exc_id, ExceptionCode(code), cause=cause, auto=True,
                            detail=issue.detail, recorded_at=recorded_at,
                            occurred_at=issue.occurred_at, by=None)
            elif not record.is_open and record.resolved_by == SYSTEM:
                self._emit(self.ExceptionReopened, recorded_at=recorded_at,
                           exception_id=exc_id, reason=f"shows again: {issue.detail}")
        delivered = state.status in (Status.DELIVERED, Status.RETURNED)
        for record in self.open_exceptions:
            rule = EXCEPTION_RULES[record.code]
            key = (record.code, record.cause)
            if record.auto and key not in state.issues:
                if key in state.settled and delivered and record.code in ATTEMPT_REASONS:
                    self._clear(record, "delivered after the failed attempt", recorded_at,
                                Outcome.REDELIVERED)
                elif key in state.settled:
                    self._clear(record, "settled by a later scan", recorded_at)
                else:
                    self._clear(record, "no longer shown by the timeline", recorded_at)
            elif record.auto:
                continue
            elif (rule.cleared_by_later_scan and state.last_scan_at is not None
                  and state.last_scan_at > record.raised_at):
                self._clear(record, f"scanned again at {state.location}", recorded_at)
            elif rule.closed_by_delivery and delivered:
                self._clear(record, "delivered", recorded_at)

    def _clear(self, record: ExceptionRecord, why: str, recorded_at: datetime,
               outcome: Outcome = Outcome.CLEARED) -> None:
        self._emit(self.ExceptionResolved, recorded_at=recorded_at,
                   exception_id=record.exception_id, outcome=str(outcome), note=why)


def _scan_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Typed scan fields from an amendment's plain values."""
    typed: dict[str, Any] = dict(changes)
    converters = {
        "scan_type": ScanType,
        "exception_code": ExceptionCode,
        "attempt_reason": ExceptionCode,
        "facility_kind": FacilityKind,
    }
    for name, convert in converters.items():
        if typed.get(name) is not None:
            try:
                typed[name] = convert(typed[name])
            except ValueError:
                raise DomainError(f"{name}: {typed[name]!r} is not a known value") from None
    if "occurred_at" in typed and not isinstance(typed["occurred_at"], datetime):
        raise DomainError("occurred_at must be a timezone-aware datetime")
    return typed


__all__ = ["DomainError", "ExceptionRecord", "Flag", "Parcel"]
