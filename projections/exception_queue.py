"""The exception queue: one row per exception, what customer-service staff work through.

Ordered by priority (severity, and a large account ahead of others at equal severity),
then by the next due time: the first response while nobody has answered, the
resolution after that. Whether an open exception is overdue depends on the clock, so
it is decided when the queue is read, not stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from parcelflow.domain.parcel import SYSTEM, ExceptionRecord, Parcel
from parcelflow.domain.policy import Policy
from parcelflow.domain.timeline import ParcelState
from parcelflow.domain.vocabulary import SEVERITY_RANK, CustomerTier, ExceptionStatus
from parcelflow.projections.base import ParcelProjection, Replica, ViewStore
from parcelflow.projections.tracking_view import utc

COLUMNS = (
    "exception_id", "tracking_no", "parcel_id", "code", "severity", "owner", "customer_facing",
    "customer_tier", "priority", "status", "auto", "detail", "facility", "occurred_at",
    "raised_at", "raised_by", "first_response_due", "resolution_due", "next_due",
    "acknowledged_at", "acknowledged_by", "assignee", "resolved_at", "resolved_by", "outcome",
    "note", "first_response_met", "resolution_met",
)


class ExceptionQueueStore(ViewStore):
    name = "exceptions"
    tables = ("exception_queue",)
    create_statements = (
        "CREATE TABLE IF NOT EXISTS exception_queue ("
        "exception_id TEXT PRIMARY KEY, tracking_no TEXT NOT NULL, parcel_id TEXT NOT NULL, "
        "code TEXT NOT NULL, severity TEXT NOT NULL, owner TEXT NOT NULL, "
        "customer_facing INTEGER NOT NULL, customer_tier TEXT NOT NULL, "
        "priority INTEGER NOT NULL, status TEXT NOT NULL, auto INTEGER NOT NULL, detail TEXT, "
        "facility TEXT, occurred_at TEXT NOT NULL, raised_at TEXT NOT NULL, raised_by TEXT, "
        "first_response_due TEXT, resolution_due TEXT NOT NULL, next_due TEXT, "
        "acknowledged_at TEXT, acknowledged_by TEXT, assignee TEXT, resolved_at TEXT, "
        "resolved_by TEXT, outcome TEXT, note TEXT, first_response_met INTEGER, "
        "resolution_met INTEGER)",
        "CREATE INDEX IF NOT EXISTS exception_queue_work "
        "ON exception_queue (status, priority, next_due)",
        "CREATE INDEX IF NOT EXISTS exception_queue_parcel ON exception_queue (tracking_no)",
    )

    def write_rows(self, rows: list[dict[str, Any]], tracking: Tracking | None) -> None:
        with self.writing(tracking) as c:
            self.upsert(c, "exception_queue", "exception_id", COLUMNS, rows)

    def open(self, *, overdue_at: datetime | None = None, code: str | None = None,
             owner: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Open exceptions in working order; only the overdue ones with `overdue_at`."""
        where, params = ["status <> 'resolved'"], []
        if overdue_at is not None:
            where.append("next_due < ?")
            params.append(utc(overdue_at))
        if code:
            where.append("code = ?")
            params.append(code)
        if owner:
            where.append("owner = ?")
            params.append(owner)
        params.append(limit)
        return self.query(
            f"SELECT * FROM exception_queue WHERE {' AND '.join(where)} "
            "ORDER BY priority DESC, next_due ASC, exception_id LIMIT ?", params)

    def for_parcel(self, tracking_no: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM exception_queue WHERE tracking_no = ? "
                          "ORDER BY raised_at, exception_id", [tracking_no])

    def all(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM exception_queue ORDER BY exception_id")


def facility_at(state: ParcelState, moment: datetime) -> str | None:
    """Where the parcel was last scanned at `moment` (where the problem arose)."""
    place = None
    for entry in state.physical:
        if entry.occurred_at > moment:
            break
        place = entry.scan.facility if entry.scan else place
    return place


def _met(done: datetime | None, due: datetime | None) -> int | None:
    if done is None or due is None:
        return None
    return int(done <= due)


def _handled_by_people(record: ExceptionRecord) -> bool:
    # One the system raised and closed itself (a late scan explained it) had nobody
    # waiting for an answer: it counts neither for nor against the SLA.
    return not (record.resolved_by == SYSTEM and record.acknowledged_at is None)


def render(parcel: Parcel, record: ExceptionRecord, policy: Policy) -> dict[str, Any]:
    tier = parcel.manifest.customer_tier if parcel.manifest else CustomerTier.STANDARD
    first_due, resolution_due = policy.due(
        code=record.code, severity=record.severity, customer_facing=record.customer_facing,
        tier=tier, raised_at=record.raised_at,
    )
    answered = record.acknowledged_at or record.resolved_at
    next_due = None if not record.is_open else (
        first_due if first_due is not None and answered is None else resolution_due)
    return {
        "exception_id": record.exception_id,
        "tracking_no": parcel.tracking_no,
        "parcel_id": str(parcel.id),
        "code": str(record.code),
        "severity": str(record.severity),
        "owner": str(record.owner),
        "customer_facing": int(record.customer_facing),
        "customer_tier": str(tier),
        # Severity first; a large account ahead of others only at equal severity.
        "priority": SEVERITY_RANK[record.severity] * 2 + int(tier == CustomerTier.VIP),
        "status": str(record.status),
        "auto": int(record.auto),
        "detail": record.detail,
        "facility": facility_at(parcel.state, record.occurred_at),
        "occurred_at": utc(record.occurred_at),
        "raised_at": utc(record.raised_at),
        "raised_by": record.raised_by,
        "first_response_due": utc(first_due),
        "resolution_due": utc(resolution_due),
        "next_due": utc(next_due),
        "acknowledged_at": utc(record.acknowledged_at),
        "acknowledged_by": record.acknowledged_by,
        "assignee": record.acknowledged_by,
        "resolved_at": utc(record.resolved_at),
        "resolved_by": record.resolved_by,
        "outcome": str(record.outcome) if record.outcome else None,
        "note": record.note,
        "first_response_met": _met(answered, first_due) if _handled_by_people(record) else None,
        "resolution_met": _met(record.resolved_at, resolution_due)
        if record.status == ExceptionStatus.RESOLVED and _handled_by_people(record) else None,
    }


class ExceptionQueue(ParcelProjection):
    name = "exceptions"
    store = ExceptionQueueStore

    def __init__(self, view: ViewStore, replica: Replica):
        super().__init__(view, replica)
        self.policy = replica.service.policy

    def prepare(self, events: Any) -> list[dict[str, Any]]:
        touched = self.replica.apply(events)
        return [render(p, r, self.policy) for p in touched.values() for r in p.exceptions.values()]

    def commit(self, prepared: list[dict[str, Any]], tracking: Tracking) -> None:
        assert isinstance(self.view, ExceptionQueueStore)
        self.view.write_rows(prepared, tracking)
