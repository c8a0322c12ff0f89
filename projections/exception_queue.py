"""The exception queue: one row per exception, what customer-service staff work through.

Ordered by priority (severity, and a large account ahead of others at equal severity),
then by escalation level, then by the next due time: the first response while nobody
has answered, the resolution after that. Whether an open exception is overdue depends
on the clock, so it is decided when the queue is read, not stored; a breach is stored
once the detector has recorded it on the parcel.

Due times are read on the clock policy gives each (calendar or business time, in the
calendar of the team that must act); while an exception waits on the customer or a third party its
clocks stand still: no due time, so it is never overdue (`waiting_since` says since when).

Each row says which team must act (`team`: the rule's team, or the team it was handed
to) and who has it (`assignee`: the person who took it, first-contact responsibility),
its clocks and breaches, its escalation, the customer contacts, the complaints and
claims that stand on it, and what ended its condition while someone had it (a stalled
parcel scanned again: `condition_ended`, `condition_ended_at`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import Tracking

from parcelflow.domain import sla
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.parcel_core import SYSTEM
from parcelflow.domain.records import ExceptionRecord
from parcelflow.domain.policy import Policy
from parcelflow.domain.timeline import ParcelState
from parcelflow.application.personal_data import is_sealed
from parcelflow.domain.privacy import SEALED
from parcelflow.domain.vocabulary import (
    EXCEPTION_RULES,
    SEVERITY_RANK,
    CustomerTier,
    ExceptionStatus,
    SlaClock,
)
from parcelflow.projections.base import ParcelProjection, ViewStore
from parcelflow.projections.tracking_view import utc

RESOLVED = str(ExceptionStatus.RESOLVED)

COLUMNS = (
    "exception_id", "tracking_no", "parcel_id", "code", "severity", "team", "customer_facing",
    "customer_tier", "priority", "status", "auto", "detail", "facility", "occurred_at",
    "raised_at", "raised_by", "first_response_due", "resolution_due", "next_due",
    "acknowledged_at", "acknowledged_by", "assignee", "resolved_at", "resolved_by", "outcome",
    "note", "first_response_met", "resolution_met",
    "occurrence", "handovers", "contacts", "last_contact_at", "last_contact_channel",
    "escalation_level", "escalated_to", "escalated_at", "first_response_breached_at",
    "resolution_breached_at", "reopened_at", "reopen_count", "complaints", "claims",
    "condition_ended", "condition_ended_at", "clock_basis", "calendar", "waiting_since",
)


class ExceptionQueueStore(ViewStore):
    name = "exceptions"
    tables = ("exception_queue",)
    json_columns = frozenset({"complaints", "claims"})
    create_statements = (
        "CREATE TABLE IF NOT EXISTS exception_queue ("
        "exception_id TEXT PRIMARY KEY, tracking_no TEXT NOT NULL, parcel_id TEXT NOT NULL, "
        "code TEXT NOT NULL, severity TEXT NOT NULL, team TEXT NOT NULL, "
        "customer_facing INTEGER NOT NULL, customer_tier TEXT NOT NULL, "
        "priority INTEGER NOT NULL, status TEXT NOT NULL, auto INTEGER NOT NULL, detail TEXT, "
        "facility TEXT, occurred_at TEXT NOT NULL, raised_at TEXT NOT NULL, raised_by TEXT, "
        "first_response_due TEXT, resolution_due TEXT, next_due TEXT, "
        "acknowledged_at TEXT, acknowledged_by TEXT, assignee TEXT, resolved_at TEXT, "
        "resolved_by TEXT, outcome TEXT, note TEXT, first_response_met INTEGER, "
        "resolution_met INTEGER, occurrence TEXT NOT NULL, handovers INTEGER NOT NULL, "
        "contacts INTEGER NOT NULL, last_contact_at TEXT, last_contact_channel TEXT, "
        "escalation_level INTEGER NOT NULL, escalated_to TEXT, escalated_at TEXT, "
        "first_response_breached_at TEXT, resolution_breached_at TEXT, reopened_at TEXT, "
        "reopen_count INTEGER NOT NULL, complaints TEXT NOT NULL, claims TEXT NOT NULL, "
        "condition_ended TEXT, condition_ended_at TEXT, "
        "clock_basis TEXT NOT NULL, calendar TEXT NOT NULL, waiting_since TEXT)",
        "CREATE INDEX IF NOT EXISTS exception_queue_work "
        "ON exception_queue (status, priority, next_due)",
        "CREATE INDEX IF NOT EXISTS exception_queue_parcel ON exception_queue (tracking_no)",
    )

    def create_views(self) -> None:
        # A queue written by an older version (before issue 16 the team was called
        # `owner`; before issue 14 it had no clock basis, calendar or waiting_since) is
        # rebuilt from the log.
        self.rebuild_if_older("exception_queue", set(COLUMNS))
        super().create_views()

    def write_rows(self, rows: list[dict[str, Any]], tracking: Tracking | None) -> None:
        with self.writing(tracking) as c:
            self.upsert(c, "exception_queue", "exception_id", COLUMNS, rows)

    def open(self, *, overdue_at: datetime | None = None, code: str | None = None,
             team: str | None = None, assignee: str | None = None,
             breached: bool = False, escalated: bool = False,
             limit: int = 1000) -> list[dict[str, Any]]:
        """Open exceptions in working order; only the overdue ones with `overdue_at`,
        those with a recorded breach with `breached`, escalated ones with `escalated`."""
        where, params = ["status <> ?"], [RESOLVED]
        if overdue_at is not None:
            where.append("next_due < ?")
            params.append(utc(overdue_at))
        for column, value in (("code", code), ("team", team), ("assignee", assignee)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if breached:
            where.append("(first_response_breached_at IS NOT NULL "
                         "OR resolution_breached_at IS NOT NULL)")
        if escalated:
            where.append("escalation_level > 0")
        params.append(limit)
        return self.rows(
            f"SELECT * FROM exception_queue WHERE {' AND '.join(where)} "
            "ORDER BY priority DESC, escalation_level DESC, next_due ASC, exception_id LIMIT ?",
            params)

    def open_by_code(self) -> dict[str, int]:
        """How many exceptions of each code are open."""
        return {r["code"]: int(r["n"]) for r in self.query(
            "SELECT code, COUNT(*) AS n FROM exception_queue WHERE status <> ? GROUP BY code",
            [RESOLVED])}

    def for_parcel(self, tracking_no: str) -> list[dict[str, Any]]:
        return self.rows(
            "SELECT * FROM exception_queue WHERE tracking_no = ? "
            "ORDER BY raised_at, exception_id", [tracking_no])

    def get(self, exception_id: str) -> dict[str, Any] | None:
        rows = self.rows("SELECT * FROM exception_queue WHERE exception_id = ?", [exception_id])
        return rows[0] if rows else None

    def all(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM exception_queue ORDER BY exception_id")


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


def sla_met(record: ExceptionRecord, tier: CustomerTier,
            policy: Policy) -> tuple[int | None, int | None]:
    """(first response met, resolution met): 1, 0, or None while open or when nobody
    was waiting (raised and closed by the system)."""
    if not _handled_by_people(record):
        return None, None
    clocks = sla.clocks(record, tier, policy)
    resolved = record.status == ExceptionStatus.RESOLVED
    return (_met(sla.answered_at(record), clocks.first_response_due),
            _met(record.resolved_at, clocks.resolution_due) if resolved else None)


def render(parcel: Parcel, record: ExceptionRecord, policy: Policy) -> dict[str, Any]:
    tier = parcel.customer_tier
    clocks = sla.clocks(record, tier, policy)
    first_due, resolution_due = clocks.first_response_due, clocks.resolution_due
    answered = sla.answered_at(record)
    first_met, resolution_met = sla_met(record, tier, policy)
    last_contact = record.contacts[-1] if record.contacts else None
    next_due = None if not record.is_open else (
        first_due if first_due is not None and answered is None else resolution_due)
    return {
        "exception_id": record.exception_id,
        "tracking_no": parcel.tracking_no,
        "parcel_id": str(parcel.id),
        "code": str(record.code),
        "severity": str(record.severity),
        "team": record.team,
        "customer_facing": int(record.customer_facing),
        "customer_tier": str(tier),
        # Severity first; a large account ahead of others only at equal severity.
        "priority": SEVERITY_RANK[record.severity] * 2 + int(tier == CustomerTier.VIP),
        "status": str(record.status),
        "auto": int(record.auto),
        # What staff wrote stays sealed in the store; the row says what kind it is
        # (`exceptions show --reveal` opens it).
        "detail": f"{EXCEPTION_RULES[record.code].description} (details sealed)"
        if is_sealed(record.detail) else record.detail,
        "facility": facility_at(parcel.state, record.occurred_at),
        "occurred_at": utc(record.occurred_at),
        "raised_at": utc(record.raised_at),
        "raised_by": record.raised_by,
        "first_response_due": utc(first_due),
        "resolution_due": utc(resolution_due),
        "next_due": utc(next_due),
        "acknowledged_at": utc(record.acknowledged_at),
        "acknowledged_by": record.acknowledged_by,
        "assignee": record.assignee,
        "resolved_at": utc(record.resolved_at),
        "resolved_by": record.resolved_by,
        "outcome": str(record.outcome) if record.outcome else None,
        "note": SEALED if is_sealed(record.note) else record.note,
        "first_response_met": first_met,
        "resolution_met": resolution_met,
        "occurrence": record.occurrence,
        "handovers": record.handovers,
        "contacts": len(record.contacts),
        "last_contact_at": utc(last_contact.at) if last_contact else None,
        "last_contact_channel": str(last_contact.channel) if last_contact else None,
        "escalation_level": record.escalation_level,
        "escalated_to": record.escalated_to,
        "escalated_at": utc(record.escalated_at),
        "first_response_breached_at": utc(
            record.breached_at(SlaClock.FIRST_RESPONSE, first_due)),
        "resolution_breached_at": utc(record.breached_at(SlaClock.RESOLUTION, resolution_due)),
        "reopened_at": utc(record.reopened_at),
        "reopen_count": record.reopen_count,
        "complaints": orjson.dumps(list(record.complaint_ids)).decode(),
        "claims": orjson.dumps(list(record.claim_ids)).decode(),
        "condition_ended": record.condition_ended,
        "condition_ended_at": utc(record.condition_ended_at),
        "clock_basis": str(clocks.basis),
        "calendar": clocks.calendar,
        "waiting_since": utc(record.waiting_since),
    }


class ExceptionQueue(ParcelProjection):
    name = "exceptions"
    store = ExceptionQueueStore

    def prepare(self, events: Any) -> list[dict[str, Any]]:
        touched = self.replica.apply(events)
        policy = self.service.policy
        return [render(p, r, policy) for p in touched.values() for r in p.exceptions.values()]

    def commit(self, prepared: list[dict[str, Any]], tracking: Tracking) -> None:
        assert isinstance(self.view, ExceptionQueueStore)
        self.view.write_rows(prepared, tracking)
