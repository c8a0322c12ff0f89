"""Follow-up calls (回访), as the service centre makes them: list what is due, record each
call's outcome. One service for the CLI, the API and the staff pages.

The follow-ups themselves are made due by the parcel when a customer-facing exception or
a complaint is resolved (`domain/followups.py`); the list is the cases read model's
`follow_ups` table, each row its own work item with its due time on the follow-up clock.
What the agent notes about a call may name the customer: sealed before it is stored,
never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from parcelflow.application.results import Step
from parcelflow.application.service import ParcelService
from parcelflow.domain.followups import FollowUpOutcome
from parcelflow.domain.ids import parcel_id
from parcelflow.domain.parcel import Parcel

log = structlog.get_logger(__name__)


@dataclass
class FollowUps:
    service: ParcelService

    def record(self, tracking_no: str, ref: str, outcome: FollowUpOutcome, *, by: str,
               note: str | None = None) -> Step:
        """One call's outcome; `not_satisfied` reopens the exception (and its complaint)
        to its assignee."""
        sealed = self.service.personal.seal_text(parcel_id(tracking_no), note)
        now = self.service.clock()
        attempts = self.service.policy.follow_up_attempts

        def run(parcel: Parcel) -> str:
            follow_up = parcel.find_follow_up(ref)
            parcel.record_follow_up(follow_up.follow_up_id, outcome, by=by, recorded_at=now,
                                    max_attempts=attempts, note_sealed=sealed)
            return follow_up.follow_up_id

        done = self.service.command(tracking_no, run)
        log.info("follow_up.recorded", tracking_no=tracking_no, follow_up_id=done.value,
                 outcome=str(outcome))
        return Step(tracking_no, done.position, done.value)

    def show(self, tracking_no: str, ref: str, *, reveal: bool = False) -> dict[str, Any]:
        """One follow-up as the parcel knows it now, every call with who and when (the
        notes sealed unless `reveal`)."""
        parcel = self.service.get(tracking_no)
        f = parcel.find_follow_up(ref)
        pid = parcel_id(tracking_no)
        policy = self.service.policy
        return {
            "follow_up_id": f.follow_up_id, "tracking_no": tracking_no,
            "exception_id": f.exception_id, "complaint_id": f.complaint_id,
            "assignee": f.assignee, "level": str(f.level), "since": f.since.isoformat(),
            "due": f.due(policy).isoformat(), "status": str(f.status),
            "attempts": f.attempts, "outcome": str(f.outcome) if f.outcome else None,
            "closed_at": f.closed_at.isoformat() if f.closed_at else None,
            "steps": [{"at": s.at.isoformat(), "by": s.by, "outcome": str(s.outcome),
                       "note": self.service.personal.open_text(pid, s.note_sealed,
                                                               reveal=reveal)}
                      for s in f.steps],
        }
