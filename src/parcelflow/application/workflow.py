"""The customer-service workflow: working exceptions and complaints, step by step.

Every step is an event on the parcel with who did it and when (the service's clock).
Exceptions, complaints and claims are named by id, a unique prefix of it, or — for
exceptions — by code ("the open `delayed` one"), so staff never copy UUIDs around.

Free text a customer or an agent gives (a complaint in the customer's own words, a
summary of a call) may hold personal data: it is sealed with the parcel's key before it
is stored, opened only on request, and never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from parcelflow.application.personal_data import ErasedError
from parcelflow.application.service import ParcelService
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.records import ExceptionRecord
from parcelflow.domain.privacy import ERASED, SEALED
from parcelflow.domain.vocabulary import Channel, ComplaintCategory, ExceptionCode, Outcome

log = structlog.get_logger(__name__)

MAX_TEXT = 4000  # characters of free text per complaint or contact summary


class TextTooLong(ValueError):
    pass


def seal_text(service: ParcelService, tracking_no: str, text: str | None) -> str | None:
    """Free text sealed with the parcel's key (None once its personal data was erased:
    nothing new can be kept for it)."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_TEXT:
        raise TextTooLong(f"the text is {len(text)} characters; at most {MAX_TEXT}")
    pid = parcel_id(tracking_no)
    try:
        return service.personal.sealer([pid]).seal(pid, {"text": text})
    except ErasedError:
        return None


def open_text(service: ParcelService, tracking_no: str, sealed: str | None,
              reveal: bool) -> str | None:
    if sealed is None:
        return None
    if not reveal:
        return SEALED
    pid = parcel_id(tracking_no)
    opened = service.personal.opener([pid]).open(pid, sealed, reveal=True)
    return opened.get("text") or ERASED


@dataclass
class ExceptionDesk:
    service: ParcelService

    def raise_exception(self, tracking_no: str, code: ExceptionCode, *, by: str,
                        detail: str = "") -> str:
        return self.service.raise_exception(tracking_no, code, by=by, detail=detail)

    def _step(self, tracking_no: str, ref: str, step: str, act: Any) -> str:
        now = self.service.clock()

        def run(parcel: Parcel) -> str:
            record = parcel.find_exception(ref)
            act(parcel, record, now)
            return record.exception_id

        exc_id = self.service.command(tracking_no, run)
        log.info(f"exception.{step}", tracking_no=tracking_no, exception_id=exc_id)
        return exc_id

    def acknowledge(self, tracking_no: str, ref: str, *, by: str) -> str:
        return self._step(tracking_no, ref, "acknowledged", lambda p, r, now: (
            p.acknowledge_exception(r.exception_id, by=by, recorded_at=now)))

    def hand_over(self, tracking_no: str, ref: str, *, by: str, to_agent: str | None = None,
                  to_team: str | None = None, note: str | None = None) -> str:
        return self._step(tracking_no, ref, "handed_over", lambda p, r, now: p.hand_over(
            r.exception_id, by=by, recorded_at=now, to_agent=to_agent, to_team=to_team,
            note=note))

    def contact(self, tracking_no: str, ref: str, channel: Channel, *, by: str,
                summary: str | None = None) -> str:
        sealed = seal_text(self.service, tracking_no, summary)
        return self._step(tracking_no, ref, "customer_contacted", lambda p, r, now: (
            p.record_contact(r.exception_id, channel, summary_sealed=sealed, by=by,
                             recorded_at=now)))

    def escalate(self, tracking_no: str, ref: str, *, by: str, reason: str,
                 to: str | None = None, new_owner: str | None = None) -> str:
        target = to or self.service.policy.escalation_team
        return self._step(tracking_no, ref, "escalated", lambda p, r, now: p.escalate(
            r.exception_id, to=target, reason=reason, by=by, recorded_at=now,
            new_owner=new_owner))

    def resolve(self, tracking_no: str, ref: str, outcome: Outcome, *, by: str,
                note: str | None = None) -> str:
        return self._step(tracking_no, ref, "resolved", lambda p, r, now: p.resolve_exception(
            r.exception_id, outcome, by=by, recorded_at=now, note=note))

    def reopen(self, tracking_no: str, ref: str, *, by: str, reason: str) -> str:
        return self._step(tracking_no, ref, "reopened", lambda p, r, now: p.reopen_exception(
            r.exception_id, reason=reason, by=by, recorded_at=now))

    def show(self, tracking_no: str, ref: str, *, reveal: bool = False) -> dict[str, Any]:
        """One exception as the parcel knows it now, with its contacts (summaries sealed
        unless `reveal`)."""
        parcel = self.service.get(tracking_no)
        record = parcel.find_exception(ref)
        return describe_exception(self.service, parcel, record, reveal=reveal)


def describe_exception(service: ParcelService, parcel: Parcel, record: ExceptionRecord, *,
                       reveal: bool) -> dict[str, Any]:
    from parcelflow.domain import sla

    clocks = sla.clocks(record, parcel.customer_tier, service.policy)
    return {
        "exception_id": record.exception_id, "tracking_no": parcel.tracking_no,
        "code": str(record.code), "severity": str(record.severity), "status": str(record.status),
        "must_act": record.acting_team, "assignee": record.assignee, "detail": record.detail,
        "raised_at": record.raised_at.isoformat(), "raised_by": record.raised_by,
        "first_response_due": clocks.first_response_due.isoformat()
        if clocks.first_response_due else None,
        "resolution_due": clocks.resolution_due.isoformat(),
        "escalation_level": record.escalation_level, "escalated_to": record.escalated_to,
        "breaches": [{"clock": str(b.clock), "due": b.due.isoformat(), "at": b.at.isoformat()}
                     for b in record.breaches],
        "contacts": [{"at": c.at.isoformat(), "by": c.by, "channel": str(c.channel),
                      "summary": open_text(service, parcel.tracking_no, c.summary_sealed, reveal)}
                     for c in record.contacts],
        "outcome": str(record.outcome) if record.outcome else None, "note": record.note,
        "complaints": list(record.complaint_ids), "claims": list(record.claim_ids),
    }


@dataclass
class ComplaintsDesk:
    service: ParcelService

    def file(self, tracking_no: str, category: ComplaintCategory, channel: Channel, *,
             words: str | None, by: str, links: list[str] | None = None,
             reference: str | None = None) -> str:
        """File a complaint in the customer's own words (sealed), linked to the given
        exceptions (ids, prefixes or codes) or to those its category is about."""
        sealed = seal_text(self.service, tracking_no, words)
        now = self.service.clock()

        def run(parcel: Parcel) -> str:
            ids = None if links is None else [parcel.find_exception(ref).exception_id
                                              for ref in links]
            return parcel.file_complaint(category, channel, words_sealed=sealed, by=by,
                                         recorded_at=now, links=ids, reference=reference)

        complaint_id = self.service.command(tracking_no, run)
        log.info("complaint.filed", tracking_no=tracking_no, complaint_id=complaint_id,
                 category=str(category), channel=str(channel))
        return complaint_id

    def close(self, tracking_no: str, ref: str, outcome: Outcome, *, by: str,
              customer_confirmed: bool = False, reason: str | None = None) -> str:
        now = self.service.clock()

        def run(parcel: Parcel) -> str:
            complaint = parcel.find_complaint(ref)
            parcel.close_complaint(complaint.complaint_id, outcome, by=by, recorded_at=now,
                                   customer_confirmed=customer_confirmed, reason=reason)
            return complaint.complaint_id

        complaint_id = self.service.command(tracking_no, run)
        log.info("complaint.closed", tracking_no=tracking_no, complaint_id=complaint_id,
                 outcome=str(outcome), customer_confirmed=customer_confirmed)
        return complaint_id

    def show(self, tracking_no: str, ref: str, *, reveal: bool = False) -> dict[str, Any]:
        parcel = self.service.get(tracking_no)
        c = parcel.find_complaint(ref)
        due = c.filed_at + self.service.policy.complaint_resolution
        return {
            "complaint_id": c.complaint_id, "tracking_no": tracking_no,
            "exception_id": c.exception_id, "channel": str(c.channel),
            "category": str(c.category),
            "words": open_text(self.service, tracking_no, c.words_sealed, reveal),
            "links": list(c.links), "reference": c.reference, "filed_at": c.filed_at.isoformat(),
            "filed_by": c.filed_by, "due": due.isoformat(), "status": str(c.status),
            "closed_at": c.closed_at.isoformat() if c.closed_at else None,
            "outcome": str(c.outcome) if c.outcome else None,
            "customer_confirmed": c.customer_confirmed, "closing_reason": c.closing_reason,
        }
