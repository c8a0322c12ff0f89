"""Complaints, claims and follow-ups: one row each, for the complaints desk, the claims
report and the follow-up calls (each follow-up its own work item, on its own clock).

Only parcels with complaint or claim events concern this read model, so it applies
just their events to its replica (which loads the rest of a parcel from the store when
it needs it): a log of scans passes through it almost for free.

Money is stored as decimal text and summed as Decimal in Python, never as floats.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import Tracking

from parcelflow.application.personal_data import is_sealed
from parcelflow.domain.privacy import SEALED
from parcelflow.domain.followups import FollowUpRecord
from parcelflow.domain.satisfaction import Rating
from parcelflow.domain.records import ClaimRecord, ComplaintRecord
from parcelflow.domain.parcel import Parcel
from parcelflow.domain import sla
from parcelflow.domain.policy import ClockKind, Policy
from parcelflow.projections.base import ParcelProjection, ViewStore
from parcelflow.projections.tracking_view import utc

CASE_EVENTS = (
    Parcel.ComplaintFiled, Parcel.ComplaintClosed, Parcel.ClaimFiled, Parcel.ClaimAssessed,
    Parcel.ClaimApproved, Parcel.ClaimRejected, Parcel.ClaimPaid,
    Parcel.FollowUpDue, Parcel.FollowUpRecorded, Parcel.ComplaintReopened,
    Parcel.SatisfactionRated,
)
# What moves a complaint's clock: its exception waiting on the customer and resuming,
# handed to a team with another calendar, reopened. The parcels they touch are rendered
# again (their complaints' due times change; most such parcels have none).
CLOCK_EVENTS = (
    Parcel.ExceptionAwaiting, Parcel.ExceptionResumed, Parcel.ExceptionHandedOver,
    Parcel.ExceptionReopened,
)

COMPLAINT_COLUMNS = (
    "complaint_id", "tracking_no", "parcel_id", "exception_id", "channel", "category",
    "links", "reference", "filed_at", "filed_by", "due", "clock_basis", "calendar",
    "waiting_since", "status", "closed_at", "closed_by", "outcome", "customer_confirmed",
    "closing_reason",
)
CLAIM_COLUMNS = (
    "claim_id", "tracking_no", "parcel_id", "exception_id", "cause", "status", "claimed",
    "insured", "declared_value", "postage", "payable", "cap", "basis", "explanation",
    "approved", "paid", "evidence", "reference", "filed_at", "filed_by", "assessed_at",
    "decided_at", "decided_by", "rejection", "paid_at", "payment_ref",
)

FOLLOW_UP_COLUMNS = (
    "follow_up_id", "tracking_no", "parcel_id", "exception_id", "complaint_id", "code",
    "assignee", "level", "since", "due", "clock_basis", "calendar", "status", "attempts",
    "outcome", "last_step_at", "last_step_by", "closed_at",
)

RATING_COLUMNS = ("tracking_no", "occasion", "rating", "rated_at", "exception_id", "team",
                  "agent")


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class CasesStore(ViewStore):
    name = "cases"
    tables = ("complaints", "claims", "follow_ups", "ratings")
    json_columns = frozenset({"links", "evidence"})
    create_statements = (
        "CREATE TABLE IF NOT EXISTS complaints (complaint_id TEXT PRIMARY KEY, "
        "tracking_no TEXT NOT NULL, parcel_id TEXT NOT NULL, exception_id TEXT NOT NULL, "
        "channel TEXT NOT NULL, category TEXT NOT NULL, links TEXT NOT NULL, reference TEXT, "
        "filed_at TEXT NOT NULL, filed_by TEXT, due TEXT, clock_basis TEXT NOT NULL, "
        "calendar TEXT NOT NULL, waiting_since TEXT, status TEXT NOT NULL, "
        "closed_at TEXT, closed_by TEXT, outcome TEXT, customer_confirmed INTEGER, "
        "closing_reason TEXT)",
        "CREATE INDEX IF NOT EXISTS complaints_work ON complaints (status, due)",
        "CREATE INDEX IF NOT EXISTS complaints_parcel ON complaints (tracking_no)",
        "CREATE TABLE IF NOT EXISTS claims (claim_id TEXT PRIMARY KEY, tracking_no TEXT NOT NULL, "
        "parcel_id TEXT NOT NULL, exception_id TEXT NOT NULL, cause TEXT NOT NULL, "
        "status TEXT NOT NULL, claimed TEXT NOT NULL, insured INTEGER NOT NULL, "
        "declared_value TEXT NOT NULL, postage TEXT NOT NULL, payable TEXT, cap TEXT, "
        "basis TEXT, explanation TEXT, approved TEXT, paid TEXT, evidence TEXT NOT NULL, "
        "reference TEXT, filed_at TEXT NOT NULL, filed_by TEXT, assessed_at TEXT, "
        "decided_at TEXT, decided_by TEXT, rejection TEXT, paid_at TEXT, payment_ref TEXT)",
        "CREATE INDEX IF NOT EXISTS claims_filed ON claims (filed_at)",
        "CREATE INDEX IF NOT EXISTS claims_paid ON claims (paid_at)",
        "CREATE INDEX IF NOT EXISTS claims_parcel ON claims (tracking_no)",
        "CREATE TABLE IF NOT EXISTS follow_ups (follow_up_id TEXT PRIMARY KEY, "
        "tracking_no TEXT NOT NULL, parcel_id TEXT NOT NULL, exception_id TEXT, "
        "complaint_id TEXT, code TEXT NOT NULL, assignee TEXT, level TEXT NOT NULL, "
        "since TEXT NOT NULL, "
        "due TEXT NOT NULL, clock_basis TEXT NOT NULL, calendar TEXT NOT NULL, "
        "status TEXT NOT NULL, attempts INTEGER NOT NULL, outcome TEXT, last_step_at TEXT, "
        "last_step_by TEXT, closed_at TEXT)",
        "CREATE INDEX IF NOT EXISTS follow_ups_work ON follow_ups (status, due)",
        # The comment stays sealed in the store; the row has the rating and whose work it rates.
        "CREATE TABLE IF NOT EXISTS ratings (tracking_no TEXT NOT NULL, occasion TEXT NOT NULL, "
        "rating INTEGER NOT NULL, rated_at TEXT NOT NULL, exception_id TEXT, team TEXT, "
        "agent TEXT, PRIMARY KEY (tracking_no, occasion))",
    )

    def create_views(self) -> None:
        # Follow-ups written before issue 16's words reached them (the person was
        # `owner`), and complaints before their due time was read on their exception's
        # clock (calendar time only, no basis), are rebuilt from the log.
        self.rebuild_if_older("follow_ups", set(FOLLOW_UP_COLUMNS))
        self.rebuild_if_older("complaints", set(COMPLAINT_COLUMNS))
        super().create_views()

    def write_rows(self, complaints: list[dict[str, Any]], claims: list[dict[str, Any]],
                   tracking: Tracking | None,
                   follow_ups: list[dict[str, Any]] | None = None,
                   ratings: list[dict[str, Any]] | None = None) -> None:
        with self.writing(tracking) as c:
            self.upsert(c, "complaints", "complaint_id", COMPLAINT_COLUMNS, complaints)
            self.upsert(c, "claims", "claim_id", CLAIM_COLUMNS, claims)
            self.upsert(c, "follow_ups", "follow_up_id", FOLLOW_UP_COLUMNS, follow_ups or [])
            self.upsert(c, "ratings", "tracking_no, occasion", RATING_COLUMNS, ratings or [])

    def follow_ups(self, *, due_at: datetime | None = None, every: bool = False,
                   tracking_no: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Follow-ups still to make, the first due first (with `every`, done ones too);
        only those whose due time has come by `due_at` with it."""
        conditions = [] if due_at is None else [("due <= ?", utc(due_at))]
        return self._rows("follow_ups", "due, follow_up_id", limit, conditions,
                          status=None if every else "due", tracking_no=tracking_no)

    def _rows(self, table: str, order: str, limit: int,
              conditions: list[tuple[str, Any]], **equal: Any) -> list[dict[str, Any]]:
        where = [f"{column} = ?" for column, value in equal.items() if value]
        params = [value for value in equal.values() if value]
        for clause, value in conditions:
            where.append(clause)
            params.append(value)
        return self.rows(f"SELECT * FROM {table} WHERE {' AND '.join(where) or '1 = 1'} "
                         f"ORDER BY {order} LIMIT ?", [*params, limit])

    def complaints(self, *, status: str | None = None, overdue_at: datetime | None = None,
                   tracking_no: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Complaints, the first due first; only open ones past due with `overdue_at`."""
        overdue = [] if overdue_at is None else [("status = 'open' AND due < ?", utc(overdue_at))]
        return self._rows("complaints", "due, complaint_id", limit, overdue,
                          status=status, tracking_no=tracking_no)

    def complaint(self, complaint_id: str) -> dict[str, Any] | None:
        rows = self._rows("complaints", "complaint_id", 1, [],
                          complaint_id=complaint_id)
        return rows[0] if rows else None

    def claims(self, *, status: str | None = None, tracking_no: str | None = None,
               limit: int = 1000) -> list[dict[str, Any]]:
        return self._rows("claims", "filed_at, claim_id", limit, [],
                          status=status, tracking_no=tracking_no)

    def claim(self, claim_id: str) -> dict[str, Any] | None:
        rows = self._rows("claims", "claim_id", 1, [], claim_id=claim_id)
        return rows[0] if rows else None

    def report(self, start: datetime, end: datetime) -> dict[str, Any]:
        """Claims filed in [start, end): how many, how much, why, and where they stand;
        and the compensation actually paid out in the period."""
        filed = self.query("SELECT cause, status, claimed, payable, approved, paid "
                           "FROM claims WHERE filed_at >= ? AND filed_at < ?",
                           [utc(start), utc(end)])
        paid = self.query("SELECT paid FROM claims WHERE paid_at >= ? AND paid_at < ?",
                          [utc(start), utc(end)])

        def total(rows: Sequence[dict[str, Any]], column: str) -> Decimal:
            return sum((Decimal(r[column]) for r in rows if r[column] is not None), Decimal(0))

        causes: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in filed:
            causes[row["cause"]].append(row)
        return {
            "from": start.isoformat(), "to": end.isoformat(),
            "claims": len(filed),
            "amounts": {name: str(total(filed, column)) for name, column in (
                ("claimed", "claimed"), ("assessed_payable", "payable"),
                ("approved", "approved"), ("paid", "paid"))},
            "by_status": dict(sorted(Counter(r["status"] for r in filed).items())),
            "by_cause": {cause: {"claims": len(rows), "claimed": str(total(rows, "claimed")),
                                 "paid": str(total(rows, "paid"))}
                         for cause, rows in sorted(causes.items())},
            "paid_in_period": {"payments": len(paid), "amount": str(total(paid, "paid"))},
        }


def render_complaint(parcel: Parcel, complaint: ComplaintRecord,
                     policy: Policy) -> dict[str, Any]:
    # The customer's own words stay in the event store, sealed; the row never holds them.
    # The due time is the complaint's own exception's resolution clock, as the queue
    # reads it: business time where policy says, in its team's calendar, standing still
    # (no due time) while it waits on the customer.
    record = parcel.exceptions[complaint.exception_id]
    clock = sla.clocks(record, parcel.customer_tier, policy)
    waiting = record.waits[-1].since if record.waits and record.waits[-1].until is None \
        else None
    return {
        "complaint_id": complaint.complaint_id,
        "tracking_no": parcel.tracking_no,
        "parcel_id": str(parcel.id),
        "exception_id": complaint.exception_id,
        "channel": str(complaint.channel),
        "category": str(complaint.category),
        "links": orjson.dumps(list(complaint.links)).decode(),
        "reference": complaint.reference,
        "filed_at": utc(complaint.filed_at),
        "filed_by": complaint.filed_by,
        "due": utc(clock.resolution_due),
        "clock_basis": str(clock.basis),
        "calendar": clock.calendar,
        "waiting_since": utc(waiting),
        "status": str(complaint.status),
        "closed_at": utc(complaint.closed_at),
        "closed_by": complaint.closed_by,
        "outcome": str(complaint.outcome) if complaint.outcome else None,
        "customer_confirmed": None if complaint.customer_confirmed is None
        else int(complaint.customer_confirmed),
        "closing_reason": SEALED if is_sealed(complaint.closing_reason)
        else complaint.closing_reason,
    }


def render_follow_up(parcel: Parcel, follow_up: FollowUpRecord,
                     policy: Policy) -> dict[str, Any]:
    last = follow_up.steps[-1] if follow_up.steps else None
    calendar = policy.calendar_for(policy.follow_up_team)
    return {
        "follow_up_id": follow_up.follow_up_id,
        "tracking_no": parcel.tracking_no,
        "parcel_id": str(parcel.id),
        "exception_id": follow_up.exception_id,
        "complaint_id": follow_up.complaint_id,
        # What it is about: the exception's code, or the rating of a delivery.
        "code": str(parcel.exceptions[follow_up.exception_id].code)
        if follow_up.exception_id else "low_rating",
        "assignee": follow_up.assignee,
        "level": str(follow_up.level),
        "since": utc(follow_up.since),
        "due": utc(follow_up.due(policy)),
        "clock_basis": str(policy.basis[ClockKind.FOLLOW_UP]),
        "calendar": calendar.name,
        "status": str(follow_up.status),
        "attempts": follow_up.attempts,
        "outcome": str(follow_up.outcome) if follow_up.outcome else None,
        "last_step_at": utc(last.at) if last else None,
        "last_step_by": last.by if last else None,
        "closed_at": utc(follow_up.closed_at),
    }


def render_rating(parcel: Parcel, rating: Rating) -> dict[str, Any]:
    exc_id = rating.occasion.split(":", 1)[1] if ":" in rating.occasion else None
    record = parcel.exceptions.get(exc_id) if exc_id else None
    return {
        "tracking_no": parcel.tracking_no, "occasion": rating.occasion.split(":")[0],
        "rating": rating.rating, "rated_at": utc(rating.at), "exception_id": exc_id,
        # Whose work it rates: a resolution's team and agent; a delivery's nobody's here.
        "team": record.team if record else None,
        "agent": (record.resolved_by if record and not record.is_open else
                  record.assignee) if record else None,
    }


def render_claim(parcel: Parcel, claim: ClaimRecord) -> dict[str, Any]:
    manifest = parcel.manifest
    assert manifest is not None  # claims are filed only on manifested parcels
    assessment = claim.assessment
    return {
        "claim_id": claim.claim_id,
        "tracking_no": parcel.tracking_no,
        "parcel_id": str(parcel.id),
        "exception_id": claim.exception_id,
        "cause": str(claim.cause),
        "status": str(claim.status),
        "claimed": _money(claim.claimed),
        "insured": int(manifest.insured),
        "declared_value": _money(manifest.declared_value),
        "postage": _money(manifest.postage),
        "payable": _money(assessment.payable) if assessment else None,
        "cap": _money(assessment.cap) if assessment else None,
        "basis": assessment.basis if assessment else None,
        "explanation": assessment.explanation if assessment else None,
        "approved": _money(claim.approved),
        "paid": _money(claim.paid),
        # Evidence references may name people: sealed in the store, never in the row.
        "evidence": orjson.dumps([SEALED if is_sealed(e) else e for e in claim.evidence]).decode(),
        "reference": claim.reference,
        "filed_at": utc(claim.filed_at),
        "filed_by": claim.filed_by,
        "assessed_at": utc(claim.assessed_at),
        "decided_at": utc(claim.decided_at),
        "decided_by": claim.decided_by,
        "rejection": SEALED if is_sealed(claim.rejection) else claim.rejection,
        "paid_at": utc(claim.paid_at),
        "payment_ref": claim.payment_ref,
    }


class Cases(ParcelProjection):
    name = "cases"
    store = CasesStore

    def prepare(self, events: Any) -> tuple[list[dict[str, Any]], ...]:
        # Every event of the parcels with casework in this batch (a parcel's events must
        # reach its replica without gaps; one skipped in an earlier batch makes the
        # replica reload that parcel from the store).
        parcels = {e.originator_id for e in events if isinstance(e, CASE_EVENTS + CLOCK_EVENTS)}
        relevant = [e for e in events if e.originator_id in parcels]
        touched = self.replica.apply(relevant) if relevant else {}
        complaints = [render_complaint(p, c, self.service.policy)
                      for p in touched.values() for c in p.complaints.values()]
        claims = [render_claim(p, c) for p in touched.values() for c in p.claims.values()]
        follow_ups = [render_follow_up(p, f, self.service.policy)
                      for p in touched.values() for f in p.follow_ups.values()]
        ratings = [render_rating(p, r) for p in touched.values() for r in p.ratings.values()]
        return complaints, claims, follow_ups, ratings

    def commit(self, prepared: tuple[list[dict[str, Any]], ...], tracking: Tracking) -> None:
        assert isinstance(self.view, CasesStore)
        complaints, claims, follow_ups, ratings = prepared
        self.view.write_rows(complaints, claims, tracking, follow_ups, ratings)


__all__ = ["Cases", "CasesStore"]
