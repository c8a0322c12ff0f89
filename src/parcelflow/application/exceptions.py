"""The exception workflow, as customer-service staff work it: raise, acknowledge, hand
over, contact, escalate, resolve, reopen, show. One service for the CLI, the API and
the staff pages.

Every step is an event on the parcel with who did it and when (the service's clock),
and answers with the exception's id and the log position the step reached. Exceptions
are named by id, a unique prefix of it, or their code ("the open `delayed` one"), so
staff never copy UUIDs around. The parcel enforces the workflow's rules (the first to
acknowledge is its assignee until it is handed over or escalated); who may ask is the
caller's.
What staff write — the detail of an exception they raise, a summary of a call, a note on
a hand-over or a resolution, a reason to escalate or reopen — may name the customer: it
is sealed with the parcel's key before it is stored, opened only on request (`show`
with `reveal`), and never logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from parcelflow.application.results import Step
from parcelflow.application.service import ParcelService
from parcelflow.domain import sla
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.records import ExceptionRecord
from parcelflow.domain.vocabulary import Channel, ExceptionCode, ExceptionStatus, Outcome

log = structlog.get_logger(__name__)


@dataclass
class ExceptionWorkflow:
    service: ParcelService

    def raise_exception(self, tracking_no: str, code: ExceptionCode, *, by: str,
                        detail: str = "") -> Step:
        """Raise an exception by hand. While one of this code is open on the parcel,
        raising it again answers with the open one (and records nothing). What they wrote
        about it is sealed; the code's own description shows where it is not opened."""
        now = self.service.clock()
        sealed = self._seal(tracking_no, detail) or ""
        done = self.service.command(tracking_no, lambda p: p.raise_exception(
            code, recorded_at=now, by=by, detail=sealed))
        log.info("exception.raised", tracking_no=tracking_no, exception_id=done.value,
                 code=str(code))
        return Step(tracking_no, done.position, done.value)

    def _seal(self, tracking_no: str, text: str | None) -> str | None:
        return self.service.personal.seal_text(parcel_id(tracking_no), text)

    def _step(self, tracking_no: str, ref: str, step: str,
              act: Callable[[Parcel, ExceptionRecord, datetime], object]) -> Step:
        now = self.service.clock()

        def run(parcel: Parcel) -> str:
            record = parcel.find_exception(ref)
            act(parcel, record, now)
            return record.exception_id

        done = self.service.command(tracking_no, run)
        log.info(f"exception.{step}", tracking_no=tracking_no, exception_id=done.value)
        return Step(tracking_no, done.position, done.value)

    def acknowledge(self, tracking_no: str, ref: str, *, by: str) -> Step:
        """The first response: `by` is the exception's assignee from now on."""
        return self._step(tracking_no, ref, "acknowledged", lambda p, r, now: (
            p.acknowledge_exception(r.exception_id, by=by, recorded_at=now)))

    def hand_over(self, tracking_no: str, ref: str, *, by: str, to_agent: str | None = None,
                  to_team: str | None = None, note: str | None = None) -> Step:
        note = self._seal(tracking_no, note)
        return self._step(tracking_no, ref, "handed_over", lambda p, r, now: p.hand_over(
            r.exception_id, by=by, recorded_at=now, to_agent=to_agent, to_team=to_team,
            note=note))

    def contact(self, tracking_no: str, ref: str, channel: Channel, *, by: str,
                summary: str | None = None) -> Step:
        """A conversation with the customer; its summary is sealed (TextTooLong past
        the length kept)."""
        sealed = self._seal(tracking_no, summary)
        return self._step(tracking_no, ref, "customer_contacted", lambda p, r, now: (
            p.record_contact(r.exception_id, channel, summary_sealed=sealed, by=by,
                             recorded_at=now)))

    def escalate(self, tracking_no: str, ref: str, *, by: str, reason: str,
                 to: str | None = None, assignee: str | None = None,
                 by_supervisor: bool = False) -> Step:
        """One level up, to `to` (default: the policy's escalation team); with
        `assignee`, the exception passes to them (a supervisor's act, or the current
        assignee's: `by_supervisor` says the caller checked `by`'s role)."""
        target = to or self.service.policy.escalation_team
        reason = self._seal(tracking_no, reason) or reason
        return self._step(tracking_no, ref, "escalated", lambda p, r, now: p.escalate(
            r.exception_id, to=target, reason=reason, by=by, recorded_at=now,
            assignee=assignee, by_supervisor=by_supervisor))

    def resolve(self, tracking_no: str, ref: str, outcome: Outcome, *, by: str,
                note: str | None = None) -> Step:
        note = self._seal(tracking_no, note)
        return self._step(tracking_no, ref, "resolved", lambda p, r, now: p.resolve_exception(
            r.exception_id, outcome, by=by, recorded_at=now, note=note))

    def reopen(self, tracking_no: str, ref: str, *, by: str, reason: str) -> Step:
        reason = self._seal(tracking_no, reason) or reason
        return self._step(tracking_no, ref, "reopened", lambda p, r, now: p.reopen_exception(
            r.exception_id, reason=reason, by=by, recorded_at=now))

    def await_answer(self, tracking_no: str, ref: str, waiting_on: ExceptionStatus, *,
                     by: str, reason: str | None = None) -> Step:
        """The next step is the customer's or a third party's: the clocks stand still."""
        reason = self._seal(tracking_no, reason)
        return self._step(tracking_no, ref, "awaiting", lambda p, r, now: p.await_answer(
            r.exception_id, waiting_on, by=by, recorded_at=now, reason=reason))

    def resume(self, tracking_no: str, ref: str, *, by: str, note: str | None = None) -> Step:
        """The answer came: the clocks run on from where they stood."""
        note = self._seal(tracking_no, note)
        return self._step(tracking_no, ref, "resumed", lambda p, r, now: p.resume(
            r.exception_id, by=by, recorded_at=now, note=note))

    def show(self, tracking_no: str, ref: str, *, reveal: bool = False) -> dict[str, Any]:
        """One exception as the parcel knows it now, with its clocks, breaches and
        contacts (what staff wrote sealed unless `reveal`)."""
        parcel = self.service.get(tracking_no)
        record = parcel.find_exception(ref)
        clocks = sla.clocks(record, parcel.customer_tier, self.service.policy)
        pid = parcel_id(tracking_no)

        def opened(text: str | None) -> str | None:
            return self.service.personal.open_text(pid, text, reveal=reveal)

        return {
            "exception_id": record.exception_id, "tracking_no": parcel.tracking_no,
            "code": str(record.code), "severity": str(record.severity),
            "status": str(record.status), "team": record.team,
            "assignee": record.assignee, "detail": opened(record.detail),
            "raised_at": record.raised_at.isoformat(), "raised_by": record.raised_by,
            "first_response_due": clocks.first_response_due.isoformat()
            if clocks.first_response_due else None,
            "resolution_due": clocks.resolution_due.isoformat()
            if clocks.resolution_due else None,
            "clock_basis": str(clocks.basis), "calendar": clocks.calendar,
            "waiting_since": record.waiting_since.isoformat() if record.waiting_since else None,
            "waits": [{"on": str(w.on), "since": w.since.isoformat(), "by": w.by,
                       "until": w.until.isoformat() if w.until else None}
                      for w in record.waits],
            "escalation_level": record.escalation_level, "escalated_to": record.escalated_to,
            "breaches": [{"clock": str(b.clock), "due": b.due.isoformat(),
                          "at": b.at.isoformat()} for b in record.breaches],
            "contacts": [{"at": c.at.isoformat(), "by": c.by, "channel": str(c.channel),
                          "summary": opened(c.summary_sealed)}
                         for c in record.contacts],
            "outcome": str(record.outcome) if record.outcome else None,
            "note": opened(record.note),
            "condition_ended": record.condition_ended,
            "condition_ended_at": record.condition_ended_at.isoformat()
            if record.condition_ended_at else None,
            "complaints": list(record.complaint_ids), "claims": list(record.claim_ids),
        }
