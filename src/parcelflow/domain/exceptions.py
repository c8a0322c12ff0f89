"""A parcel's exceptions: raised by its timeline, by staff or by detectors, and worked
to a close.

Three sources, one record each. What the timeline shows (a misdirected arrival, an
impossible sequence, a reported problem, a scan before the manifest) is raised and
closed by `reconcile` as scans come and go. Staff raise exceptions by hand, detectors
record what they found (once per occurrence). Then the customer-service workflow, each
step an event with who and when: the first to acknowledge is its assignee (first-contact
responsibility), it is handed over, the customer is contacted, it is escalated, resolved
with an outcome, reopened. SLA clocks that ran out are recorded and escalated.
"""

from __future__ import annotations

from datetime import datetime

from parcelflow.domain import sla
from parcelflow.domain.errors import DomainError, NotPermitted
from parcelflow.domain.ids import exception_id, quiet_start, raised_by_hand
from parcelflow.domain.parcel_core import SYSTEM, ParcelCore, ParcelEvent
from parcelflow.domain.policy import Policy
from parcelflow.domain.records import Breach, Contact, ExceptionRecord, Finding
from parcelflow.domain.vocabulary import (
    ATTEMPT_REASONS,
    EXCEPTION_RULES,
    HANDED_OVER_STATUSES,
    STAFF_OUTCOMES,
    Actor,
    Channel,
    ExceptionCode,
    ExceptionStatus,
    Fact,
    Outcome,
    Severity,
    SlaClock,
)


class ExceptionRaised(ParcelEvent):
    exception_id: str
    code: str
    severity: str
    owner: str  # stored name: the team its rule says must act (the record's `rule_team`)
    customer_facing: bool
    occurrence: str  # what it was raised for (domain/ids.py)
    auto: bool
    detail: str

    # Version 1 called the occurrence `cause`; events stored so are read as version 2.
    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, object]) -> None:
        state["occurrence"] = state.pop("cause")

    def on(self, parcel: ParcelCore) -> None:
        parcel.exceptions[self.exception_id] = ExceptionRecord(
            exception_id=self.exception_id,
            code=ExceptionCode(self.code),
            severity=Severity(self.severity),
            rule_team=Actor(self.owner),
            customer_facing=self.customer_facing,
            occurrence=self.occurrence,
            auto=self.auto,
            detail=self.detail,
            occurred_at=self.occurred_at,
            raised_at=self.recorded_at,
            raised_by=self.operator_id or SYSTEM,
        )
        parcel._add_entry(self, Fact.EXCEPTION_RAISED, code=self.code, detail=self.detail)


class ExceptionAcknowledged(ParcelEvent):
    exception_id: str

    def on(self, parcel: ParcelCore) -> None:
        before = parcel.exceptions[self.exception_id]
        parcel._update_exception(
            self.exception_id,
            status=ExceptionStatus.ACKNOWLEDGED,
            # The first response is the first acknowledgement; taking an exception
            # handed to one's team later does not move it.
            acknowledged_by=before.acknowledged_by or self.operator_id,
            acknowledged_at=before.acknowledged_at or self.recorded_at,
            assignee=self.operator_id,  # first contact: whoever answers takes it
        )


class ExceptionResolved(ParcelEvent):
    exception_id: str
    outcome: str
    note: str | None

    def on(self, parcel: ParcelCore) -> None:
        record = parcel._update_exception(
            self.exception_id,
            status=ExceptionStatus.RESOLVED,
            resolved_by=self.operator_id or SYSTEM,
            resolved_at=self.recorded_at,
            outcome=Outcome(self.outcome),
            note=self.note,
        )
        parcel._add_entry(
            self, Fact.EXCEPTION_RESOLVED, code=record.code, outcome=self.outcome, note=self.note
        )


class ExceptionReopened(ParcelEvent):
    exception_id: str
    reason: str

    def on(self, parcel: ParcelCore) -> None:
        before = parcel.exceptions[self.exception_id]
        record = parcel._update_exception(
            self.exception_id,
            # Back to its assignee, if it had one: responsibility does not lapse.
            status=ExceptionStatus.ACKNOWLEDGED if before.assignee else ExceptionStatus.OPEN,
            resolved_by=None,
            resolved_at=None,
            outcome=None,
            note=self.reason,
            reopened_at=self.recorded_at,
            reopen_count=before.reopen_count + 1,
        )
        parcel._add_entry(self, Fact.EXCEPTION_REOPENED, code=record.code, reason=self.reason)


class ExceptionHandedOver(ParcelEvent):
    """Passed on explicitly: to another agent (the new assignee), another team, or both."""

    exception_id: str
    to_agent: str | None
    to_team: str | None
    note: str | None

    def on(self, parcel: ParcelCore) -> None:
        before = parcel.exceptions[self.exception_id]
        parcel._update_exception(
            self.exception_id, assignee=self.to_agent,
            handed_to=self.to_team or before.handed_to,
            handovers=before.handovers + 1)


class CustomerContacted(ParcelEvent):
    exception_id: str
    channel: str
    summary_sealed: str | None

    def on(self, parcel: ParcelCore) -> None:
        before = parcel.exceptions[self.exception_id]
        contact = Contact(self.recorded_at, self.operator_id or SYSTEM,
                          Channel(self.channel), self.summary_sealed)
        parcel._update_exception(self.exception_id, contacts=(*before.contacts, contact))


class ExceptionEscalated(ParcelEvent):
    exception_id: str
    level: int
    to: str
    reason: str
    new_owner: str | None  # stored name: the new assignee, if the escalation passed it on

    def on(self, parcel: ParcelCore) -> None:
        before = parcel.exceptions[self.exception_id]
        parcel._update_exception(
            self.exception_id, escalation_level=self.level, escalated_to=self.to,
            escalated_at=self.recorded_at, assignee=self.new_owner or before.assignee)


class ConditionEnded(ParcelEvent):
    """What an exception was about no longer holds, but a person has it: it stays theirs
    to close, and shows what happened (a stalled parcel scanned again)."""

    exception_id: str
    what: str
    at: datetime  # when it ended (the scan's own time)

    def on(self, parcel: ParcelCore) -> None:
        parcel._update_exception(self.exception_id, condition_ended=self.what,
                                 condition_ended_at=self.at)


class SlaBreached(ParcelEvent):
    exception_id: str
    clock: str
    due: datetime

    def on(self, parcel: ParcelCore) -> None:
        before = parcel.exceptions[self.exception_id]
        breach = Breach(SlaClock(self.clock), self.due, self.recorded_at)
        parcel._update_exception(self.exception_id, breaches=(*before.breaches, breach))


class ExceptionCommands(ParcelCore):
    """Part of `Parcel`: raising exceptions, working them, and keeping them in step
    with the timeline."""

    # ---- raised by the timeline --------------------------------------------------------

    def reconcile(self, recorded_at: datetime) -> None:
        """Make the open exceptions agree with what the timeline shows.

        Raises what the timeline newly shows (misdirection, anomalies, reported
        problems); closes what it no longer shows (a late scan explains it, a scan was
        voided, the manifest arrived, the parcel is back on its route or delivered); and
        reopens what the system closed but shows again. Exceptions raised by people or
        detectors are closed only where their rule says a later scan (lost, stalled) or
        the delivery (delays, failed attempts) settles them; one that a person has taken
        stays with them, marked with what ended it.
        """
        if not self.exceptions and self.manifest is not None and self.entries.shows_no_issue():
            # Nothing to raise (no issue shows), nothing to close or reopen (there is no
            # exception): what follows would do nothing, but derive a ParcelState first,
            # once per parcel per ingest batch.
            return
        state = self.state
        for (code, occurrence), issue in state.issues.items():
            exc_id = exception_id(self.id, code, occurrence)
            record = self.exceptions.get(exc_id)
            if record is None:
                self._raise(exc_id, ExceptionCode(code), occurrence=occurrence, auto=True,
                            detail=issue.detail, recorded_at=recorded_at,
                            occurred_at=issue.occurred_at, by=None)
            elif not record.is_open and record.resolved_by == SYSTEM:
                self._emit(ExceptionReopened, recorded_at=recorded_at,
                           exception_id=exc_id, reason=f"shows again: {issue.detail}")
        delivered = state.status in HANDED_OVER_STATUSES
        for record in self.open_exceptions:
            rule = EXCEPTION_RULES[record.code]
            key = (record.code, record.occurrence)
            if record.auto and key not in state.issues:
                if record.code == ExceptionCode.UNMANIFESTED and self.manifest is not None:
                    self._clear(record, "the manifest arrived", recorded_at,
                                Outcome.MANIFEST_ARRIVED)
                elif key in state.settled and delivered and record.code in ATTEMPT_REASONS:
                    self._clear(record, "delivered after the failed attempt", recorded_at,
                                Outcome.DELIVERED)
                elif key in state.settled:
                    self._clear(record, "settled by a later scan", recorded_at)
                elif self._voided(record.occurrence):
                    self._clear(record, "the scan that showed it was voided", recorded_at,
                                Outcome.SCAN_VOIDED)
                else:  # an amended scan no longer shows it
                    self._clear(record, "no longer shown by the timeline", recorded_at)
            elif record.auto:
                continue
            elif rule.closed_by_delivery and delivered:
                self._clear(record, "delivered", recorded_at, Outcome.DELIVERED)
            elif rule.cleared_by_later_scan and self._moved_since(record):
                self._moving_again(record, recorded_at)
        for record in list(self.exceptions.values()):
            # The scan that moved it was voided: the quiet spell never ended.
            if (not record.is_open and record.outcome == Outcome.MOVING_AGAIN
                    and record.resolved_by == SYSTEM and not self._moved_since(record)):
                self._emit(ExceptionReopened, recorded_at=recorded_at,
                           exception_id=record.exception_id,
                           reason="the scan that moved it was voided")

    def _moved_since(self, record: ExceptionRecord) -> bool:
        """Was the parcel scanned after the quiet spell the exception is about began (a
        detector's finding), or after it was raised (by hand)? By the scans' own times:
        an arrival uploaded after the detector ran still ends the spell it interrupted."""
        last = self.state.last_scan_at
        since = quiet_start(record.occurrence) or record.raised_at
        return last is not None and last > since

    def _voided(self, occurrence: str) -> bool:
        version = self.scan_versions.get(occurrence)  # an occurrence that is a scan id
        return version is not None and self.entries[version].voided

    def _moving_again(self, record: ExceptionRecord, recorded_at: datetime) -> None:
        state = self.state
        what = f"scanned again at {state.location}" if state.location else "scanned again"
        if record.acknowledged_at is None and record.assignee is None:
            if state.status in HANDED_OVER_STATUSES:  # a lost parcel turns up delivered
                self._clear(record, "delivered", recorded_at, Outcome.DELIVERED)
            else:
                self._clear(record, what, recorded_at, Outcome.MOVING_AGAIN)
        elif record.condition_ended_at is None:  # taken by someone: theirs to close
            assert state.last_scan_at is not None
            self._emit(ConditionEnded, recorded_at=recorded_at,
                       exception_id=record.exception_id, what=f"moving again: {what}",
                       at=state.last_scan_at)

    def _clear(self, record: ExceptionRecord, why: str, recorded_at: datetime,
               outcome: Outcome = Outcome.CLEARED) -> None:
        self._emit(ExceptionResolved, recorded_at=recorded_at,
                   exception_id=record.exception_id, outcome=str(outcome), note=why)

    def _raise(self, exc_id: str, code: ExceptionCode, *, occurrence: str, auto: bool, detail: str,
               recorded_at: datetime, occurred_at: datetime | None, by: str | None) -> None:
        rule = EXCEPTION_RULES[code]
        self._emit(
            ExceptionRaised,
            recorded_at=recorded_at,
            occurred_at=occurred_at,
            operator_id=by,
            exception_id=exc_id,
            code=str(code),
            severity=str(rule.severity),
            owner=str(rule.team),
            customer_facing=rule.customer_facing,
            occurrence=occurrence,
            auto=auto,
            detail=detail or rule.description,
        )

    # ---- raised by staff and detectors -------------------------------------------------

    def raise_exception(self, code: ExceptionCode, *, recorded_at: datetime, by: str,
                        detail: str = "", occurred_at: datetime | None = None) -> str:
        """Raise an exception by hand (staff) or by a detector.

        Idempotent per code: while an exception of this code is open, raising it again
        returns the open one instead of raising a second.
        """
        for record in self.open_exceptions:
            if record.code == code:
                return record.exception_id
        occurrence = raised_by_hand(self.version + 1)
        exc_id = exception_id(self.id, code, occurrence)
        self._raise(exc_id, code, occurrence=occurrence, auto=False, detail=detail,
                    recorded_at=recorded_at, occurred_at=occurred_at, by=by)
        self.reconcile(recorded_at)
        return exc_id

    def record_finding(self, finding: Finding, *, by: str, recorded_at: datetime) -> str | None:
        """Raise what a detector found, once per occurrence: never while an exception of
        the same code is open, and never again for the same occurrence (the same quiet
        spell, the same broken promise) even after it was resolved. Returns the id of
        the exception raised, or None (the finding was already on record)."""
        exc_id = exception_id(self.id, finding.code, finding.occurrence)
        if exc_id in self.exceptions or any(r.code == finding.code for r in self.open_exceptions):
            return None
        self._raise(exc_id, finding.code, occurrence=finding.occurrence, auto=False,
                    detail=finding.detail,
                    recorded_at=recorded_at, occurred_at=None, by=by)
        self.reconcile(recorded_at)
        return exc_id

    # ---- the workflow ------------------------------------------------------------------

    def _open_exception(self, exc_id: str) -> ExceptionRecord:
        record = self._exception(exc_id)
        if not record.is_open:
            raise DomainError(f"exception {exc_id} is already resolved")
        return record

    @staticmethod
    def _check_assignee(record: ExceptionRecord, by: str, doing: str) -> None:
        # First-contact responsibility: once someone has taken an exception, it changes
        # hands only explicitly. Its assignee, or whoever it was escalated to, acts on it.
        if record.assignee is not None and by not in (record.assignee, record.escalated_to):
            raise DomainError(
                f"exception {record.exception_id} is assigned to {record.assignee}; {by} "
                f"cannot {doing} it (the assignee hands it over, or a supervisor escalates "
                "it to a new assignee)")

    def acknowledge_exception(self, exc_id: str, *, by: str, recorded_at: datetime) -> None:
        """The first response: whoever gives it is the exception's assignee from now on.
        Also how someone takes an exception handed to their team without an assignee."""
        record = self._exception(exc_id)
        if not record.is_open:
            raise DomainError(f"exception {exc_id} is {record.status}, not open")
        if record.assignee is not None and record.assignee != by:
            raise DomainError(f"exception {exc_id} was handed to {record.assignee}; "
                              "only they can acknowledge it")
        if record.assignee == by and record.status == ExceptionStatus.ACKNOWLEDGED:
            raise DomainError(f"exception {exc_id} is already acknowledged by {by}")
        self._emit(ExceptionAcknowledged, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id)

    def resolve_exception(self, exc_id: str, outcome: Outcome, *, by: str,
                          recorded_at: datetime, note: str | None = None) -> None:
        record = self._open_exception(exc_id)
        if outcome not in STAFF_OUTCOMES:
            raise DomainError(f"{outcome} is one of the system's own outcomes; choose one of "
                              f"{', '.join(sorted(STAFF_OUTCOMES))}")
        self._check_assignee(record, by, "resolve")
        self._emit(ExceptionResolved, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id, outcome=str(outcome), note=note)

    def hand_over(self, exc_id: str, *, by: str, recorded_at: datetime,
                  to_agent: str | None = None, to_team: str | None = None,
                  note: str | None = None) -> None:
        """Pass an exception on to another agent, another team, or an agent of another
        team. Handing it to a team alone leaves it without an assignee until someone there
        acknowledges it (or it is handed to one of them)."""
        record = self._open_exception(exc_id)
        if not to_agent and not to_team:
            raise DomainError("hand over to an agent, a team, or both")
        if to_agent == record.assignee and to_team in (None, record.handed_to):
            raise DomainError(f"exception {exc_id} is already {to_agent}'s")
        self._check_assignee(record, by, "hand over")
        self._emit(ExceptionHandedOver, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id, to_agent=to_agent or None, to_team=to_team or None,
                   note=note)

    def record_contact(self, exc_id: str, channel: Channel, *, summary_sealed: str | None,
                       by: str, recorded_at: datetime) -> None:
        """A conversation with the customer about the exception (anyone may take a call)."""
        self._exception(exc_id)
        self._emit(CustomerContacted, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id, channel=str(channel), summary_sealed=summary_sealed)

    def escalate(self, exc_id: str, *, to: str, reason: str, by: str, recorded_at: datetime,
                 assignee: str | None = None, by_supervisor: bool = False) -> None:
        """Raise an exception's level and bring in `to` (a supervisor or a team); with
        `assignee`, the exception passes to them too (a supervisor taking over from an
        absent assignee).

        Anyone working the queue may escalate, but passing the exception to a new
        assignee is a supervisor's act, or its current assignee's: otherwise any agent
        could take someone else's exception by escalating it to themselves."""
        record = self._open_exception(exc_id)
        if not reason.strip():
            raise DomainError("an escalation needs a reason")
        if assignee is not None and assignee != record.assignee and not by_supervisor \
                and by != record.assignee:
            held = f"assigned to {record.assignee}" if record.assignee else "not assigned"
            raise NotPermitted(
                f"exception {exc_id} is {held}; only a supervisor or its assignee escalates "
                "it to a new assignee")
        self._emit(ExceptionEscalated, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id, level=record.escalation_level + 1, to=to, reason=reason,
                   new_owner=assignee)

    def reopen_exception(self, exc_id: str, *, reason: str, by: str,
                         recorded_at: datetime) -> None:
        record = self._exception(exc_id)
        if record.is_open:
            raise DomainError(f"exception {exc_id} is {record.status}, not resolved")
        if not reason.strip():
            raise DomainError("reopening needs a reason")
        self._emit(ExceptionReopened, recorded_at=recorded_at, operator_id=by,
                   exception_id=exc_id, reason=reason)

    def check_sla(self, policy: Policy, *, now: datetime) -> list[tuple[str, SlaClock]]:
        """Record every SLA clock that ran out and escalate each breach, once per due
        time; the exceptions' assignees keep them. Returns what was breached."""
        found = []
        for record in self.open_exceptions:
            for clock, due in sla.missed(record, self.customer_tier, policy, now):
                self._emit(SlaBreached, recorded_at=now, exception_id=record.exception_id,
                           clock=str(clock), due=due)
                level = self.exceptions[record.exception_id].escalation_level + 1
                self._emit(ExceptionEscalated, recorded_at=now,
                           exception_id=record.exception_id, level=level,
                           to=policy.escalation_team, new_owner=None,
                           reason=f"{clock} due {due.isoformat()} missed")
                found.append((record.exception_id, clock))
        return found
