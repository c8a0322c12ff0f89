"""Corrections and changes to the parcel itself, on the Parcel aggregate.

Corrections never edit or delete: an auditor appends an event that voids or amends an
earlier scan (GS1 EPCIS error declarations work this way), and the timeline is told
again with it. Staff also cancel or dispose of a parcel, redirect it to another
receiver, change its promised time or ETA, and record that its personal data was
erased.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from parcelflow.domain.errors import DomainError
from parcelflow.domain.parcel_core import ParcelCore, ParcelEvent
from parcelflow.domain.timeline import Entry, Scan
from parcelflow.domain.vocabulary import (
    TERMINAL_STATUSES,
    ExceptionCode,
    FacilityKind,
    Fact,
    ScanType,
    Status,
)


class EventVoided(ParcelEvent):
    """A correction: the scan recorded by `target_version` did not happen."""

    target_version: int
    reason: str

    def on(self, parcel: ParcelCore) -> None:
        target = parcel.entries[self.target_version]
        parcel.entries.replace(replace(target, voided=True))
        parcel._add_entry(self, Fact.CORRECTION, target_version=self.target_version,
                          reason=self.reason, action="voided")


class ScanAmended(ParcelEvent):
    """A correction: the scan recorded by `target_version` said something else."""

    target_version: int
    changes: dict[str, Any]
    reason: str

    def on(self, parcel: ParcelCore) -> None:
        target = parcel.entries[self.target_version]
        assert target.scan is not None
        scan = replace(target.scan, **_scan_changes(self.changes))
        parcel.entries.replace(replace(
            target, scan=scan, kind=str(scan.scan_type), occurred_at=scan.occurred_at,
            amended=True,
        ))
        parcel._add_entry(self, Fact.CORRECTION, target_version=self.target_version,
                          reason=self.reason, action="amended",
                          changes=sorted(self.changes))


class Cancelled(ParcelEvent):
    reason: str

    def on(self, parcel: ParcelCore) -> None:
        parcel._add_entry(self, Fact.CANCELLED, reason=self.reason)


class Disposed(ParcelEvent):
    reason: str

    def on(self, parcel: ParcelCore) -> None:
        parcel._add_entry(self, Fact.DISPOSED, reason=self.reason)


class ReceiverRedirected(ParcelEvent):
    receiver_sealed: str
    reason: str

    def on(self, parcel: ParcelCore) -> None:
        parcel.receiver_sealed = self.receiver_sealed
        parcel._add_entry(self, Fact.RECEIVER_REDIRECTED, reason=self.reason)


class PromisedTimeChanged(ParcelEvent):
    promised_by: datetime
    reason: str

    def on(self, parcel: ParcelCore) -> None:
        parcel.promised_by = self.promised_by
        parcel._add_entry(self, Fact.PROMISED_TIME_CHANGED, promised_by=self.promised_by,
                          reason=self.reason)


class EtaRevised(ParcelEvent):
    eta: datetime
    reason: str

    def on(self, parcel: ParcelCore) -> None:
        parcel.eta = self.eta
        parcel._add_entry(self, Fact.ETA_REVISED, eta=self.eta, reason=self.reason)


class PersonalDataErased(ParcelEvent):
    """The parcel's data key was destroyed: its personal data is gone for good."""

    reason: str

    def on(self, parcel: ParcelCore) -> None:
        parcel.erased = True
        parcel._add_entry(self, Fact.PERSONAL_DATA_ERASED, reason=self.reason)


class CorrectionCommands(ParcelCore):
    """Part of `Parcel`: corrections to its scans, and changes to the parcel itself."""

    def void(self, target_version: int, *, reason: str, by: str, recorded_at: datetime) -> None:
        target = self._correctable(target_version)
        if target.voided:
            raise DomainError(f"event {target_version} is already voided")
        self._emit(EventVoided, recorded_at=recorded_at, operator_id=by,
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
        self._emit(ScanAmended, recorded_at=recorded_at, operator_id=by,
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
        self._emit(Cancelled, recorded_at=recorded_at, operator_id=by, reason=reason)
        self.reconcile(recorded_at)

    def dispose(self, *, reason: str, by: str, recorded_at: datetime) -> None:
        if self.state.status == Status.DISPOSED:
            raise DomainError(f"{self.tracking_no} is already disposed")
        self._emit(Disposed, recorded_at=recorded_at, operator_id=by, reason=reason)

    def redirect_receiver(self, receiver_sealed: str, *, reason: str, by: str,
                          recorded_at: datetime) -> None:
        if self.state.status in TERMINAL_STATUSES:
            raise DomainError(f"{self.tracking_no} is {self.state.status}; it cannot be redirected")
        self._emit(ReceiverRedirected, recorded_at=recorded_at, operator_id=by,
                   receiver_sealed=receiver_sealed, reason=reason)

    def change_promised_time(self, promised_by: datetime, *, reason: str, by: str,
                             recorded_at: datetime) -> None:
        self._emit(PromisedTimeChanged, recorded_at=recorded_at, operator_id=by,
                   promised_by=promised_by, reason=reason)

    def revise_eta(self, eta: datetime, *, reason: str, by: str, recorded_at: datetime) -> None:
        if eta == self.eta:
            return
        self._emit(EtaRevised, recorded_at=recorded_at, operator_id=by, eta=eta,
                   reason=reason)

    def record_erasure(self, *, reason: str, by: str, recorded_at: datetime) -> None:
        if not self.erased:
            self._emit(PersonalDataErased, recorded_at=recorded_at, operator_id=by,
                       reason=reason)


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
