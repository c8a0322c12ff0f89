"""The Parcel aggregate: a parcel's whole life as immutable events.

Commands append events; nothing is ever edited or deleted. A wrong scan is voided or
amended by a correction event that points at it. Every event carries the time it
happened (`occurred_at`, device clock), the time it was recorded (`recorded_at`,
server clock), who reported it, and the SHA-256 of the event before it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from parcelflow.domain import chain, sla
from parcelflow.domain.claims import Assessment, ClaimRecord, assess
from parcelflow.domain.complaints import ComplaintRecord, Contact
from parcelflow.domain.detection import Finding
from parcelflow.domain.ids import case_id, exception_id, parcel_id
from parcelflow.domain.manifest import Manifest
from parcelflow.domain.policy import Policy
from parcelflow.domain.sla import Breach
from parcelflow.domain.timeline import Entry, ParcelState, Scan, Timeline
from parcelflow.domain.vocabulary import (
    ATTEMPT_REASONS,
    CLAIM_EXCEPTION,
    COMPLAINT_LINKS,
    EXCEPTION_RULES,
    STAFF_OUTCOMES,
    Actor,
    Channel,
    ClaimCause,
    ClaimStatus,
    ComplaintCategory,
    ComplaintStatus,
    CustomerTier,
    ExceptionCode,
    TERMINAL_STATUSES,
    ExceptionStatus,
    FacilityKind,
    Flag,
    Outcome,
    ScanType,
    Severity,
    SlaClock,
    Status,
)

SYSTEM = "system"  # the actor for what the domain does on its own

_SCAN_TYPES: dict[str, ScanType] = {str(t): t for t in ScanType}
_CODES: dict[str | None, ExceptionCode] = {str(c): c for c in ExceptionCode}
_KINDS: dict[str | None, FacilityKind] = {str(k): k for k in FacilityKind}


class DomainError(Exception):
    """A command that the parcel's current state does not allow."""


class NotFound(DomainError):
    """The command names an exception, complaint or claim the parcel does not have."""


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
    # The customer-service workflow. The first person to take the exception owns it
    # (first-contact responsibility) until they hand it over or it is escalated to a
    # new owner; `team` is who must act once it was handed to another team.
    assignee: str | None = None
    team: str | None = None
    handovers: int = 0
    contacts: tuple[Contact, ...] = ()
    escalation_level: int = 0
    escalated_to: str | None = None
    escalated_at: datetime | None = None
    breaches: tuple[Breach, ...] = ()
    reopened_at: datetime | None = None
    reopen_count: int = 0
    complaint_ids: tuple[str, ...] = ()
    claim_ids: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status != ExceptionStatus.RESOLVED

    @property
    def acting_team(self) -> str:
        """Who must act: the team it was handed to, else the rule's owner."""
        return self.team or str(self.owner)

    def breached(self, clock: SlaClock, due: datetime) -> bool:
        return any(b.clock == clock and b.due == due for b in self.breaches)


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
            before = parcel.exceptions[self.exception_id]
            parcel._update_exception(
                self.exception_id,
                status=ExceptionStatus.ACKNOWLEDGED,
                # The first response is the first acknowledgement; taking an exception
                # handed to one's team later does not move it.
                acknowledged_by=before.acknowledged_by or self.operator_id,
                acknowledged_at=before.acknowledged_at or self.recorded_at,
                assignee=self.operator_id,  # first contact: whoever answers owns it
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
            before = parcel.exceptions[self.exception_id]
            record = parcel._update_exception(
                self.exception_id,
                # Back to its owner, if it had one: responsibility does not lapse.
                status=ExceptionStatus.ACKNOWLEDGED if before.assignee else ExceptionStatus.OPEN,
                resolved_by=None,
                resolved_at=None,
                outcome=None,
                note=self.reason,
                reopened_at=self.recorded_at,
                reopen_count=before.reopen_count + 1,
            )
            parcel._add_entry(self, "exception_reopened", code=record.code, reason=self.reason)

    class ExceptionHandedOver(Event):
        """Ownership passed on explicitly: to another agent, another team, or both."""

        exception_id: str
        to_agent: str | None
        to_team: str | None
        note: str | None

        def on(self, parcel: Parcel) -> None:
            before = parcel.exceptions[self.exception_id]
            parcel._update_exception(
                self.exception_id, assignee=self.to_agent, team=self.to_team or before.team,
                handovers=before.handovers + 1)

    class CustomerContacted(Event):
        exception_id: str
        channel: str
        summary_sealed: str | None

        def on(self, parcel: Parcel) -> None:
            before = parcel.exceptions[self.exception_id]
            contact = Contact(self.recorded_at, self.operator_id or SYSTEM,
                              Channel(self.channel), self.summary_sealed)
            parcel._update_exception(self.exception_id, contacts=(*before.contacts, contact))

    class ExceptionEscalated(Event):
        exception_id: str
        level: int
        to: str
        reason: str
        new_owner: str | None

        def on(self, parcel: Parcel) -> None:
            before = parcel.exceptions[self.exception_id]
            parcel._update_exception(
                self.exception_id, escalation_level=self.level, escalated_to=self.to,
                escalated_at=self.recorded_at, assignee=self.new_owner or before.assignee)

    class SlaBreached(Event):
        exception_id: str
        clock: str
        due: datetime

        def on(self, parcel: Parcel) -> None:
            before = parcel.exceptions[self.exception_id]
            breach = Breach(SlaClock(self.clock), self.due, self.recorded_at)
            parcel._update_exception(self.exception_id, breaches=(*before.breaches, breach))

    class ComplaintFiled(Event):
        complaint_id: str
        exception_id: str
        channel: str
        category: str
        words_sealed: str | None
        links: list[str]
        reference: str | None

        def on(self, parcel: Parcel) -> None:
            parcel.complaints[self.complaint_id] = ComplaintRecord(
                complaint_id=self.complaint_id, exception_id=self.exception_id,
                channel=Channel(self.channel), category=ComplaintCategory(self.category),
                words_sealed=self.words_sealed, links=tuple(self.links),
                reference=self.reference, filed_at=self.recorded_at,
                filed_by=self.operator_id or SYSTEM)
            for exc_id in (self.exception_id, *self.links):
                before = parcel.exceptions[exc_id]
                parcel._update_exception(
                    exc_id, complaint_ids=(*before.complaint_ids, self.complaint_id))

    class ComplaintClosed(Event):
        complaint_id: str
        outcome: str
        customer_confirmed: bool
        reason: str | None

        def on(self, parcel: Parcel) -> None:
            parcel.complaints[self.complaint_id] = replace(
                parcel.complaints[self.complaint_id], status=ComplaintStatus.CLOSED,
                closed_at=self.recorded_at, closed_by=self.operator_id,
                outcome=Outcome(self.outcome), customer_confirmed=self.customer_confirmed,
                closing_reason=self.reason)

    class ClaimFiled(Event):
        claim_id: str
        cause: str
        claimed: Decimal
        evidence: list[str]
        exception_id: str
        reference: str | None

        def on(self, parcel: Parcel) -> None:
            parcel.claims[self.claim_id] = ClaimRecord(
                claim_id=self.claim_id, cause=ClaimCause(self.cause),
                claimed=Decimal(self.claimed), evidence=tuple(self.evidence),
                exception_id=self.exception_id, reference=self.reference,
                filed_at=self.recorded_at, filed_by=self.operator_id or SYSTEM)
            before = parcel.exceptions[self.exception_id]
            parcel._update_exception(self.exception_id,
                                     claim_ids=(*before.claim_ids, self.claim_id))

    class ClaimAssessed(Event):
        claim_id: str
        payable: Decimal
        cap: Decimal
        basis: str
        explanation: str

        def on(self, parcel: Parcel) -> None:
            assessment = Assessment(Decimal(self.payable), Decimal(self.cap), self.basis,
                                    self.explanation)
            parcel._update_claim(self.claim_id, status=ClaimStatus.ASSESSED,
                                 assessment=assessment, assessed_at=self.recorded_at)

    class ClaimApproved(Event):
        claim_id: str
        amount: Decimal
        note: str | None

        def on(self, parcel: Parcel) -> None:
            parcel._update_claim(self.claim_id, status=ClaimStatus.APPROVED,
                                 approved=Decimal(self.amount), decided_at=self.recorded_at,
                                 decided_by=self.operator_id)

    class ClaimRejected(Event):
        claim_id: str
        reason: str

        def on(self, parcel: Parcel) -> None:
            parcel._update_claim(self.claim_id, status=ClaimStatus.REJECTED,
                                 rejection=self.reason, decided_at=self.recorded_at,
                                 decided_by=self.operator_id)

    class ClaimPaid(Event):
        claim_id: str
        amount: Decimal
        payment_ref: str

        def on(self, parcel: Parcel) -> None:
            parcel._update_claim(self.claim_id, status=ClaimStatus.PAID,
                                 paid=Decimal(self.amount), paid_at=self.recorded_at,
                                 payment_ref=self.payment_ref)

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
        self.complaints: dict[str, ComplaintRecord] = {}
        self.claims: dict[str, ClaimRecord] = {}
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

    def _update_claim(self, claim_id: str, **changes: Any) -> ClaimRecord:
        record = replace(self.claims[claim_id], **changes)
        self.claims[claim_id] = record
        return record

    @property
    def customer_tier(self) -> CustomerTier:
        return self.manifest.customer_tier if self.manifest else CustomerTier.STANDARD

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

    def find_exception(self, ref: str) -> ExceptionRecord:
        """An exception by its id, a unique prefix of it, or its code (the open one)."""
        by_code = [r for r in self.open_exceptions if str(r.code) == ref]
        return _find(self.exceptions, ref, by_code, f"{self.tracking_no} exception")

    def find_complaint(self, ref: str) -> ComplaintRecord:
        """A complaint by its id or a unique prefix of it."""
        return _find(self.complaints, ref, [], f"{self.tracking_no} complaint")

    def find_claim(self, ref: str) -> ClaimRecord:
        """A claim by its id, a unique prefix of it, or its cause (the live one)."""
        by_cause = [c for c in self.claims.values() if str(c.cause) == ref and c.is_live]
        return _find(self.claims, ref, by_cause, f"{self.tracking_no} claim")

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
            raise NotFound(f"{self.tracking_no} has no exception {exc_id}") from None

    def acknowledge_exception(self, exc_id: str, *, by: str, recorded_at: datetime) -> None:
        """The first response: whoever gives it owns the exception from now on. Also how
        someone takes an exception handed to their team without an owner."""
        record = self._exception(exc_id)
        if not record.is_open:
            raise DomainError(f"exception {exc_id} is {record.status}, not open")
        if record.assignee is not None and record.assignee != by:
            raise DomainError(f"exception {exc_id} was handed to {record.assignee}; "
                              "only they can acknowledge it")
        if record.assignee == by and record.status == ExceptionStatus.ACKNOWLEDGED:
            raise DomainError(f"exception {exc_id} is already acknowledged by {by}")
        self._emit(self.ExceptionAcknowledged, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id)

    def _open_exception(self, exc_id: str) -> ExceptionRecord:
        record = self._exception(exc_id)
        if not record.is_open:
            raise DomainError(f"exception {exc_id} is already resolved")
        return record

    @staticmethod
    def _check_owner(record: ExceptionRecord, by: str, doing: str) -> None:
        # First-contact responsibility: once someone owns an exception, it changes hands
        # only explicitly. Its owner, or whoever it was escalated to, acts on it.
        if record.assignee is not None and by not in (record.assignee, record.escalated_to):
            raise DomainError(
                f"exception {record.exception_id} is owned by {record.assignee}; {by} cannot "
                f"{doing} it (the owner hands it over, or escalate it with a new owner)")

    def resolve_exception(self, exc_id: str, outcome: Outcome, *, by: str,
                          recorded_at: datetime, note: str | None = None) -> None:
        record = self._open_exception(exc_id)
        if outcome not in STAFF_OUTCOMES:
            raise DomainError(f"{outcome} is the system's own outcome; choose one of "
                              f"{', '.join(sorted(STAFF_OUTCOMES))}")
        self._check_owner(record, by, "resolve")
        self._emit(self.ExceptionResolved, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id, outcome=str(outcome), note=note)

    def hand_over(self, exc_id: str, *, by: str, recorded_at: datetime,
                  to_agent: str | None = None, to_team: str | None = None,
                  note: str | None = None) -> None:
        """Pass an exception on to another agent, another team, or an agent of another
        team. Handing it to a team alone leaves it without an owner until someone there
        acknowledges it (or it is handed to one of them)."""
        record = self._open_exception(exc_id)
        if not to_agent and not to_team:
            raise DomainError("hand over to an agent, a team, or both")
        if to_agent == record.assignee and to_team in (None, record.team):
            raise DomainError(f"exception {exc_id} is already {to_agent}'s")
        self._check_owner(record, by, "hand over")
        self._emit(self.ExceptionHandedOver, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id, to_agent=to_agent or None, to_team=to_team or None,
                   note=note)

    def record_contact(self, exc_id: str, channel: Channel, *, summary_sealed: str | None,
                       by: str, recorded_at: datetime) -> None:
        """A conversation with the customer about the exception (anyone may take a call)."""
        self._exception(exc_id)
        self._emit(self.CustomerContacted, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id, channel=str(channel), summary_sealed=summary_sealed)

    def escalate(self, exc_id: str, *, to: str, reason: str, by: str, recorded_at: datetime,
                 new_owner: str | None = None) -> None:
        """Raise an exception's level and bring in `to` (a supervisor or a team); with
        `new_owner`, ownership passes too (a supervisor taking over from an absent owner)."""
        record = self._open_exception(exc_id)
        if not reason.strip():
            raise DomainError("an escalation needs a reason")
        self._emit(self.ExceptionEscalated, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id, level=record.escalation_level + 1, to=to, reason=reason,
                   new_owner=new_owner)

    def reopen_exception(self, exc_id: str, *, reason: str, by: str,
                         recorded_at: datetime) -> None:
        record = self._exception(exc_id)
        if record.is_open:
            raise DomainError(f"exception {exc_id} is {record.status}, not resolved")
        if not reason.strip():
            raise DomainError("reopening needs a reason")
        self._emit(self.ExceptionReopened, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id, reason=reason)

    def check_sla(self, policy: Policy, *, now: datetime) -> list[tuple[str, SlaClock]]:
        """Record every SLA clock that ran out and escalate each breach, once per due
        time; the exceptions' owners keep them. Returns what was breached."""
        found = []
        for record in self.open_exceptions:
            for clock, due in sla.missed(record, self.customer_tier, policy, now):
                self._emit(self.SlaBreached, recorded_at=now, exception_id=record.exception_id,
                           clock=str(clock), due=due)
                level = self.exceptions[record.exception_id].escalation_level + 1
                self._emit(self.ExceptionEscalated, recorded_at=now,
                           exception_id=record.exception_id, level=level,
                           to=policy.escalation_team, new_owner=None,
                           reason=f"{clock} due {due.isoformat()} missed")
                found.append((record.exception_id, clock))
        return found

    # ---- detectors --------------------------------------------------------------------

    def detect(self, finding: Finding, *, by: str, recorded_at: datetime) -> str | None:
        """Raise what a detector found, once per occurrence: never while an exception of
        the same code is open, and never again for the same occurrence (the same quiet
        spell, the same broken promise) even after it was resolved. Returns the id of
        the exception raised, or None."""
        exc_id = exception_id(self.id, finding.code, finding.cause)
        if exc_id in self.exceptions or any(r.code == finding.code for r in self.open_exceptions):
            return None
        self._raise(exc_id, finding.code, cause=finding.cause, auto=False, detail=finding.detail,
                    recorded_at=recorded_at, occurred_at=None, by=by)
        self.reconcile(recorded_at)
        return exc_id

    # ---- complaints --------------------------------------------------------------------

    def file_complaint(self, category: ComplaintCategory, channel: Channel, *,
                       words_sealed: str | None, by: str, recorded_at: datetime,
                       links: list[str] | None = None, reference: str | None = None) -> str:
        """A customer's complaint, linked to the exceptions it is about (those given, or
        the parcel's exceptions its category points at), on the complaint clock. It
        raises its own `complaint` exception, which carries the owner and the clocks."""
        if reference:
            for complaint in self.complaints.values():
                if complaint.reference == reference:
                    return complaint.complaint_id  # the same complaint sent twice
        if links is None:
            codes = COMPLAINT_LINKS[category]
            links = [r.exception_id for r in self.exceptions.values()
                     if r.code in codes and r.outcome != Outcome.CLEARED]
        for exc_id in links:
            self._exception(exc_id)
        key = f"complaint@{self.version + 1}"
        complaint_id = case_id(self.id, "complaint", key)
        exc_id = exception_id(self.id, ExceptionCode.COMPLAINT, f"complaint:{complaint_id}")
        self._raise(exc_id, ExceptionCode.COMPLAINT, cause=f"complaint:{complaint_id}",
                    auto=False, detail=f"{category} complaint by {channel}",
                    recorded_at=recorded_at, occurred_at=None, by=by)
        self._emit(self.ComplaintFiled, recorded_at=recorded_at, operator_id=by,
                   complaint_id=complaint_id, exception_id=exc_id, channel=str(channel),
                   category=str(category), words_sealed=words_sealed, links=list(links),
                   reference=reference)
        return complaint_id

    def close_complaint(self, complaint_id: str, outcome: Outcome, *, by: str,
                        recorded_at: datetime, customer_confirmed: bool = False,
                        reason: str | None = None) -> None:
        """Closed with the customer's confirmation, or with a recorded reason why not
        (unreachable, unfounded, ...). Its exception is resolved with the same outcome."""
        complaint = self.complaints.get(complaint_id)
        if complaint is None:
            raise DomainError(f"{self.tracking_no} has no complaint {complaint_id}")
        if complaint.status == ComplaintStatus.CLOSED:
            raise DomainError(f"complaint {complaint_id} is already closed")
        if not customer_confirmed and not (reason or "").strip():
            raise DomainError("close a complaint with the customer's confirmation "
                              "or a recorded reason")
        if outcome not in STAFF_OUTCOMES:
            raise DomainError(f"{outcome} is not an outcome staff can give")
        record = self.exceptions[complaint.exception_id]
        if record.is_open:
            self._check_owner(record, by, "close the complaint of")
        self._emit(self.ComplaintClosed, recorded_at=recorded_at, operator_id=by,
                   complaint_id=complaint_id, outcome=str(outcome),
                   customer_confirmed=customer_confirmed, reason=reason)
        if record.is_open:
            note = reason or "the customer confirmed the resolution"
            self._emit(self.ExceptionResolved, recorded_at=recorded_at, operator_id=by,
                       exception_id=record.exception_id, outcome=str(outcome), note=note)

    # ---- claims ------------------------------------------------------------------------

    def file_claim(self, cause: ClaimCause, claimed: Decimal, *, evidence: list[str], by: str,
                   recorded_at: datetime, reference: str | None = None) -> str:
        """A claim for compensation, standing on the recorded loss or damage."""
        if reference:
            for claim in self.claims.values():
                if claim.reference == reference:
                    return claim.claim_id
        if self.manifest is None:
            raise DomainError(f"{self.tracking_no} has no manifest: nothing to assess a "
                              "claim against (declared value, insurance, postage)")
        if not claimed.is_finite() or claimed <= 0 or claimed.as_tuple().exponent < -2:  # type: ignore[operator]
            raise DomainError("the claimed amount must be positive, in yuan and fen")
        if not [e for e in evidence if e.strip()]:
            raise DomainError("a claim needs at least one evidence reference")
        code = CLAIM_EXCEPTION[cause]
        standing = [r for r in self.exceptions.values()
                    if r.code == code and r.outcome != Outcome.CLEARED]
        if not standing:
            raise DomainError(f"{self.tracking_no} has no {code} exception on record; a "
                              f"claim stands on a recorded {code} parcel (raise it first)")
        for claim in self.claims.values():
            if claim.cause == cause and claim.is_live:
                raise DomainError(f"{self.tracking_no} already has a {cause} claim "
                                  f"{claim.claim_id} ({claim.status})")
        # The open one if there is one, else the latest.
        target = max(standing, key=lambda r: (r.is_open, r.raised_at))
        claim_id = case_id(self.id, "claim", f"claim@{self.version + 1}")
        self._emit(self.ClaimFiled, recorded_at=recorded_at, operator_id=by, claim_id=claim_id,
                   cause=str(cause), claimed=claimed, evidence=[e for e in evidence if e.strip()],
                   exception_id=target.exception_id, reference=reference)
        return claim_id

    def _claim(self, claim_id: str, *allowed: ClaimStatus) -> ClaimRecord:
        claim = self.claims.get(claim_id)
        if claim is None:
            raise DomainError(f"{self.tracking_no} has no claim {claim_id}")
        if claim.status not in allowed:
            raise DomainError(f"claim {claim_id} is {claim.status}; this needs it "
                              + " or ".join(str(s) for s in allowed))
        return claim

    def _check_still_lost(self, claim: ClaimRecord) -> None:
        if claim.cause == ClaimCause.LOST and \
                self.exceptions[claim.exception_id].outcome == Outcome.CLEARED:
            raise DomainError(f"{self.tracking_no} was found again after the loss was "
                              "declared; reject this claim (or file one for damage)")

    def assess_claim(self, claim_id: str, policy: Policy, *, by: str,
                     recorded_at: datetime) -> Assessment:
        claim = self._claim(claim_id, ClaimStatus.FILED, ClaimStatus.ASSESSED)
        assert self.manifest is not None  # a claim is filed only on a manifested parcel
        result = assess(claimed=claim.claimed, insured=self.manifest.insured,
                        declared_value=self.manifest.declared_value,
                        postage=self.manifest.postage, policy=policy)
        self._emit(self.ClaimAssessed, recorded_at=recorded_at, operator_id=by,
                   claim_id=claim_id, payable=result.payable, cap=result.cap,
                   basis=result.basis, explanation=result.explanation)
        return result

    def approve_claim(self, claim_id: str, *, by: str, recorded_at: datetime,
                      amount: Decimal | None = None, note: str | None = None) -> Decimal:
        """Approve the assessed amount, or less (a settlement); never more than the
        policy allows."""
        claim = self._claim(claim_id, ClaimStatus.ASSESSED)
        assert claim.assessment is not None
        payable = claim.assessment.payable
        amount = payable if amount is None else amount
        if payable <= 0:
            raise DomainError(f"nothing is payable on claim {claim_id} "
                              f"({claim.assessment.explanation}); reject it with a reason")
        if not amount.is_finite() or amount <= 0 or amount > payable:
            raise DomainError(f"approve between 0.01 and the assessed {payable}, not {amount}")
        self._check_still_lost(claim)
        self._emit(self.ClaimApproved, recorded_at=recorded_at, operator_id=by,
                   claim_id=claim_id, amount=amount, note=note)
        return amount

    def reject_claim(self, claim_id: str, *, reason: str, by: str,
                     recorded_at: datetime) -> None:
        self._claim(claim_id, ClaimStatus.FILED, ClaimStatus.ASSESSED, ClaimStatus.APPROVED)
        if not reason.strip():
            raise DomainError("a rejection needs a reason")
        self._emit(self.ClaimRejected, recorded_at=recorded_at, operator_id=by,
                   claim_id=claim_id, reason=reason)

    def pay_claim(self, claim_id: str, *, payment_ref: str, by: str,
                  recorded_at: datetime) -> Decimal:
        claim = self._claim(claim_id, ClaimStatus.APPROVED)
        assert claim.approved is not None
        if not payment_ref.strip():
            raise DomainError("a payment needs the payment system's reference")
        self._check_still_lost(claim)
        self._emit(self.ClaimPaid, recorded_at=recorded_at, operator_id=by, claim_id=claim_id,
                   amount=claim.approved, payment_ref=payment_ref)
        return claim.approved

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


_MIN_PREFIX = 4


def _find(records: dict[str, Any], ref: str, named: list[Any], what: str) -> Any:
    if ref in records:
        return records[ref]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise DomainError(f"{what} {ref!r} is ambiguous: give its id")
    matches = [r for key, r in records.items() if len(ref) >= _MIN_PREFIX and key.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise DomainError(f"{what} {ref!r} is ambiguous: give more of its id")
    raise NotFound(f"no {what} {ref!r}")


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
